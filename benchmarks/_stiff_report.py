"""The stiff benchmark's tables (Markdown, as the README shows them) and its figure."""

import math


def _cell(value, spec):
    return "-" if value is None else format(value, spec)


def _error_cells(result, rtol):
    if result.error is None:
        return "-", "-"
    return f"{result.error:.1e}", f"{result.error / rtol:.2g}"


def table(problem, rtol, results):
    """The Markdown table of one problem at one tolerance, as a string."""
    lines = [f"{problem.name}, rtol {rtol:.0e}, atol {problem.atol(rtol):.0e}:", "",
             "| solver | steps (rejected) | f evals | Jacobians | LU | ms / solve | "
             "first-call extra s | error | error / rtol |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        if not r.ok:
            lines.append(f"| {r.solver} | {r.note or 'no result'} | | | | | | | |")
            continue
        steps = _cell(r.steps, "d") + ("" if r.rejected is None else f" ({r.rejected})")
        error, ratio = _error_cells(r, rtol)
        lines.append(
            f"| {r.solver} | {steps} | {_cell(r.nfe, 'd')} | {_cell(r.jacobians, 'd')} | "
            f"{_cell(r.factorizations, 'd')} | {1000 * r.seconds:.1f} | "
            f"{r.compile_seconds:.1f} | {error} | {ratio} |")
    return "\n".join(lines)


def gradient_table(reference, rows):
    """The Markdown table of the gradient cost, as a string."""
    values = ", ".join(f"{g:.9g}" for g in reference)
    lines = [f"Robertson, d loss / d log k (reference, forward sensitivities by Radau at 1e-12: "
             f"{values}):", "",
             "| gradient | ms / gradient | first-call extra s | max relative difference |",
             "|---|---:|---:|---:|"]
    for r in rows:
        if not r.ok:
            lines.append(f"| {r.solver} | {r.note or 'no result'} | | |")
            continue
        lines.append(f"| {r.solver} | {1000 * r.seconds:.1f} | {r.compile_seconds:.1f} | "
                     f"{r.error:.1e} |")
    return "\n".join(lines)


def _series(runs, problem_name):
    """``{solver: [(seconds, error), ...]}`` of one problem, over its tolerances."""
    series = {}
    for (name, _), results in runs.items():
        if name != problem_name:
            continue
        for r in results:
            if r.ok and r.error > 0 and math.isfinite(r.error):
                series.setdefault(r.solver, []).append((r.seconds, r.error))
    return series


def figure(runs, problem_names, path):
    """Writes the work-precision figure: error against wall time, log-log, one line a solver.

    Args:
        runs: ``{(problem name, rtol): [Result, ...]}``.
        problem_names: The problems, one panel each.
        path: The PNG file to write.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(problem_names), figsize=(5.2 * len(problem_names), 4.6),
                             squeeze=False)
    series = {name: _series(runs, name) for name in problem_names}
    solvers = sorted({solver for lines in series.values() for solver in lines})
    colors = dict(zip(solvers, plt.get_cmap("tab20").colors))
    handles = {}
    for ax, name in zip(axes[0], problem_names):
        for solver, points in sorted(series[name].items()):
            points.sort()
            style = "-o" if solver.startswith("ode_keras") else "--s"
            (handles[solver],) = ax.loglog([p[0] for p in points], [p[1] for p in points],
                                           style, color=colors[solver], markersize=4)
        ax.set(title=name, xlabel="wall time per solve (s)", ylabel="error vs reference")
        ax.grid(True, which="major", alpha=0.3)
    fig.legend([handles[s] for s in solvers], solvers, loc="upper center", ncol=4, fontsize=8,
               bbox_to_anchor=(0.5, 0.0))
    fig.tight_layout()
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    print(f"Saved {path}")
