"""The engine side of the harness protocol (src/engine/protocol.rs), for engines written in Python.

    engine = os.environ.get("BOONTADATA_ENGINE", "flink")  # its name, its folder's, as the harness gives it
    parser = job_parser(engine, __doc__)   # the job flags of the contract, with its defaults
    parser.add_argument(...)               # the engine's own
    jobs = Jobs(parser)
    for args in jobs:          # the command line's job, then the job of each line on stdin
        ...start the job, say_version(engine, "flink 2.0.0")...
        while jobs.running():  # until the harness says `end`, or SIGTERM
            ...report metrics...
        ...stop the job, report its last metrics...

Between two jobs it prints `boontadata: ended`. SIGTERM or SIGINT ends the
current job and the loop; stdin closing between jobs ends the loop.
"""

import argparse
import json
import queue
import signal
import sys
import threading
import time


class _JobParser(argparse.ArgumentParser):
    """Gives `--group` the contract's default, which names the engine and the mode."""

    def __init__(self, engine, **kwargs):
        super().__init__(**kwargs)
        self.engine = engine

    def parse_args(self, args=None, namespace=None):
        a = super().parse_args(args, namespace)
        a.group = a.group or f"boontadata-{self.engine}-{a.mode}"
        return a


def job_parser(engine, description, modes=("event-time", "processing-time", "ingestion-time")):
    """The flags every job takes (docs/SPEC.md §5, "The job"), with the one default each has; the
    harness passes them all. src/engine/protocol.rs's JobFlags is the same list for Rust (tests/layout.rs holds
    the two to the same defaults)."""
    p = _JobParser(engine, description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mode", choices=modes, default="event-time", help="the clock the windows follow")
    p.add_argument("--brokers", default="127.0.0.1:9092", help="Kafka bootstrap servers")
    p.add_argument("--events", default="events", help="topic to read events from")
    p.add_argument("--results", default="results", help="topic to write window results to")
    p.add_argument("--group", help="consumer group (default: boontadata-ENGINE-MODE)")
    p.add_argument("--window-ms", type=int, default=5000, help="length of the tumbling windows")
    p.add_argument("--out-of-orderness-ms", type=int, default=1000, help="watermark = max seen time - this bound")
    p.add_argument("--allowed-lateness-ms", type=int, default=0,
                   help="how long after the watermark passes a window late events still update it")
    p.add_argument("--dedup-horizon-ms", type=int, default=600_000,
                   help="how long a message id is remembered to drop its resends (where the mode needs a horizon)")
    p.add_argument("--idle-timeout-ms", type=int, default=5000,
                   help="a partition silent this long stops holding the watermark back (where the engine has idleness)")
    p.add_argument("--state-dir", help="a folder of the job's own for checkpoints and state (default: the engine's choice)")
    p.add_argument("--ids", type=_true_or_false, default=False, metavar="true|false",
                   help="each result row also names the events its window counted, in `ids`")
    return p


def _true_or_false(text):
    if text not in ("true", "false"):
        raise argparse.ArgumentTypeError(f"expected true or false, not {text!r}")
    return text == "true"


def now_ms():
    """The wall clock in epoch milliseconds: a row's `emitted_at`."""
    return time.time_ns() // 1_000_000


def event_of(value):
    """The event a record's value holds (docs/SPEC.md §2), or None when it is malformed: not JSON
    (or not UTF-8), a field missing, or a field of the wrong type."""
    try:
        e = json.loads(value)
    except (TypeError, ValueError):  # UnicodeDecodeError is a ValueError
        return None

    def integer(v):
        return isinstance(v, int) and not isinstance(v, bool)

    if not isinstance(e, dict) or not all(isinstance(e.get(f), str) for f in ("id", "di", "c")):
        return None
    if not (integer(e.get("dt")) and integer(e.get("m1")) and (integer(e.get("m2")) or isinstance(e.get("m2"), float))):
        return None
    return e


def say_metrics(values):
    """Prints a `boontadata: metric NAME VALUE` line for each (name, value) of `values`."""
    print("\n".join(f"boontadata: metric {name} {value}" for name, value in values), flush=True)


def say_version(engine, runs):
    """Prints `boontadata: version …`: what the job runs on (`spark 4.0.0`), after the engine's name
    when it is not the same (a copy of the folder, named otherwise: `mine on spark 4.0.0`)."""
    text = runs if runs.split(" ")[0] == engine else f"{engine} on {runs}"
    print(f"boontadata: version {text}", flush=True)


class Jobs:
    def __init__(self, parser):
        self.parser = parser
        self.terminated = threading.Event()
        self.end = threading.Event()
        self.lines = queue.Queue()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.terminated.set())
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in sys.stdin:
            if line.strip() == "end":
                self.end.set()
            else:
                self.lines.put(line)
        self.lines.put(None)

    def __iter__(self):
        args = self.parser.parse_args()
        while True:
            yield args
            if self.terminated.is_set():
                return
            self.end.clear()
            print("boontadata: ended", flush=True)
            line = self._next_line()
            if line is None:
                return
            args = self.parser.parse_args(json.loads(line))

    def _next_line(self):
        """The next job line; None once stdin is closed or the process is told to end."""
        while not self.terminated.is_set():
            try:
                return self.lines.get(timeout=0.1)
            except queue.Empty:
                pass
        return None

    def running(self):
        """Whether the current job goes on."""
        return not (self.end.is_set() or self.terminated.is_set())
