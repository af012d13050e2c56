"""The two-spiral data set of the latent ODE experiment (Chen et al. 2018, Section 5.1).

Two Archimedean spirals, one clockwise centred at (-5, 0) and one counter-clockwise centred at
(5, 0); every sample is 100 consecutive points of one of them, with Gaussian noise added.
"""

import numpy as np


def spiral_pair(ts, stop, a, b):
    """The clockwise and counter-clockwise base spirals, each of shape ``[len(ts), 2]``.

    The clockwise one runs on ``z = stop + 1 - t`` (the 1 keeps ``b * 50 / z`` finite) with
    radius ``a + 50 b / z``; the counter-clockwise one on ``z = t`` with radius ``a + b z``.
    """
    z_cw = stop + 1.0 - ts
    r_cw = a + b * 50.0 / z_cw
    clockwise = np.stack([r_cw * np.cos(z_cw) - 5.0, r_cw * np.sin(z_cw)], axis=1)
    r_cc = a + b * ts
    counter = np.stack([r_cc * np.cos(ts) + 5.0, r_cc * np.sin(ts)], axis=1)
    return clockwise, counter


def generate_spiral2d(rng, nspiral=1000, ntotal=1000, nsample=100, start=0.0, stop=6 * np.pi,
                      noise_std=0.3, a=0.0, b=0.3):
    """Samples ``nspiral`` noisy stretches of ``nsample`` points of the two base spirals.

    Each sample picks a spiral with probability 1/2 and a start index uniformly in
    ``[nsample, ntotal - nsample)`` (away from both ends), and adds N(0, noise_std**2) noise.
    All samples share the time stamps ``orig_ts[:nsample]``: the dynamics are autonomous.

    Args:
        rng: A ``numpy.random.Generator``.
        nspiral: Number of samples. Defaults to 1000.
        ntotal: Points on each base spiral. Defaults to 1000.
        nsample: Observed points per sample. Defaults to 100.
        start: First angle of the spirals. Defaults to 0.
        stop: Last angle of the spirals. Defaults to 6 pi.
        noise_std: Standard deviation of the observation noise. Defaults to 0.3.
        a: Radius offset of the spirals. Defaults to 0.
        b: Radius growth of the spirals. Defaults to 0.3.

    Returns:
        A dict with ``orig_trajs`` ``[nspiral, ntotal, 2]`` (each sample's whole noiseless
        spiral), ``samp_trajs`` ``[nspiral, nsample, 2]`` (the noisy observations), ``orig_ts``
        ``[ntotal]``, ``samp_ts`` ``[nsample]`` and ``starts`` ``[nspiral]`` (start indices).
    """
    orig_ts = np.linspace(start, stop, num=ntotal)
    base = np.stack(spiral_pair(orig_ts, stop, a, b))  # [2, ntotal, 2]
    starts = rng.integers(nsample, ntotal - nsample, size=nspiral)
    which = rng.integers(0, 2, size=nspiral)
    window = starts[:, None] + np.arange(nsample)
    noise = noise_std * rng.standard_normal((nspiral, nsample, 2))
    samp_trajs = base[which[:, None], window] + noise
    return dict(orig_trajs=base[which].astype(np.float32),
                samp_trajs=samp_trajs.astype(np.float32),
                orig_ts=orig_ts.astype(np.float32),
                samp_ts=orig_ts[:nsample].astype(np.float32),
                starts=starts)
