"""boontadata's windows in Quix Streams: one StreamingDataFrame → StreamingDataFrame function.
job.py gives it the events topic's dataframe (keyed by device, its timestamps the mode's clock)
and writes the rows it returns to the results topic.

event-time       the topic's timestamp extractor reads `dt` (job.py). Quix has no watermark
                 object: a window closes when the latest timestamp seen passes its end + grace,
                 and grace = out-of-orderness + allowed lateness, so a window is emitted once,
                 final, when the contract's watermark has passed its end and its lateness.
                 "Seen" is per message key by default (`closing_strategy="key"`): a device's
                 windows close only on that device's own later events, so its last windows wait
                 for an event of its own that never comes (the end-of-stream flush has a key of
                 its own). `closing_strategy="partition"` closes them on any key of the partition.
ingestion-time   Quix's default clock: the Kafka record timestamp (the send time), same windows.
Per category     a dict per category inside the window's one value (the key stays the device):
                 a group_by would repartition through a topic of its own and close windows per
                 (device, category), later still.
Deduplication    Quix has none built in: a stateful filter remembers each id in the key's state,
                 which the checkpoint commits with the offsets and the rows.
"""

from quixstreams.dataframe import StreamingDataFrame
from quixstreams.state import State


def first_time_seen(event: dict, state: State) -> bool:
    """Keeps an event the first time its id comes; drops its resends."""
    if state.exists(event["id"]):
        return False
    state.set(event["id"], True)
    return True


def windows(events: StreamingDataFrame, window_ms, grace_ms, closing_strategy, ids, on_late) -> StreamingDataFrame:
    """events (id, di, dt, c, m1, m2) → one row per window, device and category: window_end, di,
    c, count, m1_sum, m2_sum, and with `ids` the ids counted. `on_late` is told of each event
    dropped because its window had closed."""

    def start(e):
        return add({}, e)

    def add(cells, e):
        cell = cells.setdefault(e["c"], {"count": 0, "m1_sum": 0, "m2_sum": 0.0})
        cell["count"] += 1
        cell["m1_sum"] += e["m1"]
        cell["m2_sum"] += e["m2"]
        if ids:
            cell.setdefault("ids", []).append(e["id"])
        return cells

    def rows(window, device, _timestamp, _headers):
        return [{"window_end": window["end"], "di": device, "c": c, **cell} for c, cell in window["value"].items()]

    counted = (events.filter(first_time_seen, stateful=True)
               .tumbling_window(duration_ms=window_ms, grace_ms=grace_ms, on_late=on_late)
               .reduce(reducer=add, initializer=start)
               .final(closing_strategy=closing_strategy))
    return counted.apply(rows, expand=True, metadata=True)
