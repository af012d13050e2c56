"""Which class each map explains: checked on the host, resolved inside the traced step.

Targets travel into the traced step as one int32 tensor ``[batch, targets]``: a value ``c >= 0``
is class ``c``; a value ``-r`` means "the image's r-th best class" (``-1`` is the top class), so
``class_index=None`` and ``top_k`` need no second forward pass.
"""

import numpy as np
import tensorflow as tf

from gradcam_keras.errors import InputError, is_int


def build(class_index, top_k, batch, num_classes):
    """Check the user's class selection and encode it as ``[batch, targets]`` int32.

    Args:
        class_index: None, an int, one int per image, or ``[batch, targets]`` ints.
        top_k: None, or a positive int (then ``class_index`` must be None).
        batch: number of images.
        num_classes: number of classes the model scores.

    Returns:
        np.ndarray ``[batch, targets]`` int32.

    Raises:
        InputError: out-of-range classes, wrong lengths, both or bad ``top_k``.
    """
    class_index, top_k = _plain(class_index), _plain(top_k)
    if top_k is not None:
        if class_index is not None:
            raise InputError("pass either `class_index` or `top_k`, not both")
        if not is_int(top_k) or not 1 <= top_k <= num_classes:
            raise InputError(f"`top_k` must be an int from 1 to {num_classes} (the model's "
                             f"number of classes), got {top_k!r}")
        return np.tile(-np.arange(1, top_k + 1, dtype=np.int32), (batch, 1))
    if class_index is None:
        return np.full((batch, 1), -1, dtype=np.int32)
    if is_int(class_index):
        return np.full((batch, 1), _checked(class_index, num_classes), dtype=np.int32)
    rows = _as_rows(class_index, batch)
    return np.array([[_checked(c, num_classes) for c in row] for row in rows], dtype=np.int32)


def _plain(value):
    """A tensor or 0-d array as numpy / a Python scalar, so it is checked like a list or int."""
    if isinstance(value, (tf.Tensor, tf.Variable)):
        value = value.numpy()
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    return value


def _as_rows(class_index, batch):
    if isinstance(class_index, (str, bytes)) or not hasattr(class_index, "__len__"):
        raise InputError(f"`class_index` must be None, an int or a list of ints, got "
                         f"{type(class_index).__name__}: {class_index!r}")
    if len(class_index) != batch:
        raise InputError(f"`class_index` has {len(class_index)} entries for {batch} image(s); "
                         "give one per image, or a single int for all")
    rows = [[c] if is_int(c) else list(c) if hasattr(c, "__len__") else [c]
            for c in class_index]
    if len({len(row) for row in rows}) != 1 or not rows[0]:
        raise InputError("`class_index` rows must all have the same, non-zero length")
    return rows


def _checked(value, num_classes):
    if not is_int(value):
        raise InputError(f"`class_index` entries must be ints, got {type(value).__name__}: "
                         f"{value!r}")
    if not 0 <= value < num_classes:
        raise InputError(f"class index {value} is out of range: the model scores {num_classes} "
                         f"classes, 0 to {num_classes - 1}")
    return int(value)


def resolve(scores, targets):
    """Turn encoded targets into class indices inside the graph: ``[batch, targets]`` int32."""
    # Only top_k mode has negative targets, and then targets <= classes; explicit rows may
    # repeat a class, so never ask top_k for more classes than there are.
    ranked = tf.math.top_k(scores, k=min(targets.shape[1], scores.shape[-1])).indices
    rank = tf.maximum(-targets - 1, 0)  # 0 for explicit classes; their ranked pick is ignored
    by_rank = tf.gather(ranked, rank, batch_dims=1)
    return tf.where(targets >= 0, targets, by_rank)
