"""The options of the implicit (ESDIRK) methods, checked once at the boundary.

Beside the adaptive options (``first_step``, ``min_step``, ``max_step``, ``norm``) or the
fixed ``step_size``, and ``max_num_steps``:

- ``jacobian``: ``"full"`` (default; the Jacobian of the flattened state, exact for any
  coupling), ``"per_sample"`` (the ``[batch, d, d]`` diagonal blocks, one forward
  product per feature: every state component has the batch as its leading
  axis and samples are assumed not to interact; when they do, Newton still converges to
  the exact stages, only more slowly), or a callable ``jacobian(t, y) -> J`` giving
  ``J`` in either layout (``[n, n]`` or ``[batch, d, d]``, told apart by its rank).
- ``max_newton_iterations`` (default 10): Newton iterations per stage before the step
  is retried smaller (adaptive) or with a fresh Jacobian.
- ``newton_tolerance`` (default 0.03): ``kappa``, the fraction of the error tolerance
  to which Newton solves each stage.
- ``implicit_components``: how many leading components of a tuple state ``func``
  depends on (default: all); the rest are quadratures, left out of the Jacobian. The
  adjoint's backward solve sets it to keep the iteration matrix to ``[z, a_z]``.
"""

import numbers

from ode_keras import _checks
from ode_keras._jacobian import JACOBIAN_MODES

NEWTON_OPTIONS = ("jacobian", "max_newton_iterations", "newton_tolerance",
                  "implicit_components")
ADAPTIVE_OPTIONS = ("first_step", "max_num_steps", "min_step", "max_step", "norm",
                    *NEWTON_OPTIONS)
FIXED_OPTIONS = ("step_size", "max_num_steps", *NEWTON_OPTIONS)

DEFAULT_MAX_NEWTON_ITERATIONS = 10
DEFAULT_NEWTON_TOLERANCE = 0.03


def check(options, name, method, adaptive):
    """``options`` (``max_num_steps`` already checked) with defaults filled in.

    Raises:
        ValueError, TypeError: Naming ``name[key]``, what was expected and what was received.
    """
    newton = {key: options.get(key) for key in NEWTON_OPTIONS}
    rest = {k: v for k, v in options.items() if k not in NEWTON_OPTIONS}
    if adaptive:
        full = _checks.check_adaptive_options(rest, name)
    else:
        if rest.get("step_size") is None:
            raise ValueError(
                f"The fixed-step method {method!r} needs {name}['step_size'], got {options}; "
                f"e.g. {name}={{'step_size': 0.01}}, or use an adaptive implicit method "
                "such as 'kvaerno5'.")
        full = _checks.check_fixed_step_options(method, rest, name)
        del full["grid"]
    return {**full, **_check_newton(newton, name)}


def _check_newton(newton, name):
    jacobian = "full" if newton["jacobian"] is None else newton["jacobian"]
    if not (callable(jacobian) or (isinstance(jacobian, str) and jacobian in JACOBIAN_MODES)):
        raise ValueError(
            f"{name}['jacobian'] must be one of {', '.join(map(repr, JACOBIAN_MODES))} or a "
            f"callable jacobian(t, y) -> J, got {jacobian!r}; use 'per_sample' when the "
            "state is [batch, ...] and the samples do not interact.")
    iterations = newton["max_newton_iterations"]
    iterations = DEFAULT_MAX_NEWTON_ITERATIONS if iterations is None else iterations
    if isinstance(iterations, bool) or not (isinstance(iterations, numbers.Integral)
                                            and 2 <= iterations <= 100):
        raise ValueError(
            f"{name}['max_newton_iterations'] must be an integer from 2 to 100, got "
            f"{iterations!r}; the default is {DEFAULT_MAX_NEWTON_ITERATIONS}.")
    kappa = newton["newton_tolerance"]
    kappa = DEFAULT_NEWTON_TOLERANCE if kappa is None else kappa
    if isinstance(kappa, bool) or not (isinstance(kappa, numbers.Real) and 0 < kappa <= 1):
        raise ValueError(
            f"{name}['newton_tolerance'] must be a number in (0, 1], the fraction of the "
            f"error tolerance Newton reaches, got {kappa!r}; the default is "
            f"{DEFAULT_NEWTON_TOLERANCE}.")
    components = newton["implicit_components"]
    if components is not None and (isinstance(components, bool) or not (
            isinstance(components, numbers.Integral) and components >= 1)):
        raise ValueError(
            f"{name}['implicit_components'] must be a positive integer (how many leading "
            f"state components func depends on) or None, got {components!r}.")
    return {"jacobian": jacobian, "max_newton_iterations": int(iterations),
            "newton_tolerance": float(kappa), "implicit_components": components}
