"""boontadata's windows in Spark Structured Streaming: one DataFrame → DataFrame
function. job.py reads the events topic into `events` and writes what this
returns to the results topic, in the output mode OUTPUT_MODE names.

event-time       windows by the device time `dt`; watermark = latest dt seen −
                 (out-of-orderness + allowed lateness). Spark has one number
                 where other engines have two: a window is emitted once, when the
                 watermark passes its end (append mode), so allowed lateness is
                 paid for in latency instead of late re-emissions. Resends are
                 dropped by `id` while their event time is within the watermark.
processing-time  Spark has no processing-time windows: the window is on
                 current_timestamp(), which is the start time of the micro-batch
                 that reads an event, and every window is emitted each time a
                 batch updates it (update mode). An event joins the window of the
                 batch that reads it, and a window is final only when a batch has
                 started after its end. Resends are dropped by `id` for the dedup
                 horizon of processing time, as the native engine does.
"""

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

OUTPUT_MODE = {"event-time": "append", "processing-time": "update"}


def windows(events: DataFrame, mode, window_ms, out_of_orderness_ms, allowed_lateness_ms, dedup_horizon_ms, ids=False) -> DataFrame:
    """events (id, di, dt, c, m1, m2) → one row per window, device and category:
    (window_end in epoch ms, di, c, count, m1_sum, m2_sum), and with `ids` the ids
    of the events counted (after the dedup, one entry each)."""
    if mode == "event-time":
        timed = events.withColumn("t", F.timestamp_millis("dt")).withWatermark("t", f"{out_of_orderness_ms + allowed_lateness_ms} milliseconds")
    else:
        timed = events.withColumn("t", F.current_timestamp()).withWatermark("t", f"{dedup_horizon_ms} milliseconds")
    aggregates = {"count": F.count("*"), "m1_sum": F.sum("m1"), "m2_sum": F.sum("m2")}
    if ids:  # the ids of the events counted, beside the sums
        aggregates["ids"] = F.collect_list("id")
    return (timed.dropDuplicatesWithinWatermark(["id"])
            .groupBy(F.window("t", f"{window_ms} milliseconds"), "di", "c")
            .agg(*[f.alias(name) for name, f in aggregates.items()])
            .select(F.unix_millis("window.end").alias("window_end"), "di", "c", *aggregates))
