"""boontadata's windows in Bytewax: a few operators of a Dataflow. job.py gives
`windows` the stream of parsed events (dicts) and writes the rows it returns to
the results topic; it counts what the other streams carry.

Everything here is keyed by (device, category), `op.key_on` as Bytewax users
key a stream, and every keyed operator keeps its state per key:

dedup            the ids already counted, per key (a resend has its first
                 send's key, so it meets that state on the same worker): in
                 event time for as long as a window of the key may still take
                 it, in processing time for the dedup horizon of the wall clock.
event-time       `EventClock` on `dt`, waiting out-of-orderness + allowed
                 lateness (one number, as in Spark: a window is emitted once,
                 later). Its watermark is the key's own: the latest `dt` that key
                 has seen minus the wait, PLUS the wall-clock time since that
                 event came. Between a key's events it goes on with the system
                 clock, so an event that reaches its key more than the wait
                 later (on the wall clock) than the key's newest one did is
                 late, whatever its `dt` says; a window closes on a timer at its
                 end + the wait even when no later event of its key comes. Late
                 events leave on the operator's `late` stream.
processing-time  `SystemClock`: the wall clock when the batch holding the event
                 is processed; a window closes on a timer at its end.
"""

from datetime import datetime, timedelta, timezone
from typing import NamedTuple

import bytewax.operators as op
from bytewax.dataflow import Stream
from bytewax.operators.windowing import EventClock, SystemClock, TumblingWindower, fold_window

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class Windows(NamedTuple):
    rows: Stream  # one dict per window closed: window_end, di, c, count, m1_sum, m2_sum (and ids)
    late: Stream  # events that came after their key's watermark
    resends: Stream  # events whose id the key had counted already


def windows(events: Stream, mode, window_ms, out_of_orderness_ms, allowed_lateness_ms, dedup_horizon_ms, ids=False) -> Windows:
    keyed = op.key_on("by-device-category", events, lambda e: f"{e['di']}\x1f{e['c']}")

    if mode == "event-time":
        wait = timedelta(milliseconds=out_of_orderness_ms + allowed_lateness_ms)
        clock = EventClock(lambda e: EPOCH + timedelta(milliseconds=e["dt"]), wait_for_system_duration=wait)
        remember_ms = window_ms + wait // timedelta(milliseconds=1)

        def time_of(e):
            return e["dt"]
    else:
        clock = SystemClock()
        remember_ms = dedup_horizon_ms

        def time_of(_e):
            return datetime.now(timezone.utc).timestamp() * 1000

    def first_send(seen, e):
        """seen: id → time, of the ids this key counted within the horizon."""
        seen = seen or {}
        t = time_of(e)
        first = e["id"] not in seen
        if first:
            seen = {i: at for i, at in seen.items() if at >= t - remember_ms}
            seen[e["id"]] = t
        return seen, (e, first)

    checked = op.branch("first-sends", op.stateful_map("dedup", keyed, first_send), lambda kv: kv[1][1])
    first_sends = op.map_value("event", checked.trues, lambda pair: pair[0])

    def add(totals, e):
        totals[0] += 1
        totals[1] += e["m1"]
        totals[2] += e["m2"]
        if ids:
            totals[3].append(e["id"])
        return totals

    def merge(a, b):  # tumbling windows never merge; fold_window asks for it all the same
        return [a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3]]

    windower = TumblingWindower(length=timedelta(milliseconds=window_ms), align_to=EPOCH)
    out = fold_window("windows", first_sends, clock, windower, lambda: [0, 0, 0.0, []], add, merge)

    def row(key_window_totals):
        key, (window_id, (count, m1_sum, m2_sum, counted)) = key_window_totals
        di, c = key.split("\x1f")
        r = {"window_end": (window_id + 1) * window_ms, "di": di, "c": c, "count": count, "m1_sum": m1_sum, "m2_sum": m2_sum}
        if ids:
            r["ids"] = counted
        return r

    return Windows(op.map("row", out.down, row), out.late, checked.falses)
