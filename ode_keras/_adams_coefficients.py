"""The coefficients of the Adams methods on any mesh, from the past step times alone.

The Adams methods integrate the polynomial that interpolates past derivatives. Written
with modified divided differences (Hairer, Norsett & Wanner, *Solving Ordinary
Differential Equations I*, section III.5; Shampine & Gordon's DE/STEP), the step from
``t_n`` to ``t_{n+1} = t_n + h`` is

    ``y_{n+1} = y_n + h * sum_j g_j * Phi*_j``

where ``Phi*_j`` are the scaled differences of the past derivatives and

    ``g_j = (1/h) * integral from t_n to t_{n+1} of prod_{i<j} (t - t_{n-i}) / psi_{i+1} dt``

with ``psi_i = t_{n+1} - t_{n+1-i}``. In ``s = (t - t_n) / h`` each factor is linear,
``a_i s + (1 - a_i)`` with ``a_i = h / psi_{i+1}``, so the integrand is a polynomial in
``s``, integrated exactly by Gauss-Legendre quadrature; integrated from 0 to ``theta`` it
gives the coefficients of the interpolant inside the step too (``theta = 1``: ``g_j``).
On a uniform mesh ``g_j`` are the classical ``1, 1/2, 5/12, 3/8, 251/720...``.

Everything here is a tensor function of the step times, in their dtype, so it runs in
``tf.while_loop``, under XLA and under a ``GradientTape`` (gradients reach the times).
"""

import numpy as np
import tensorflow as tf


def step_ratios(t_history, h):
    """``psi_new[i] = t_{n+1} - t_{n-i}`` and ``psi_old[i] = t_n - t_{n-1-i}``.

    Args:
        t_history: ``[m]`` past times, newest first (``t_n, t_{n-1}, ...``).
        h: The step from ``t_n`` to ``t_{n+1}``.

    Returns:
        ``(psi_new, psi_old)``, each ``[m - 1]``: ``psi_new[i]`` is ``psi_{i+1}`` of this
        step and ``psi_old[i]`` the same quantity one step earlier.
    """
    psi_new = t_history[0] + h - t_history[:-1]
    psi_old = t_history[0] - t_history[1:]
    return psi_new, psi_old


def scale_factors(psi_new, psi_old):
    """``beta_j = prod_{i<j} psi_new[i] / psi_old[i]``, for ``j = 0 .. len(psi)``.

    ``Phi*_j = beta_j * Phi_j`` turns the differences stored at ``t_n`` into the
    predictor's terms at ``t_{n+1}`` (1 for every ``j`` on a uniform mesh).
    """
    ratios = psi_new / psi_old
    return tf.math.cumprod(tf.concat([tf.ones([1], ratios.dtype), ratios], 0))


def slopes(psi_new, h, count):
    """``a_i = h / psi_{i+1}`` for ``i < count - 1``: the factors of ``g_0 .. g_{count-1}``."""
    return h / psi_new[:count - 1]


def integrals(a, theta):
    """``G_j(theta) = integral_0^theta prod_{i<j} (a_i s + 1 - a_i) ds`` for every ``j``.

    The integrands are polynomials of degree below ``len(a) + 1``, so Gauss-Legendre
    quadrature with that many nodes halved is exact: every ``G_j`` comes from one product
    table, without a loop over ``j``.

    Args:
        a: ``[count - 1]`` slopes from :func:`slopes`.
        theta: A scalar (``1``: the ``g_j``), or ``[k]`` points in ``[0, 1]``.

    Returns:
        ``[count]`` for a scalar ``theta``, else ``[k, count]``.
    """
    count = a.shape[0] + 1
    nodes, weights = np.polynomial.legendre.leggauss(max(1, (count + 1) // 2))
    nodes = tf.constant((nodes + 1) / 2, a.dtype)
    weights = tf.constant(weights / 2, a.dtype)
    theta = tf.convert_to_tensor(theta, a.dtype)
    s = theta[..., None] * nodes  # the nodes on [0, theta]
    factors = a * s[..., None] + (1.0 - a)  # [..., nodes, count - 1]
    products = tf.math.cumprod(
        tf.concat([tf.ones_like(factors[..., :1]), factors], -1), axis=-1)
    return theta[..., None] * tf.reduce_sum(weights[:, None] * products, axis=-2)


def integration_coefficients(psi_new, h, count):
    """``g_0 .. g_{count-1}`` of a step of size ``h`` (see the module docstring)."""
    return integrals(slopes(psi_new, h, count), tf.ones([], psi_new.dtype))
