"""Neural ordinary differential equations for Keras 3 on TensorFlow 2.

Chen et al., "Neural Ordinary Differential Equations", NeurIPS 2018.

- :func:`odeint`: solve ``dy/dt = func(t, y)``; gradients through the solver
  (``gradient="backprop"``), the same in bounded memory (``"checkpoint"``), or by the adjoint.
- :func:`odeint_adjoint`: the same, with gradients by the adjoint method in constant memory.
- :data:`SOLVERS`: the methods by name.
- :class:`ODEBlock`: the Keras layer; :class:`ButcherTableau`: a method as data.
- :class:`SolverCounter`: running NFE counts, forward and backward.

Public modules (the API): ``tableaus`` (Butcher tableaus, ``ALL_TABLEAUS``),
``solvers`` (``SOLVERS``, ``get_solver``, the generic ``rk_step``), ``odeint``,
``adjoint`` (``odeint_adjoint``), ``layers`` (``ODEBlock``), ``failures``
(status codes and the errors they raise), ``stats`` (``SolverCounter``),
``callbacks`` (``NFELogger``, NFE in Keras logs).
Private machinery, one idea each: ``_fixed`` and ``_adaptive`` (the two drivers,
the adaptive one with its step-size control), ``_stepping`` (a solve as a
``Stepper`` and its plain loop), ``_checkpoint`` (the checkpointed gradient),
``_runge_kutta`` (the generic step), ``_dense_output`` (interpolation inside a
step), ``_state`` (arithmetic on tuple states), ``_outputs`` (the solution at the
output times), ``_scipy`` (``method="scipy_solver"``), ``_checks`` and
``_layer_args`` (argument checks for the functions and for the layer),
``_keras_private`` (every use of Keras private API).
``examples/`` holds runnable reproductions (``python -m ode_keras.examples.NAME``).
"""

from ode_keras._version import __version__
from ode_keras.adjoint import odeint_adjoint
from ode_keras.layers import ODEBlock
from ode_keras.odeint import odeint
from ode_keras.solvers import SOLVERS
from ode_keras.stats import SolverCounter
from ode_keras.tableaus import ButcherTableau

__all__ = ["SOLVERS", "ODEBlock", "ButcherTableau", "SolverCounter", "__version__", "odeint",
           "odeint_adjoint"]
