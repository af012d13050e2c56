"""The options of the Rosenbrock methods: the adaptive ones, and the Jacobian's layout.

``jacobian`` chooses how ``J = d func / d y`` is formed and factored
(``ode_keras._jacobian``):

- ``"full"`` (default): the Jacobian of the whole flattened state, ``[n, n]``; exact for
  any coupling between the state's entries, at ``n**3`` per factorisation.
- ``"per_sample"``: every component of the state has the batch as its leading axis and
  the samples do not interact; ``J`` is the ``[B, d, d]`` stack of per-sample blocks
  (one forward product per feature) and the factorisations are batched, ``B d**3``.
  When samples do interact (batch normalisation inside ``func``, say), the blocks miss
  the coupling: a Rosenbrock method is exact only with the exact Jacobian, so its order
  drops, its error estimate sees it and the steps shrink. The results stay within the
  tolerances, at the price of more steps.
"""

import tensorflow as tf

from ode_keras import _checks, _jacobian


def check(options, name, method):
    """``options`` for a Rosenbrock ``method``, checked, with defaults filled in.

    Args:
        options: The user's options (unknown keys already refused).
        name: The argument that held them (``"options"``, ``"adjoint_options"``).
        method: The method's name, quoted in errors.

    Returns:
        A complete dict: the adaptive options and ``jacobian``.

    Raises:
        ValueError, TypeError: For an invalid option, naming it and how to fix it.
    """
    options = dict(options)
    mode = options.pop("jacobian", "full")
    if callable(mode):
        raise TypeError(
            f"{name}['jacobian'] for method {method!r} must be one of "
            f"{list(_jacobian.JACOBIAN_MODES)}, got the callable {mode!r}: a Rosenbrock "
            "method needs the exact Jacobian, formed here by automatic differentiation; "
            "pass 'full', or 'per_sample' for a batch of independent samples.")
    _checks.check_choice(f"{name}['jacobian']", mode, _jacobian.JACOBIAN_MODES)
    full = _checks.check_adaptive_options(options, name)
    full["jacobian"] = mode
    return full


def check_layout(mode, y0):
    """``"per_sample"`` needs one leading batch axis of one static size in every component.

    Raises:
        ValueError: Naming the component at fault and what to pass instead.
    """
    if mode != "per_sample":
        return
    sizes = []
    for i, y in enumerate(y0):
        if y.shape.rank == 0 or y.shape[0] is None:
            raise ValueError(
                "options['jacobian']='per_sample' needs every component of the state to "
                f"have a leading batch axis of known size, but component {i} has shape "
                f"{y.shape}; use options={{'jacobian': 'full'}} (for odeint_adjoint, whose "
                "backward state holds the parameters and a scalar, also "
                "adjoint_options={'jacobian': 'full'}).")
        sizes.append(y.shape[0])
    if len(set(sizes)) > 1:
        raise ValueError(
            "options['jacobian']='per_sample' needs one batch size in every component of "
            f"the state, got leading axes {sizes}; use options={{'jacobian': 'full'}}.")


def jacobian_shape(mode, y0):
    """The static shape of the Jacobian of a state like ``y0`` in layout ``mode``."""
    if mode == "full":
        n = sum(y.shape.num_elements() for y in y0)
        return [n, n]
    d = sum(y.shape[1:].num_elements() for y in y0)
    return [y0[0].shape[0], d, d]


def linear_zeros(mode, y0):
    """A zero Jacobian for a state like ``y0``: the loop's placeholder before the first one."""
    return tf.zeros(jacobian_shape(mode, y0), _jacobian.linear_dtype(y0[0].dtype))
