"""Digit images for ``odenet_mnist``: MNIST when it can be had, else scikit-learn's digits.

MNIST comes through ``keras.datasets.mnist`` (from Keras's cache, or downloaded). Without a
network the download fails within seconds and the offline stand-in is used: scikit-learn's
bundled 8x8 digits (1,797 images, UCI "Optical Recognition of Handwritten Digits", written by 43
people), upscaled bilinearly to 20x20 and centred in a 28x28 frame, the way MNIST centres its
digits in a 20x20 box. A fixed, stratified 80/20 split gives 1,437 training and 360 test images.
"""

import socket

import numpy as np
import tensorflow as tf

from ode_keras.examples._cli import DATASETS


def load_mnist(timeout=10.0):
    """MNIST from ``keras.datasets``, scaled to [0, 1], shapes ``[n, 28, 28, 1]``.

    Args:
        timeout: Seconds any network operation may block, so a missing network fails fast.

    Returns:
        ``(x_train, y_train, x_test, y_test)``.

    Raises:
        OSError: If MNIST is neither cached nor downloadable.
    """
    import keras

    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)
    try:
        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    except Exception as error:  # keras wraps network errors in several exception types
        raise OSError(f"MNIST could not be loaded: {error}") from error
    finally:
        socket.setdefaulttimeout(previous)
    scale = np.float32(1 / 255)
    return (x_train[..., None] * scale, y_train.astype(np.int32),
            x_test[..., None] * scale, y_test.astype(np.int32))


def load_upscaled_digits(test_fraction=0.2, seed=0):
    """scikit-learn's 8x8 digits as MNIST-like 28x28 images in [0, 1].

    Args:
        test_fraction: Fraction held out for testing, stratified by class. Defaults to 0.2.
        seed: Seed of the split. Defaults to 0.

    Returns:
        ``(x_train, y_train, x_test, y_test)``; images have shape ``[n, 28, 28, 1]``.
    """
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ModuleNotFoundError as error:
        raise ModuleNotFoundError(
            "The digits fallback of odenet_mnist needs scikit-learn, part of the examples "
            'extra: pip install -e ".[examples]" (or pip install scikit-learn).',
            name=error.name) from None

    digits = load_digits()
    images = digits.images[..., None].astype(np.float32) / 16.0
    # Bilinear interpolation cannot overshoot, so the images stay in [0, 1].
    images = tf.image.resize(images, (20, 20), method="bilinear").numpy()
    images = np.pad(images, ((0, 0), (4, 4), (4, 4), (0, 0)))
    x_train, x_test, y_train, y_test = train_test_split(
        images, digits.target.astype(np.int32), test_size=test_fraction,
        stratify=digits.target, random_state=seed)
    return x_train, y_train, x_test, y_test


def load_dataset(name="auto"):
    """Loads ``"mnist"``, ``"digits"`` or, for ``"auto"``, MNIST if possible and digits otherwise.

    Returns:
        ``(name, x_train, y_train, x_test, y_test)`` with the name of the data set used.

    Raises:
        ValueError: If ``name`` is not one of ``DATASETS``.
        OSError: If ``name`` is ``"mnist"`` and MNIST cannot be loaded.
    """
    if name not in DATASETS:
        raise ValueError(f"`dataset` must be one of {DATASETS}; received {name!r}.")
    if name in ("auto", "mnist"):
        try:
            return ("mnist", *load_mnist())
        except OSError as error:
            if name == "mnist":
                raise
            print(f"{error}\nFalling back to scikit-learn's 8x8 digits, upscaled to 28x28.")
    return ("digits", *load_upscaled_digits())


def random_crop(images, rng, padding=4):
    """Pads by ``padding`` zeros and crops back at a random offset per image (RandomCrop).

    Args:
        images: Array ``[n, height, width, channels]``.
        rng: A ``numpy.random.Generator``.
        padding: Pixels added on each side. Defaults to 4.

    Returns:
        An array of the same shape, each image shifted by up to ``padding`` pixels.
    """
    n, height, width, _ = images.shape
    padded = np.pad(images, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    rows = rng.integers(0, 2 * padding + 1, size=n)[:, None] + np.arange(height)
    cols = rng.integers(0, 2 * padding + 1, size=n)[:, None] + np.arange(width)
    return padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]
