"""The window logic, alone: tumbling windows per device and category, named by their end
(docs/SPEC.md §4), fed one event at a time by job.py, which writes the rows they return.

event-time       windows by the device time `dt`. The watermark is per Kafka partition: the
                 slowest active partition's latest `dt` − out-of-orderness; a partition silent
                 for the idle timeout stops holding it back (PartitionClocks). A window is
                 emitted when the watermark passes its end; it is kept for the allowed lateness
                 after that, and a late event within it emits the window again at once (a late
                 firing, with the event counted); an event behind it is dropped as late.
processing-time  windows by the wall clock when the job reads an event; a window is emitted when
                 the clock passes its end.
Deduplication    by `id`: an id is remembered as long as a resend can still reach its window
                 (event time), or for the dedup horizon (processing time, where a resend gets a new
                 time of its own).

Ids                each cell also lists the ids it counted, where the job names them (--ids true).

Every window also notes, per partition, the offset of the first record it holds: job.py commits a
partition's offsets only up to the first record a window still holds (`held`), so that a job
started again after a crash reads every event of the windows it lost.
"""


def window_end(t, window_ms):
    """The end of the window holding time t: an event at 10:00:04 is in the window of 10:00:05."""
    return t - t % window_ms + window_ms


class Window:
    def __init__(self):
        self.cells = {}  # (device, category) -> [count, m1_sum, m2_sum, ids counted]
        self.fired = False
        self.first_offsets = {}  # partition -> offset of the first record this window holds


class Windows:
    def __init__(self, window_ms, allowed_lateness_ms, ids=False):
        self.window_ms = window_ms
        self.ids = ids
        self.lateness_ms = allowed_lateness_ms
        self.watermark = None
        self.open = {}  # window end -> Window, until the watermark passes end + allowed lateness
        self.seen = set()  # the ids counted, each until its time to be forgotten
        self.forget_at = {}  # that time -> the ids forgotten then
        self.late_dropped = 0
        self.duplicates_dropped = 0

    def add(self, t, event, remember_ms, partition, offset):
        """Counts `event` at time `t`; returns the rows to emit now: those of a late firing, if any."""
        end = window_end(t, self.window_ms)
        if self.watermark is not None and end + self.lateness_ms <= self.watermark:
            self.late_dropped += 1
            return []
        if event["id"] in self.seen:
            self.duplicates_dropped += 1
            return []
        self.seen.add(event["id"])
        until = max(end + self.lateness_ms, window_end(t + remember_ms, self.window_ms))
        self.forget_at.setdefault(until, []).append(event["id"])
        window = self.open.setdefault(end, Window())
        window.first_offsets.setdefault(partition, offset)
        cell = window.cells.setdefault((event["di"], event["c"]), [0, 0, 0.0, []])
        cell[0] += 1
        cell[1] += event["m1"]
        cell[2] += event["m2"]
        if self.ids:
            cell[3].append(event["id"])
        return [(end, event["di"], event["c"], *cell)] if window.fired else []

    def advance(self, watermark):
        """Moves the watermark forward (never back); returns the rows of the windows it passes, and
        forgets the windows and ids past their allowed lateness."""
        if self.watermark is not None and watermark <= self.watermark:
            return []
        self.watermark = watermark
        rows = []
        for end in sorted(self.open):
            window = self.open[end]
            if end > watermark:
                break
            if not window.fired:
                window.fired = True
                rows += [(end, device, category, *cell) for (device, category), cell in window.cells.items()]
            if end + self.lateness_ms <= watermark:
                del self.open[end]
        for until in [u for u in self.forget_at if u <= watermark]:
            self.seen.difference_update(self.forget_at.pop(until))
        return rows

    def held(self):
        """Per partition, the offset of the first record a window still holds."""
        first = {}
        for window in self.open.values():
            for partition, offset in window.first_offsets.items():
                first[partition] = min(offset, first.get(partition, offset))
        return first


class PartitionClocks:
    """The event-time watermark of a consumer reading several partitions: the slowest active
    partition's latest time − out-of-orderness. A partition silent for the idle timeout stops
    holding it back; a partition assigned but not heard from yet holds it until it speaks or idles."""

    def __init__(self, out_of_orderness_ms, idle_timeout_ms):
        self.bound_ms = out_of_orderness_ms
        self.idle_ms = idle_timeout_ms
        self.partitions = {}  # partition -> [latest time or None, when it last spoke]

    def assign(self, partitions, now, latest=None):
        """The partitions read from now on; `latest`: each one's latest time before a restart, if known."""
        self.partitions = {p: self.partitions.get(p, [(latest or {}).get(p), now]) for p in partitions}

    def observe(self, partition, t, now):
        clock = self.partitions.setdefault(partition, [None, now])
        clock[0] = t if clock[0] is None else max(clock[0], t)
        clock[1] = now

    def latest(self, partition):
        return self.partitions.get(partition, [None])[0]

    def watermark(self, now):
        """None while an active partition has not delivered anything yet."""
        active = [latest for latest, spoke in self.partitions.values() if now - spoke < self.idle_ms]
        if not active or None in active:
            return None
        return min(active) - self.bound_ms
