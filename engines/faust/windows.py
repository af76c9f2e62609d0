"""The window logic alone, in Faust's idiom: a windowed Table per (device, category), a Table of the
ids seen, and the callback Faust calls as it forgets a window, which is where its users get the
window's final value (job.py writes the rows it returns; the agent, Kafka and the protocol are there).

event-time       windows by the device time `dt` (`relative_to` the event's field).
processing-time  windows by the wall clock when the agent reads the event (`relative_to` time.time():
                 Faust's own `relative_to_now()` takes the table's latest window end for "now", and
                 so never leaves the first window, at the epoch).
Closing          by the wall clock, not a watermark, in both modes: every `table_cleanup_interval`
                 Faust forgets the windows whose end is more than `expires` (out-of-orderness +
                 allowed lateness) behind time.time(), and calls on_window_close once per key, if the
                 window starts after the last one it closed (one clock over everything it reads). An
                 event whose window is closed already, late or read late, is added to the table and
                 forgotten at the next cleanup, never emitted: dropped as late.
Deduplication    a Table keyed by id, kept for the whole job (Faust tables have no expiry of their own).
Ids              each cell also lists the ids it counted (--ids true).
"""

import json
import time


def cell_key(event):
    return f"{event['di']}\t{event['c']}"


def event_time(event):
    """Seconds of device time of the record Faust is processing (its value is the raw JSON)."""
    return json.loads(event.value)["dt"] / 1000


def wall_clock(event):
    """Seconds of the wall clock when the agent read the event, once per event: Faust asks for the
    window again to write the cell it has just read, and a window's end passing between the two
    moved a whole cell into the next window, counted twice (seen once in a conformance run)."""
    if not hasattr(event, "read_at"):
        event.read_at = time.time()
    return event.read_at


def windowed_cells(app, mode, window_ms, expires_ms, on_window_close, **table_options):
    cells = app.Table("cells", default=list, on_window_close=on_window_close, **table_options)
    windowed = cells.tumbling(window_ms / 1000, expires=expires_ms / 1000)
    return windowed.relative_to(event_time if mode == "event-time" else wall_clock)


def closed_already(cells):
    """Whether the window of the event Faust is processing was closed before it came: it is dropped."""
    return cells.table.window.current(cells.get_timestamp())[0] <= cells.table.last_closed_window


def count(seen, cells, event, ids):
    """Counts `event` in its window unless its id was seen; returns whether it counted."""
    if seen[event["id"]]:
        return False
    seen[event["id"]] = True
    key = cell_key(event)
    n, m1_sum, m2_sum, counted = cells[key].value() or (0, 0, 0.0, [])
    cells[key] = [n + 1, m1_sum + event["m1"], m2_sum + event["m2"], counted + [event["id"]] if ids else []]
    return True


def closed_row(key, cell, window_ms):
    """The row of a closed window's cell: (window end in ms, device, category, count, m1_sum, m2_sum, ids).
    Faust names a window by its range, (start, start + size - 0.1) in seconds."""
    device_category, (start, _) = key
    device, category = device_category.split("\t")
    n, m1_sum, m2_sum, counted = cell
    return round(start * 1000) + window_ms, device, category, n, m1_sum, m2_sum, counted
