"""Runnable reproductions of the experiments of Chen et al. (2018), "Neural Ordinary Differential
Equations".

Each module is a command line program with ``--help``; the figures go to ``--viz DIR``:

- ``python -m ode_keras.examples.ode_demo``: learn the spiral dynamics dy/dt = (y**3) A.
- ``python -m ode_keras.examples.odenet_mnist``: ODE-Net against a ResNet and an RK-Net.
- ``python -m ode_keras.examples.latent_ode``: a latent ODE fitted to noisy spirals, extrapolated.
- ``python -m ode_keras.examples.cnf``: a continuous normalizing flow on two concentric circles.
- ``python -m ode_keras.examples.bouncing_ball``: a bouncing ball by events (``odeint_event``),
  its gravity and restitution learned from its bounce times (torchdiffeq's example).
- ``python -m ode_keras.examples.robertson``: Robertson's stiff kinetics, its three rate
  constants learned from noisy observations through an implicit solver (dopri5 fails).

Every module exposes ``build_parser()``, ``train(args)`` (returns the loss history) and
``main(argv)`` (returns 0), so the examples can be driven from Python and from tests.
"""
