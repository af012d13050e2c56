"""Neural ordinary differential equations for Keras 3 on TensorFlow 2.

Chen et al., "Neural Ordinary Differential Equations", NeurIPS 2018.

- :func:`odeint`: solve ``dy/dt = func(t, y)``; gradients through the solver
  (``gradient="backprop"``), the same in bounded memory (``"checkpoint"``), or by the adjoint.
- :func:`odeint_adjoint`: the same, with gradients by the adjoint method in constant memory.
- :func:`odeint_event`: integrate until an event function crosses zero, differentiably.
- :data:`SOLVERS`: the methods by name.
- :class:`ODEBlock`: the Keras layer; :class:`ButcherTableau`: a method as data.
- :class:`SolverCounter`: running NFE counts, forward and backward.

Public modules (the API): ``tableaus`` (Butcher tableaus, ``ALL_TABLEAUS``),
``solvers`` (``SOLVERS``, ``get_solver``, the generic ``rk_step``), ``odeint``,
``adjoint`` (``odeint_adjoint``), ``events`` (``odeint_event``), ``layers``
(``ODEBlock``), ``failures`` (status codes and the errors they raise), ``stats``
(``SolverCounter``), ``callbacks`` (``NFELogger``, NFE in Keras logs), ``perturb``
(``Perturb``, the side of a jump in time ``func`` is evaluated on).
Private machinery, one idea each: ``_fixed`` and ``_adaptive`` (the two drivers,
the adaptive one with its step-size control), ``_stepping`` (a solve as a
``Stepper`` and its plain loop), ``_checkpoint`` (the checkpointed gradient),
``_runge_kutta`` (the generic step), ``_dense_output`` (interpolation inside a
step), ``_state`` (arithmetic on tuple states), ``_outputs`` (the solution at the
output times), ``_scipy`` (``method="scipy_solver"``), ``_checks`` and
``_layer_args`` (argument checks for the functions and for the layer),
``_keras_private`` (every use of Keras private API), ``_adams_fixed`` and
``_adams_variable`` (the Adams drivers: fixed order on fixed steps, and variable step and
order) with ``_adams_history`` (their memory and step) and ``_adams_coefficients``
(their coefficients on any mesh), ``_event_search`` and ``_event_root``
(where an event happens: the step search, the root along a step);
``implicit_tableaus`` (public: ESDIRK tableaus) with ``_implicit`` (their driver),
``_implicit_step`` (one step), ``_newton`` (a stage's Newton solve and its gradient),
``_implicit_matrix`` (Jacobian and LU reuse) and ``_implicit_options``;
``rosenbrock_tableaus`` (public: Rosenbrock tableaus, ``rodas5p``) with ``_rosenbrock``
(their driver), ``_rosenbrock_step`` (one step) and ``_rosenbrock_options``.
``_grid`` (times a solve must respect: grid, grid_constructor, step_t, jump_t),
``_one_sided`` (one-sided evaluations of ``func``), ``_step_callbacks``
(``callback_step`` and its kin).
``examples/`` holds runnable reproductions (``python -m ode_keras.examples.NAME``).
"""

import sys as _sys

from ode_keras._version import __version__

__all__ = ["SOLVERS", "ODEBlock", "ButcherTableau", "Perturb", "SolverCounter", "__version__",
           "odeint", "odeint_adjoint", "odeint_event"]


def _bind_public_names():
    """Import the public names into the package (TensorFlow loads; ODEBlock registers with Keras).

    Idempotent. Importing the submodule ``ode_keras.odeint`` binds the package attribute
    ``odeint`` to that module; the function is bound after it, as the names listed here.
    """
    from ode_keras.adjoint import odeint_adjoint
    from ode_keras.events import odeint_event
    from ode_keras.layers import ODEBlock
    from ode_keras.odeint import odeint
    from ode_keras.perturb import Perturb
    from ode_keras.solvers import SOLVERS
    from ode_keras.stats import SolverCounter
    from ode_keras.tableaus import ButcherTableau

    globals().update(SOLVERS=SOLVERS, ODEBlock=ODEBlock, ButcherTableau=ButcherTableau,
                     SolverCounter=SolverCounter, odeint=odeint, odeint_adjoint=odeint_adjoint,
                     odeint_event=odeint_event, Perturb=Perturb)


if _sys.argv[:1] == ["-m"]:
    # ``python -m ode_keras.examples.NAME``: Python imports this package while it still locates
    # the module to run (sys.argv[0] is "-m" only then), and the example's --help must answer
    # before TensorFlow loads. The names bind on first use instead, and the examples'
    # ``_cli.parse_early`` binds them once the command line is valid.
    def __getattr__(name):
        if name in __all__:
            _bind_public_names()
            return globals()[name]
        raise AttributeError(f"module 'ode_keras' has no attribute {name!r}")
else:
    _bind_public_names()
