"""What one solver reports on one problem (:class:`Result`), and how a solve is timed.

Every runner of the stiff benchmark returns a :class:`Result`; a solver that is missing,
does not compile or fails returns one too, with ``note`` saying why and no numbers, so the
tables always show every row and the run never stops on a peer's failure.
"""

import dataclasses
import re
import statistics
import time


@dataclasses.dataclass
class Result:
    """One row of a table: a solver's work and accuracy on one problem and tolerance.

    Attributes:
        solver: The row's name.
        steps: Accepted steps (None where the solver does not say).
        rejected: Rejected steps (None where the solver does not say).
        nfe: Evaluations of the right-hand side (Jacobian evaluations by automatic
            differentiation are counted apart, in ``jacobians``).
        jacobians: Jacobian evaluations.
        factorizations: LU factorisations.
        seconds: Median wall time of a solve after the warm-up.
        compile_seconds: The first call's extra time over the median (tracing, compiling).
        error: Error against the reference, see ``_stiff_problems.error``.
        note: Why the row has no numbers, or a remark on them.
    """

    solver: str
    steps: int | None = None
    rejected: int | None = None
    nfe: int | None = None
    jacobians: int | None = None
    factorizations: int | None = None
    seconds: float | None = None
    compile_seconds: float | None = None
    error: float | None = None
    note: str = ""

    @property
    def ok(self):
        """True when the row has a time and a finite error."""
        return self.seconds is not None and self.error is not None and self.error == self.error


def timed(call, repeats, budget_seconds):
    """Runs ``call()`` once to warm up, then ``repeats`` times; returns ``(out, median, extra)``.

    ``extra`` is the first call's time minus the median: tracing and compilation. A solve
    slower than ``budget_seconds`` is repeated fewer times (at least once after the warm-up),
    so one slow peer cannot hold the run up.
    """
    start = time.perf_counter()
    out = call()
    first = time.perf_counter() - start
    repeats = max(1, min(repeats, int(budget_seconds / max(first, 1e-9))))
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = call()
        seconds.append(time.perf_counter() - start)
    median = statistics.median(seconds)
    return out, median, max(first - median, 0.0)


def summary(error, limit=300):
    """The line of ``error``'s message that says what went wrong, at most ``limit`` characters.

    TensorFlow wraps errors raised while tracing in "in user code:" and a traceback, and a
    failed ``tf.debugging.Assert`` in node names: this keeps the assertion's text, or the last
    ``SomeError: ...`` line, or the first line.
    """
    text = getattr(error, "message", None) or str(error)
    asserted = re.search(r"assertion failed: \[(.*?)\]\s*\n", text + "\n", re.S)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    named = [re.sub(r"^\w+(Error|Exception): ", "", line) for line in lines
             if re.match(r"^\w+(Error|Exception): ", line)]
    message = (asserted.group(1) if asserted else named[-1] if named
               else lines[0] if lines else "")
    return message if len(message) <= limit else message[:limit - 3] + "..."


def failure(solver, error):
    """The row of a solver that raised ``error``: its type and :func:`summary`."""
    return Result(solver, note=f"failed: {type(error).__name__}: {summary(error)}")


def guarded(solver, run):
    """``run()``, or the :func:`failure` row of ``solver`` if it raises (the run goes on)."""
    try:
        return run()
    except Exception as error:  # noqa: BLE001 (a peer's failure is a row, never a crash)
        return failure(solver, error)
