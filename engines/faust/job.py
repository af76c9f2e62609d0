"""boontadata's Faust job (faust-streaming): one Faust app and worker for the job, an agent over the
events topic feeding the tables of windows.py, the rows of the windows Faust closes written to the
results topic (docs/SPEC.md §5).

- The app's id is the job's consumer group: Faust names its changelog topics after it.
- Exactly once, as Faust offers it: `processing_guarantee="exactly_once"`, a transactional producer
  per source partition that commits the offsets read with the table changes and rows written since.
  The tables live in RocksDB under --state-dir, and are recovered from their changelog topics.
- Records are read raw and parsed here: one that is not an event (not JSON, a field missing or of
  the wrong type) is counted as malformed and skipped.
- The cells table is of one partition: Faust closes a window once over all the partitions of a
  table (its last closed window), so that with one per source partition the windows of all but
  the first partition it looks at would never be emitted.
- Faust's log goes to stderr; stdout holds the protocol lines only. One job per process
  (serves_jobs = false): a Faust worker owns its event loop until it stops, on SIGTERM.
"""

import asyncio
import json
import logging
import os
import sys
from pathlib import Path

import faust
from aiokafka import AIOKafkaProducer

HERE = Path(__file__).resolve().parent
# engines/protocol.py of the boontadata checkout (the harness gives it as $BOONTADATA_HOME).
sys.path.insert(0, str(Path(os.environ.get("BOONTADATA_HOME", HERE.parent.parent)) / "engines"))
from protocol import Jobs, event_of, job_parser, now_ms, say_metrics, say_version  # noqa: E402
from windows import closed_already, closed_row, count, windowed_cells  # noqa: E402

ENGINE = os.environ.get("BOONTADATA_ENGINE", HERE.name)
REPORT_EVERY_S = 1.0



async def partitions_of(brokers, topic):
    """How many partitions `topic` has: Faust's tables must have as many as the topic they read."""
    producer = AIOKafkaProducer(bootstrap_servers=brokers)
    await producer.start()
    try:
        return len(await producer.partitions_for(topic))
    finally:
        await producer.stop()


def protocol(line):
    print(f"boontadata: {line}", flush=True)


class Job:
    def __init__(self, a, jobs, partitions):
        self.a, self.jobs = a, jobs
        self.consumed = self.malformed = self.duplicates_dropped = self.late_dropped = self.emitted = 0
        state = Path(a.state_dir or f"/tmp/boontadata-{ENGINE}-{a.group}")
        self.app = faust.App(
            a.group, broker=f"kafka://{a.brokers.replace(',', ';kafka://')}",
            store="rocksdb://", datadir=str(state), processing_guarantee="exactly_once",
            topic_partitions=partitions, web_enabled=False, consumer_auto_offset_reset="earliest",
            # How often Faust looks for windows to close: the row of a window comes up to this late.
            table_cleanup_interval=1.0,
            # A job started again after kill -9 gets its partitions once the killed one's session has
            # expired: 6 s (the broker's least), not Faust's 60.
            broker_session_timeout=6.0, broker_heartbeat_interval=1.0,
        )
        self.events = self.app.topic(a.events, value_serializer="raw", key_serializer="raw")
        self.results = self.app.topic(a.results, value_serializer="raw", key_serializer="raw")
        # Both tables are written through Faust's partitioner: a table written in its source partition's
        # place checks once that its changelog has as many partitions, and a changelog just created
        # is not in the consumer's metadata yet ("0 partitions": the agent crashes, again and again).
        self.seen = self.app.Table("seen-ids", default=bool, partitions=partitions, use_partitioner=True)
        self.cells = windowed_cells(self.app, a.mode, a.window_ms, a.out_of_orderness_ms + a.allowed_lateness_ms,
                                    self.on_window_close, partitions=1, use_partitioner=True)
        self.app.agent(self.events, name="windows")(self.process)
        self.app.task(self.watch)

    async def process(self, stream):
        async for value in stream:
            self.consumed += 1
            event = event_of(value)
            if event is None:
                self.malformed += 1
            elif not count(self.seen, self.cells, event, self.a.ids):
                self.duplicates_dropped += 1
            elif closed_already(self.cells):
                self.late_dropped += 1

    async def on_window_close(self, key, cell):
        end, device, category, n, m1_sum, m2_sum, ids = closed_row(key, cell, self.a.window_ms)
        row = {"engine": ENGINE, "mode": self.a.mode, "window_end": end, "di": device, "c": category, "count": n,
               "m1_sum": m1_sum, "m2_sum": m2_sum, "emitted_at": now_ms()}
        if self.a.ids:
            row["ids"] = ids
        await self.results.send(key=device.encode(), value=json.dumps(row).encode())
        self.emitted += 1

    async def watch(self):
        """Says `ready` once the worker reads its partitions, reports the metrics, and stops the
        worker when the harness ends the job."""
        ready = False
        while self.jobs.running():
            if not ready and self.app.consumer.assignment() and self.app.tables.recovery.completed.is_set():
                ready = True
                protocol("ready")
            self.report()
            await asyncio.sleep(REPORT_EVERY_S)
        await self.app.stop()

    def report(self):
        say_metrics([("consumed", self.consumed), ("malformed", self.malformed), ("duplicates_dropped", self.duplicates_dropped),
                     ("late_dropped", self.late_dropped), ("results_emitted", self.emitted)])

    def run(self):
        worker = faust.Worker(self.app, loglevel=logging.INFO, logfile=sys.stderr, redirect_stdouts=False)
        try:
            worker.execute_from_commandline()
        except SystemExit:
            pass
        self.report()
        # Faust has stopped (offsets committed, transactions ended), but its consumer thread may
        # outlive the closed event loop and keep the process alive.
        sys.stdout.flush()
        os._exit(0)


def main():
    p = job_parser(ENGINE, __doc__, modes=("event-time", "processing-time"))
    jobs = Jobs(p)
    for a in jobs:
        say_version(ENGINE, f"faust-streaming {faust.__version__}")
        partitions = asyncio.run(partitions_of(a.brokers, a.events))
        asyncio.set_event_loop(asyncio.new_event_loop())
        Job(a, jobs, partitions).run()


if __name__ == "__main__":
    main()
