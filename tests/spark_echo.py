"""A tiny Spark job for tests/spark_connector.rs: prints every record the
boontadata-kafka source delivers, as `record PARTITION OFFSET VALUE`, and
`batch ID` after each micro-batch. Usage: spark_echo.py BROKERS TOPIC CHECKPOINT"""

import os
import signal
import sys

from pyspark.sql import SparkSession

brokers, topic, checkpoint = sys.argv[1:]
spark = (SparkSession.builder.master("local[2]").config("spark.jars", os.environ["BOONTADATA_SPARK_JARS"])
         .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
         .config("spark.ui.enabled", "false").getOrCreate())
spark.sparkContext.setLogLevel("WARN")


def show(batch, batch_id):
    for r in batch.orderBy("partition", "offset").collect():
        print(f"record {r.partition} {r.offset} {r.value.decode()}")
    print(f"batch {batch_id}", flush=True)


query = (spark.readStream.format("boontadata-kafka").option("brokers", brokers).option("topic", topic).load()
         .writeStream.foreachBatch(show).option("checkpointLocation", checkpoint).start())
stopping = []
signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
while not stopping and query.isActive:
    query.awaitTermination(0.2)
query.stop()
spark.stop()
