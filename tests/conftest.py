"""Shared pytest configuration: quiet TensorFlow, seeded randomness."""

import os

# Must be set before TensorFlow is imported anywhere in the test session.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

SEED = 1234


@pytest.fixture(autouse=True)
def _seed_everything():
    """Give every test the same seeds, so failures reproduce."""
    import keras
    import tensorflow as tf

    np.random.seed(SEED)
    tf.random.set_seed(SEED)
    keras.utils.set_random_seed(SEED)
    yield
