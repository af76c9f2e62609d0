"""The engine side of the harness protocol (src/engine.rs), for engines written in Python.

    jobs = Jobs(parser)
    for args in jobs:          # the command line's job, then the job of each line on stdin
        ...start the job...
        while jobs.running():  # until the harness says `end`, or SIGTERM
            ...report metrics...
        ...stop the job, report its last metrics...

Between two jobs it prints `boontadata: ended`. SIGTERM or SIGINT ends the
current job and the loop; stdin closing between jobs ends the loop.
"""

import json
import queue
import signal
import sys
import threading


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
