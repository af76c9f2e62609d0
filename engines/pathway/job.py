"""boontadata's Pathway job: the events topic in, the windows of windows.py (one
Table function, where Pathway's semantics are described), the results topic out
(docs/SPEC.md §5).

- Reading: Pathway's own Kafka connector (pw.io.kafka.read) in the job's consumer
  group, from its committed offsets, else the earliest, as bytes (its text format
  skips a record that is not UTF-8 unseen): each record is parsed by a UDF, so that
  one that is not an event (not JSON, a field missing or of the wrong type) is
  counted as malformed and skipped.
- Writing: Pathway's own Kafka writer (pw.io.kafka.write, JSON), each row keyed by its
  device. Pathway writes a table's changes; a window is emitted once and never
  retracted (windows.py), so every message is a final row.
- Recovery: Pathway's persistence in --state-dir (filesystem backend): the input read
  so far and the offsets are kept, and a job started again after a crash replays them
  into the same graph before reading on.
- One job per process: pw.run() runs the one graph the process has built, until the
  process ends (the harness stops it with SIGTERM).
"""

import logging
import os
import signal
import sys
import tempfile
from pathlib import Path

import pathway as pw

HERE = Path(__file__).resolve().parent
# engines/protocol.py of the boontadata checkout (the harness gives it as $BOONTADATA_HOME).
sys.path.insert(0, str(Path(os.environ.get("BOONTADATA_HOME", HERE.parent.parent)) / "engines"))
from protocol import event_of, job_parser, now_ms, say_metrics, say_version  # noqa: E402
from windows import windows  # noqa: E402

ENGINE = os.environ.get("BOONTADATA_ENGINE", HERE.name)
# How often the reader closes a minibatch: the rhythm at which time advances, and windows close.
MINIBATCH_MS = 100


@pw.udf(deterministic=True)
def parse(data: bytes | None) -> pw.Json | None:
    """The event a record holds (docs/SPEC.md §2), its m2 a float for Pathway's schema, or None when it is malformed."""
    e = event_of(data)
    return None if e is None else pw.Json({**e, "m2": float(e["m2"])})


@pw.udf(deterministic=False)
def wall_clock_ms(_row) -> int:
    """When the row leaves (not deterministic: Pathway keeps the value it gave a row)."""
    return now_ms()


class StartedSchema(pw.Schema):
    started: bool


class Started(pw.io.python.ConnectorSubject):
    def run(self):
        self.next(started=True)


def main():
    a = job_parser(ENGINE, __doc__, modes=("event-time", "ingestion-time")).parse_args()
    say_version(ENGINE, f"pathway {pw.__version__}")
    records = pw.io.kafka.read(
        {"bootstrap.servers": a.brokers, "group.id": a.group, "auto.offset.reset": "earliest",
         # A job started again after a crash gets its partitions once the killed one's session has expired.
         "session.timeout.ms": "6000"},
        topic=a.events, format="raw", with_metadata=True, autocommit_duration_ms=MINIBATCH_MS, name="events",
    )
    parsed = records.select(e=parse(pw.this.data), sent_at=pw.this._metadata["timestamp_millis"].as_int())
    counts = parsed.reduce(consumed=pw.reducers.count(), malformed=pw.reducers.sum(pw.if_else(pw.this.e.is_none(), 1, 0)))
    e = pw.this.e
    events = parsed.filter(e.is_not_none()).select(
        event_id=e["id"].as_str(unwrap=True), di=e["di"].as_str(unwrap=True), c=e["c"].as_str(unwrap=True),
        t=e["dt"].as_int(unwrap=True) if a.mode == "event-time" else pw.unwrap(pw.this.sent_at),
        m1=e["m1"].as_int(unwrap=True), m2=e["m2"].as_float(unwrap=True),
    )
    rows = windows(events, a.window_ms, a.out_of_orderness_ms, a.allowed_lateness_ms)
    ids = {"ids": pw.this.ids} if a.ids else {}
    rows = rows.select(engine=ENGINE, mode=a.mode, window_end=pw.this.window_end, di=pw.this.di, c=pw.this.c,
                       count=pw.this.count, m1_sum=pw.this.m1_sum, m2_sum=pw.this.m2_sum,
                       emitted_at=wall_clock_ms(pw.this.id), **ids)
    pw.io.kafka.write(rows, {"bootstrap.servers": a.brokers}, topic_name=a.results, format="json", key=pw.this.di, name="results")

    def report(key, row, time, is_addition):
        if is_addition:
            say_metrics([("consumed", row["consumed"]), ("malformed", row["malformed"])])

    pw.io.subscribe(counts, on_change=report)
    # Ready once the graph runs: a row of its own reaches the end of it (the Kafka reader starts beside it).
    pw.io.subscribe(pw.io.python.read(Started(), schema=StartedSchema), on_change=lambda **_: print("boontadata: ready", flush=True))
    say_metrics([("malformed", 0)])
    state_dir = a.state_dir or tempfile.mkdtemp(prefix=f"boontadata-{ENGINE}-")
    # Pathway logs every minibatch it persists at INFO (on stderr): its warnings and errors are what the log needs.
    logging.basicConfig(level=logging.WARNING, format="[%(asctime)s]:%(levelname)s:%(message)s")
    # The harness ends a job with SIGTERM once it has its rows. Pathway's own handler shuts the graph
    # down gracefully, which on a busy machine can outlast the harness's grace (10 s): end at once,
    # as kill -9 would, which its persistence is made for.
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    pw.run(monitoring_level=pw.MonitoringLevel.NONE, default_logging=False,
           persistence_config=pw.persistence.Config(pw.persistence.Backend.filesystem(state_dir)))


if __name__ == "__main__":
    main()
