"""Neural ordinary differential equations for Keras 3 on TensorFlow 2.

Chen et al., "Neural Ordinary Differential Equations", NeurIPS 2018.

- :func:`odeint`: solve ``dy/dt = func(t, y)``, differentiating through the solver.
- :func:`odeint_adjoint`: the same, with gradients by the adjoint method in constant memory.
- :data:`SOLVERS`: the methods by name.
- :class:`SolverCounter`: running NFE counts, forward and backward.
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
