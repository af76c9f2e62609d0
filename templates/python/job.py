"""A plain Python job on confluent-kafka: the idiom of a team writing its own consumer. The
window logic is windows.py's; this file reads the events topic, feeds it and writes its rows
(docs/SPEC.md §5), and speaks the harness's protocol with boontadata's engines/protocol.py.

- Reading: one consumer in the job's group, from the group's committed offsets, else the
  earliest. A record that is not an event (not JSON, a field missing or of the wrong type) is
  counted as malformed and skipped.
- Writing: one producer, each row keyed by its device, the engine's name in it (the folder's,
  which the harness gives as $BOONTADATA_ENGINE).
- Offsets: committed every second, after the rows written so far are flushed, and for each
  partition only up to the first record a window still holds, with the partition's latest event
  time (the commit's metadata). A job started again after a crash reads again every event of the
  windows it lost, with its watermark where it was: at least once (rows may be written twice,
  with the same values).
"""

import json
import os
import sys
import time
from pathlib import Path

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition, libversion, version

HERE = Path(__file__).resolve().parent
# engines/protocol.py of the boontadata checkout (the harness gives it as $BOONTADATA_HOME).
sys.path.insert(0, str(Path(os.environ.get("BOONTADATA_HOME", HERE.parent.parent)) / "engines"))
from protocol import Jobs, event_of, job_parser, now_ms, say_metrics, say_version  # noqa: E402
from windows import PartitionClocks, Windows  # noqa: E402

ENGINE = os.environ.get("BOONTADATA_ENGINE", HERE.name)
COMMIT_EVERY_S = 1.0




class Job:
    """One job: its consumer, producer, windows and counters."""

    def __init__(self, a):
        self.a = a
        self.windows = Windows(a.window_ms, a.allowed_lateness_ms, a.ids)
        self.clocks = PartitionClocks(a.out_of_orderness_ms, a.idle_timeout_ms)
        self.consumed = self.malformed = self.emitted = 0
        self.next_offsets = {}  # partition -> the offset after the last record read
        self.assigned = False
        self.failure = None
        self.producer = Producer({"bootstrap.servers": a.brokers, "linger.ms": 5})
        self.consumer = Consumer({
            "bootstrap.servers": a.brokers, "group.id": a.group, "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            # A job started again after a crash gets its partitions once the killed one's session has
            # expired: 6 s (the broker's least), not librdkafka's 45.
            "session.timeout.ms": 6000, "heartbeat.interval.ms": 1000,
        })
        self.consumer.subscribe([a.events], on_assign=self.on_assign)

    def on_assign(self, consumer, partitions):
        """The partitions given to this job, each one's clock where its last commit left it."""
        latest = {}
        for tp in consumer.committed(partitions, timeout=10):
            if tp.metadata:
                latest[tp.partition] = json.loads(tp.metadata)["latest"]
        self.clocks.assign([tp.partition for tp in partitions], now_ms(), latest)
        self.assigned = True

    def delivered(self, err, _msg):
        if err is not None:
            self.failure = err

    def write(self, rows):
        for end, device, category, count, m1_sum, m2_sum, ids in rows:
            row = {"engine": ENGINE, "mode": self.a.mode, "window_end": end, "di": device, "c": category,
                   "count": count, "m1_sum": m1_sum, "m2_sum": m2_sum, "emitted_at": now_ms()}
            if self.a.ids:
                row["ids"] = ids
            self.producer.produce(self.a.results, key=device, value=json.dumps(row), on_delivery=self.delivered)
            self.emitted += 1
        self.producer.poll(0)

    def step(self):
        """Reads what has come, feeds the windows, writes the rows due."""
        records = self.consumer.consume(num_messages=1000, timeout=0.05)
        now = now_ms()
        for r in records:
            if r.error():
                if r.error().code() != KafkaError._PARTITION_EOF:
                    print(f"{ENGINE}: {r.error()}", file=sys.stderr)
                continue
            self.consumed += 1
            self.next_offsets[r.partition()] = r.offset() + 1
            e = event_of(r.value())
            if e is None:
                self.malformed += 1
                continue
            if self.a.mode == "event-time":
                t, remember = e["dt"], 0
            else:
                t, remember = now, self.a.dedup_horizon_ms
            self.write(self.windows.add(t, e, remember, r.partition(), r.offset()))
            self.clocks.observe(r.partition(), t, now)
        watermark = now if self.a.mode == "processing-time" else self.clocks.watermark(now)
        if watermark is not None:
            self.write(self.windows.advance(watermark))
        if self.failure is not None:
            raise RuntimeError(f"{ENGINE}: writing a row to {self.a.results} failed: {self.failure}")

    def commit(self):
        """Flushes the rows, then commits what the windows no longer need."""
        self.producer.flush()
        held = self.windows.held()
        offsets = [TopicPartition(self.a.events, p, held.get(p, after), metadata=json.dumps({"latest": self.clocks.latest(p)}))
                   for p, after in self.next_offsets.items()]
        if offsets:
            self.consumer.commit(offsets=offsets, asynchronous=False)

    def report(self):
        w = self.windows
        say_metrics([("consumed", self.consumed), ("malformed", self.malformed), ("late_dropped", w.late_dropped),
                     ("duplicates_dropped", w.duplicates_dropped), ("results_emitted", self.emitted)])

    def close(self):
        self.commit()
        self.consumer.close()
        self.report()


def main():
    p = job_parser(ENGINE, __doc__, modes=("event-time", "processing-time"))
    jobs = Jobs(p)
    for a in jobs:
        say_version(ENGINE, f"confluent-kafka {version()[0]} (librdkafka {libversion()[0]})")
        job = Job(a)
        ready, last = False, time.monotonic()
        while jobs.running():
            job.step()
            if not ready and job.assigned:
                ready = True
                print("boontadata: ready", flush=True)
            if time.monotonic() - last >= COMMIT_EVERY_S:
                job.commit()
                job.report()
                last = time.monotonic()
        job.close()


if __name__ == "__main__":
    main()
