"""boontadata's Quix Streams job: the events topic in, the windows of windows.py, the results
topic out (docs/SPEC.md §5), in one `Application` per job, as Quix users write it.

- Reading: the job's consumer group, from its committed offsets, else the earliest. Each value is
  read by Quix's JSONDeserializer against the event's JSON schema; a record that fails it (not
  JSON, a field missing or of the wrong type) is counted as malformed by the consumer error
  callback, which lets the application go on.
- Clocks: event time is a timestamp extractor on `dt`; ingestion time is Quix's default, the
  record timestamp.
- Guarantee: `processing_guarantee="exactly-once"`: the rows, the state's changelog and the input
  offsets go out in one Kafka transaction per checkpoint (every --commit-interval-s), and the
  state (RocksDB in --state-dir, backed by its changelog topic) is restored to the last one on a
  restart.
- Jobs: each job is a new Application, run on the main thread (it installs its signal handlers
  there); a watcher thread says `ready` once partitions are assigned, prints the metrics and stops
  the application when the harness ends the job.
"""

import os
import signal
import sys
import tempfile
import threading
from pathlib import Path

import quixstreams
from quixstreams import Application
from quixstreams.models.serializers import JSONDeserializer, SerializationError

HERE = Path(__file__).resolve().parent
# engines/protocol.py of the boontadata checkout (the harness gives it as $BOONTADATA_HOME).
sys.path.insert(0, str(Path(os.environ.get("BOONTADATA_HOME", HERE.parent.parent)) / "engines"))
from protocol import Jobs, job_parser, now_ms, say_metrics, say_version  # noqa: E402
from windows import windows  # noqa: E402

ENGINE = os.environ.get("BOONTADATA_ENGINE", HERE.name)

EVENT = {
    "type": "object",
    "required": ["id", "di", "dt", "c", "m1", "m2"],
    "properties": {"id": {"type": "string"}, "di": {"type": "string"}, "dt": {"type": "integer"},
                   "c": {"type": "string"}, "m1": {"type": "integer"}, "m2": {"type": "number"}},
}



class Counters:
    """What one job reports as metrics."""

    def __init__(self):
        self.malformed = self.late_dropped = self.emitted = 0

    def malformed_record(self, exc, _message, _logger):
        """The consumer error callback: a record that is not an event is counted and skipped;
        any other error stops the application."""
        if isinstance(exc, SerializationError):
            self.malformed += 1
            return True
        return False

    def late(self, *_):
        self.late_dropped += 1
        return False  # counted, not logged: Quix logs a warning per late event otherwise

    def report(self):
        say_metrics([("malformed", self.malformed), ("late_dropped", self.late_dropped), ("results_emitted", self.emitted)])


def build(a, counters):
    """The job's Application, its dataframe wired from the events topic to the results topic."""
    state_dir = a.state_dir or tempfile.mkdtemp(prefix=f"boontadata-{ENGINE}-")
    app = Application(
        broker_address=a.brokers, consumer_group=a.group, auto_offset_reset="earliest",
        processing_guarantee=a.guarantee, commit_interval=a.commit_interval_s, state_dir=state_dir,
        on_consumer_error=counters.malformed_record,
        # A job started again after a crash gets its partitions once the killed one's session has
        # expired: 6 s (the broker's least), not librdkafka's 45.
        consumer_extra_config={"session.timeout.ms": 6000, "heartbeat.interval.ms": 1000},
        # Quix draws a random transactional.id per start: the transaction a killed job left open
        # would hold every read_committed reader of the results topic for its timeout (60 s). Named
        # after the group, the restarted job fences it and aborts it at once (Kafka Streams' way).
        producer_extra_config={"transactional.id": f"{a.group}-{a.results}"} if a.guarantee == "exactly-once" else {},
    )

    def device_time(value, _headers, timestamp, _type):
        return value["dt"]

    events = app.topic(a.events, key_deserializer="str", value_deserializer=JSONDeserializer(schema=EVENT),
                       timestamp_extractor=device_time if a.mode == "event-time" else None)
    results = app.topic(a.results, key_serializer="str", value_serializer="json")
    grace_ms = a.out_of_orderness_ms + a.allowed_lateness_ms
    rows = windows(app.dataframe(events), a.window_ms, grace_ms, a.closing_strategy, a.ids, counters.late)

    def stamped(row):
        counters.emitted += 1
        return {"engine": ENGINE, "mode": a.mode, **row, "emitted_at": now_ms()}

    rows.apply(stamped).to_topic(results)
    return app


def watch(app, jobs, counters, stopped):
    """Says `ready` once the application holds its partitions, reports the metrics every second,
    and stops the application when the harness ends the job."""
    ready = False
    while jobs.running() and not stopped.is_set():
        # Quix offers no assignment callback: its consumer's own assignment tells, once the
        # application has made that consumer (made on first use: made here, it would be a second one).
        if not ready and app._consumer._inner_consumer is not None and app._consumer.assignment():
            print("boontadata: ready", flush=True)
            ready = True
        counters.report()
        stopped.wait(1.0)
    if not stopped.is_set():
        app.stop()


def main():
    p = job_parser(ENGINE, __doc__, modes=("event-time", "ingestion-time"))
    p.add_argument("--closing-strategy", choices=("key", "partition"), default="key",
                   help="what closes a window: a later event of its key (Quix's default), or of its partition")
    p.add_argument("--guarantee", choices=("exactly-once", "at-least-once"), default="exactly-once",
                   help="Quix's processing_guarantee")
    p.add_argument("--commit-interval-s", type=float, default=1.0, help="how often a checkpoint is committed")
    jobs = Jobs(p)
    for a in jobs:
        say_version(ENGINE, f"quixstreams {quixstreams.__version__}")
        counters = Counters()
        app = build(a, counters)
        stopped = threading.Event()
        watcher = threading.Thread(target=watch, args=(app, jobs, counters, stopped), daemon=True)
        watcher.start()
        handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            app.run()
        finally:
            stopped.set()
            watcher.join()
            for s, handler in handlers.items():
                signal.signal(s, handler)
        # Quix's own signal handlers stood in for the protocol's while it ran: a signal stopped it.
        if jobs.running():
            jobs.terminated.set()
        counters.report()


if __name__ == "__main__":
    main()
