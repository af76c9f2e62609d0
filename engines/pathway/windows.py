"""boontadata's windows in Pathway: one Table → Table function. job.py reads the
events topic into `events` and writes what this returns to the results topic.

event-time      windows by the device time `dt`. Pathway has no watermark per
                partition: a temporal operator's clock is the greatest time it
                has seen, over everything it reads (updated once per minibatch).
                exactly_once_behavior(shift) emits each window once, when that
                clock reaches its end + shift, and ignores what comes for it
                afterwards: shift = out-of-orderness + allowed lateness, so late
                events within the lateness still count, paid for in latency, as
                no window is emitted twice.
ingestion-time  the same windows on the record's Kafka timestamp (job.py's `t`).
Resends are dropped by `id` with Table.deduplicate: the first send of an id is
kept, every later one refused by the acceptor, for as long as the job runs.
"""

import pathway as pw


def windows(events: pw.Table, window_ms, out_of_orderness_ms, allowed_lateness_ms) -> pw.Table:
    """events (event_id, di, c, t, m1, m2) → one row per window, device and category:
    (window_end in epoch ms, di, c, count, m1_sum, m2_sum, ids), ids the ids counted."""
    first_sends = events.deduplicate(value=pw.this.t, instance=pw.this.event_id, acceptor=lambda new, first: False, name="first-sends")
    return first_sends.windowby(
        pw.this.t,
        window=pw.temporal.tumbling(duration=window_ms),
        instance=pw.make_tuple(pw.this.di, pw.this.c),
        behavior=pw.temporal.exactly_once_behavior(shift=out_of_orderness_ms + allowed_lateness_ms),
    ).reduce(
        window_end=pw.this._pw_window_end,
        di=pw.reducers.any(pw.this.di),
        c=pw.reducers.any(pw.this.c),
        count=pw.reducers.count(),
        m1_sum=pw.reducers.sum(pw.this.m1),
        m2_sum=pw.reducers.sum(pw.this.m2),
        ids=pw.reducers.tuple(pw.this.event_id),
    )
