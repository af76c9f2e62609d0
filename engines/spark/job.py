"""boontadata's Spark Structured Streaming job: the events topic in, the
windows of windows.py (one DataFrame function, where Spark's semantics are
described), the results topic out (docs/SPEC.md §5).

Kafka is read and written by Spark's own connector (`format("kafka")`, from
spark-sql-kafka-0-10: pom.xml), from the earliest offsets with the job's
consumer group; the query's checkpoint (offsets and state) is in --state-dir.
The harness's further jobs (engines/protocol.py) are further queries of the
same Spark session.
"""

import os
import statistics
import sys
import tempfile
import threading
from functools import reduce
from operator import and_
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQueryListener
from pyspark.sql.types import DoubleType, LongType, StringType, StructField, StructType

# engines/protocol.py, shared by the Python engines, in the checkout the harness gives (this folder may be a copy elsewhere).
sys.path.insert(0, str(Path(os.environ.get("BOONTADATA_HOME", Path(__file__).resolve().parent.parent.parent)) / "engines"))
from protocol import Jobs, job_parser, say_version  # noqa: E402
from windows import OUTPUT_MODE, windows  # noqa: E402

# The engine's name, its folder's: what its rows say.
ENGINE = os.environ.get("BOONTADATA_ENGINE", "spark")

EVENT = StructType([StructField("id", StringType()), StructField("di", StringType()), StructField("dt", LongType()),
                    StructField("c", StringType()), StructField("m1", LongType()), StructField("m2", DoubleType())])

p = job_parser(ENGINE, __doc__, modes=("event-time", "processing-time"))
p.add_argument("--master", default="local[*]")
p.add_argument("--parallelism", type=int,
               help="the state's partitions, each a task of every micro-batch, and a local master's threads (the harness's --instances); default: the master's cores")


def session(a):
    host = os.environ.get("SPARK_LOCAL_IP", "127.0.0.1")
    master = f"local[{a.parallelism}]" if a.parallelism and a.master == "local[*]" else a.master
    spark = (SparkSession.builder.appName(f"boontadata {a.mode}").master(master)
             .config("spark.jars", os.environ["BOONTADATA_SPARK_JARS"])
             .config("spark.driver.host", host).config("spark.driver.bindAddress", host)
             .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
             .getOrCreate())
    spark.sparkContext.setLogLevel("WARN")
    # Each state partition is a task in every micro-batch: as many as there are cores, not Spark's 200.
    spark.conf.set("spark.sql.shuffle.partitions", a.parallelism or spark.sparkContext.defaultParallelism)
    say_version(ENGINE, f"spark {spark.version}")
    return spark


def start(spark, a):
    """The job: the streaming query, started."""
    raw = (spark.readStream.format("kafka")
           .option("kafka.bootstrap.servers", a.brokers).option("subscribe", a.events)
           .option("kafka.group.id", a.group).option("startingOffsets", "earliest").load())
    parsed = raw.select(F.from_json(F.col("value").cast("string"), EVENT).alias("e"))
    is_event = reduce(and_, [F.col(f"e.{f.name}").isNotNull() for f in EVENT.fields])
    parsed = parsed.observe("input", F.count(F.lit(1)).alias("records"), F.count_if(~is_event).alias("malformed"))
    events = parsed.where(is_event).select("e.*")

    rows = windows(events, a.mode, a.window_ms, a.out_of_orderness_ms, a.allowed_lateness_ms, a.dedup_horizon_ms, a.ids)
    # current_timestamp() is when the batch started; emitted_at is when the row leaves.
    emitted_at = F.expr("cast(reflect('java.lang.System', 'currentTimeMillis') as bigint)")
    ids = ["ids"] if a.ids else []  # with --ids true, the ids of the events counted
    results = rows.select(F.col("di").alias("key"), F.to_json(F.struct(
        F.lit(ENGINE).alias("engine"), F.lit(a.mode).alias("mode"), "window_end",
        "di", "c", "count", "m1_sum", "m2_sum", *ids, emitted_at.alias("emitted_at"))).alias("value"))
    checkpoint = a.state_dir or os.path.join(tempfile.mkdtemp(prefix="boontadata-spark-"), a.mode)
    # A micro-batch every second, as Spark's guide sets triggers: without one, a query with no
    # new data asks Kafka for its offsets in a loop and takes most of a core doing it.
    return (results.writeStream.format("kafka").outputMode(OUTPUT_MODE[a.mode]).trigger(processingTime="1 second")
            .option("kafka.bootstrap.servers", a.brokers).option("topic", a.results)
            .option("checkpointLocation", checkpoint).start())


class Metrics(StreamingQueryListener):
    """Prints the protocol's metric lines after every micro-batch of the query it follows."""

    query_id = None

    def follow(self, query):
        self.query_id = str(query.id)
        self.records = self.malformed = self.late = self.duplicates = 0
        self.batch_ms = []
        self.first_batch = threading.Event()

    def onQueryProgress(self, event):
        progress = event.progress
        if str(progress.id) != self.query_id:  # the previous job's last words
            return
        observed = progress.observedMetrics.get("input")
        if observed is not None:
            self.records += observed["records"]
            self.malformed += observed["malformed"]
        self.late += sum(op.numRowsDroppedByWatermark for op in progress.stateOperators)
        self.duplicates += sum(op.customMetrics.get("numDroppedDuplicateRows", 0) for op in progress.stateOperators)
        self.batch_ms.append(progress.batchDuration)
        self.report()
        self.first_batch.set()

    def report(self):
        lines = [f"consumed {self.records}", f"malformed {self.malformed}", f"late_dropped {self.late}",
                 f"duplicates_dropped {self.duplicates}", f"batches {len(self.batch_ms)}"]
        if self.batch_ms:
            lines += [f"batch_ms_p50 {statistics.median(self.batch_ms):.0f}", f"batch_ms_max {max(self.batch_ms)}"]
        print("\n".join(f"boontadata: metric {line}" for line in lines), flush=True)

    def onQueryStarted(self, event):
        pass

    def onQueryTerminated(self, event):
        pass


spark = None
metrics = Metrics()
jobs = Jobs(p)
for a in jobs:
    if spark is None:
        spark = session(a)
        spark.streams.addListener(metrics)
    query = start(spark, a)
    metrics.follow(query)
    # Ready once the first micro-batch has run (even empty, it plans, compiles and opens the state stores,
    # which takes seconds): events sent before would all land in one late batch.
    while jobs.running() and query.isActive and not metrics.first_batch.wait(0.1):
        pass
    if query.isActive and jobs.running():
        print("boontadata: ready", flush=True)
    while jobs.running() and query.isActive:
        query.awaitTermination(0.5)
    failure = query.exception()
    query.stop()
    metrics.report()
    if failure is not None:
        sys.exit(f"{ENGINE} job failed: {failure}")
if spark is not None:
    spark.stop()
