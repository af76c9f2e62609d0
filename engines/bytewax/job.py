"""boontadata's Bytewax job: a Dataflow that reads the events topic with
Bytewax's Kafka connector, runs the windows of windows.py (where Bytewax's
semantics are described) and writes their rows to the results topic
(docs/SPEC.md §5), speaking the harness's protocol with engines/protocol.py.

- Reading: `KafkaSource`, one Bytewax input partition per Kafka partition, from
  the earliest offset. Bytewax keeps the offsets in its own recovery store, not
  in a consumer group (its consumers `assign`, they do not `subscribe`): --group
  is not used.
- Recovery: with --state-dir, a recovery database in it (`RecoveryConfig`,
  initialised once like `python -m bytewax.recovery DIR 1`) and a snapshot of
  every operator's state and every input offset at the end of each epoch
  (EPOCH). A job started again on the same folder resumes from the last
  snapshot: it reads again what came after it, and writes again the rows of
  that epoch (`KafkaSink` is at least once).
- Ending: `cli_main` runs the dataflow until its input ends. When the harness
  says `end`, the input partitions end (StopIteration), the windows still open
  close at the end of input, and the next job is a new Dataflow run in the same
  process.
"""

import json
import os
import sys
import threading
import time
from datetime import timedelta
from importlib.metadata import version
from pathlib import Path

import bytewax.operators as op
from bytewax.connectors.kafka import KafkaSink, KafkaSinkMessage, KafkaSource
from bytewax.dataflow import Dataflow
from bytewax.inputs import StatefulSourcePartition
from bytewax.recovery import RecoveryConfig, init_db_dir
from bytewax.run import cli_main

HERE = Path(__file__).resolve().parent
# engines/protocol.py of the boontadata checkout (the harness gives it as $BOONTADATA_HOME).
sys.path.insert(0, str(Path(os.environ.get("BOONTADATA_HOME", HERE.parent.parent)) / "engines"))
from protocol import Jobs, event_of, job_parser, now_ms, say_metrics, say_version  # noqa: E402
from windows import windows  # noqa: E402

ENGINE = os.environ.get("BOONTADATA_ENGINE", HERE.name)
# How often the state is snapshotted: what a job started again after a crash reads again.
EPOCH = timedelta(seconds=1)




class Counts:
    """What the job's metric lines say, counted by the input and the dataflow's `inspect` steps."""

    NAMES = ("consumed", "malformed", "late_dropped", "duplicates_dropped", "results_emitted")

    def __init__(self):
        self.values = dict.fromkeys(self.NAMES, 0)

    def counter(self, name):
        def count(_step, _item):
            self.values[name] += 1

        return count

    def report(self):
        say_metrics(self.values.items())


class _Stoppable(StatefulSourcePartition):
    """A Kafka input partition that ends when the job is told to end, and counts what it reads."""

    def __init__(self, partition, stop, reading, counts):
        self.partition, self.stop, self.reading, self.counts = partition, stop, reading, counts

    def next_batch(self):
        if self.stop.is_set():
            raise StopIteration()
        self.reading.set()
        batch = self.partition.next_batch()
        self.counts.values["consumed"] += len(batch)
        return batch

    def next_awake(self):
        return self.partition.next_awake()

    def snapshot(self):
        return self.partition.snapshot()

    def close(self):
        self.partition.close()


class StoppableKafkaSource(KafkaSource):
    def __init__(self, stop, reading, counts, **kwargs):
        super().__init__(**kwargs)
        self.stop, self.reading, self.counts = stop, reading, counts

    def build_part(self, step_id, for_part, resume_state):
        return _Stoppable(super().build_part(step_id, for_part, resume_state), self.stop, self.reading, self.counts)


def dataflow(a, counts, stop, reading):
    brokers = a.brokers.split(",")
    flow = Dataflow(f"boontadata-{a.mode}")
    messages = op.input("events", flow, StoppableKafkaSource(stop, reading, counts, brokers=brokers, topics=[a.events]))
    parsed = op.branch("well-formed", op.map("read", messages, lambda m: event_of(m.value)), lambda e: e is not None)
    op.inspect("malformed", parsed.falses, counts.counter("malformed"))

    w = windows(parsed.trues, a.mode, a.window_ms, a.out_of_orderness_ms, a.allowed_lateness_ms, a.dedup_horizon_ms, a.ids)
    op.inspect("late", w.late, counts.counter("late_dropped"))
    op.inspect("resends", w.resends, counts.counter("duplicates_dropped"))

    def record(row):
        row = {"engine": ENGINE, "mode": a.mode, **row, "emitted_at": now_ms()}
        return KafkaSinkMessage(row["di"].encode(), json.dumps(row).encode())

    records = op.map("record", w.rows, record)
    op.inspect("emitted", records, counts.counter("results_emitted"))
    op.output("results", records, KafkaSink(brokers, a.results))
    return flow


def recovery(state_dir):
    """Bytewax's recovery store in the job's state folder, made on the job's first start."""
    if state_dir is None:
        return None
    folder = Path(state_dir)
    folder.mkdir(parents=True, exist_ok=True)
    if not any(folder.iterdir()):
        init_db_dir(folder, 1)
    return RecoveryConfig(str(folder))


def main():
    jobs = Jobs(job_parser(ENGINE, __doc__, modes=("event-time", "processing-time")))
    for a in jobs:
        say_version(ENGINE, f"bytewax {version('bytewax')}")
        counts, stop, reading = Counts(), threading.Event(), threading.Event()

        def watch():
            """Says ready once the input reads, reports every second, and ends the input on `end`."""
            said_ready, last = False, time.monotonic()
            while not stop.is_set():
                if not jobs.running():
                    stop.set()
                if not said_ready and reading.wait(0.1):
                    print("boontadata: ready", flush=True)
                    said_ready = True
                time.sleep(0.1)
                if time.monotonic() - last >= 1:
                    counts.report()
                    last = time.monotonic()

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        try:
            cli_main(dataflow(a, counts, stop, reading), epoch_interval=EPOCH, recovery_config=recovery(a.state_dir))
        finally:
            stop.set()
            watcher.join()
        counts.report()


if __name__ == "__main__":
    main()
