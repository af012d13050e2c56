"""Progress on stderr, never on stdout (so ``--json`` stays parseable).

On a terminal one line is redrawn with ``\\r``; otherwise (a log file, a pipe) whole lines are
written, at most one every ``LOG_INTERVAL`` seconds, and no ``\\r``. A bar that is not
``always`` shown stays silent until the run has taken ``DELAY`` seconds, so quick runs print
nothing. ``break_line()`` ends a half-drawn line before an error or note is printed.
"""

import sys
import time

DELAY = 3.0  # seconds before a bar that is not always shown appears
LOG_INTERVAL = 5.0  # seconds between lines when stderr is not a terminal
_open_bars = []  # bars with a half-drawn terminal line


class ProgressBar:
    """A one-line progress bar on stderr: ``[#####-----] 12/24 images, 3.1 s/image``.

    Args:
        total: number of images.
        stream: where to draw. Defaults to ``sys.stderr``.
        enabled: draw nothing when False.
        always: draw from the first step; else only once the run has taken ``DELAY`` seconds.
    """

    def __init__(self, total, stream=None, enabled=True, width=30, always=True):
        self.total, self.done, self.width = total, 0, width
        self.stream = stream or sys.stderr
        self.enabled, self.always = enabled, always
        self._start = time.perf_counter()
        self._last = None  # when a line was last written (not on a terminal)
        self._shown = False

    def advance(self, steps=1, stage=""):
        """Record finished images (``steps`` may be 0 to report a ``stage``) and redraw."""
        self.done += steps
        if not self.enabled:
            return
        now = time.perf_counter()
        if not (self.always or self._shown or now - self._start >= DELAY):
            return
        finished = self.done >= self.total and stage == ""
        tty = _isatty(self.stream)
        if not (tty or finished or self._last is None or now - self._last >= LOG_INTERVAL):
            return
        filled = int(self.width * min(self.done, self.total) / max(self.total, 1))
        rate = (now - self._start) / max(self.done, 1)
        text = (f"[{'#' * filled}{'-' * (self.width - filled)}] {self.done}/{self.total} "
                f"images, {rate:.2f} s/image" + (f", {stage}" if stage else ""))
        self._shown, self._last = True, now
        if tty:
            self.stream.write(f"\r{text}\033[K")
            if self not in _open_bars:
                _open_bars.append(self)
            if finished:
                self._end_line()
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def _end_line(self):
        self.stream.write("\n")
        self.stream.flush()
        if self in _open_bars:
            _open_bars.remove(self)


def break_line():
    """End any half-drawn progress line, so the next message starts on a line of its own."""
    for bar in list(_open_bars):
        bar._end_line()


def _isatty(stream):
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
