"""Keras callbacks for Neural ODE training: NFE-F and NFE-B in the training logs."""

import keras

from ode_keras.layers import ODEBlock

_COUNTS = ("nfe_forward", "nfe_backward")


class NFELogger(keras.callbacks.Callback):
    """Adds each ``ODEBlock``'s NFE-F and NFE-B per training batch to the logs.

    The figures are those of the Neural ODE paper (Chen et al. 2018, Figure 3):
    the number of function evaluations per training batch in the forward solves
    (NFE-F) and in the adjoint backward solves (NFE-B). At the end of every epoch
    the logs, and so ``History``, ``CSVLogger``, ``TensorBoard`` and the progress
    bar, receive for each block::

        (counter after the epoch's last training batch - counter at the epoch's start)
        / (number of training batches in the epoch)

    as a float, from the block's running counters ``nfe_forward`` and
    ``nfe_backward`` (see :class:`ode_keras.ODEBlock`). Every call of the block
    inside the training step counts (a block called twice per step counts
    twice); validation at the end of the epoch does not (the count is read when
    validation begins). NFE-B is 0 unless the block has ``gradient="adjoint"``.
    Under a ``tf.distribute`` strategy the counters, and so these figures, are
    sums over the replicas: divide by ``strategy.num_replicas_in_sync`` for a
    per-replica figure.

    The keys are ``nfe_forward`` and ``nfe_backward`` when the model holds one
    block, ``<block name>/nfe_forward`` and ``<block name>/nfe_backward`` when it
    holds several. Blocks are found in the model's layers, recursively (nested
    models, and layers held as attributes of other layers), unless ``blocks``
    names them.

    Cost: reading a counter copies an int64 from the device to the host and waits
    for the training step that updates it. The callback reads each counter once
    per epoch (twice with validation: it reads when validation begins); with
    ``per_batch=True`` it also reads after every batch (every
    ``steps_per_execution`` steps), which serialises Keras's asynchronous batch
    dispatch.

    Put it before callbacks that call the model in their own ``on_epoch_end``
    (without validation the count is read in this callback's ``on_epoch_end``,
    and any evaluation earlier in the list would be counted).

    Args:
        per_batch: Also add the figures of each batch, the increase of the
            counters over that ``train_function`` call divided by the steps it ran
            (1 unless ``steps_per_execution`` is larger), to the logs of
            ``on_train_batch_end``, where later callbacks (and ``TensorBoard``
            with ``update_freq="batch"``) see them. Defaults to False.
        blocks: The ``ODEBlock`` layers to report, e.g. ``[model.get_layer("ode")]``.
            Defaults to None: every block in the model.

    Raises:
        ValueError: At the start of training, if the model holds no ``ODEBlock``
            (and ``blocks`` is None), or if two reported blocks share a name.

    Example:
        >>> import keras, numpy as np
        >>> from ode_keras import ODEBlock
        >>> @keras.saving.register_keras_serializable(package="doc")
        ... class Field(keras.layers.Layer):
        ...     def build(self, input_shape):
        ...         self.dense = keras.layers.Dense(input_shape[-1])
        ...     def call(self, t, y):
        ...         return self.dense(y)
        >>> model = keras.Sequential([keras.Input((2,)), ODEBlock(Field())])
        >>> model.compile("sgd", "mse")
        >>> history = model.fit(np.ones((8, 2)), np.zeros((8, 2)), batch_size=4,
        ...                     epochs=2, verbose=0, callbacks=[NFELogger()])
        >>> sorted(key for key in history.history if key.startswith("nfe"))
        ['nfe_backward', 'nfe_forward']
        >>> history.history["nfe_forward"][0] >= 6  # dopri5: six evaluations a step or more
        True
    """

    def __init__(self, per_batch=False, blocks=None):
        super().__init__()
        if not isinstance(per_batch, bool):
            raise TypeError("`per_batch` must be True or False. "
                            f"Received: per_batch={per_batch!r}")
        self.per_batch = per_batch
        self._given_blocks = None if blocks is None else _check_blocks(blocks)
        self._keys = {}
        self._reset_epoch()

    def _reset_epoch(self):
        self._start = None  # counts at the start of the epoch
        self._end = None  # counts after the epoch's last training batch, once known
        self._last = None  # counts after the previous batch (per_batch only)
        self._last_step = -1  # index of the last step run in this epoch

    @property
    def blocks(self):
        """The reported blocks, in order (known once training has started)."""
        return list(self._keys)

    def on_train_begin(self, logs=None):
        """Finds the blocks and names their log keys."""
        blocks = self._given_blocks or find_ode_blocks(self.model)
        if not blocks:
            raise ValueError(
                "NFELogger found no ODEBlock in the model "
                f"{getattr(self.model, 'name', self.model)!r}. Pass the blocks as "
                "NFELogger(blocks=[...]) or drop the callback.")
        names = [block.name for block in blocks]
        if len(set(names)) < len(names):
            raise ValueError("NFELogger needs distinct block names for its log keys. "
                             f"Received: {names}")
        prefix = len(blocks) > 1
        self._keys = {block: {count: f"{block.name}/{count}" if prefix else count
                              for count in _COUNTS} for block in blocks}

    def _read(self):
        return {block: {count: getattr(block, count) for count in _COUNTS}
                for block in self._keys}

    def _per_step(self, before, after, steps, logs):
        for block, keys in self._keys.items():
            for count, key in keys.items():
                logs[key] = (after[block][count] - before[block][count]) / steps

    def on_epoch_begin(self, epoch, logs=None):
        """Reads the counters at the start of the epoch."""
        self._reset_epoch()
        self._start = self._read()
        self._last = self._start

    def on_train_batch_end(self, batch, logs=None):
        """Counts the steps; with ``per_batch``, adds the batch's figures to ``logs``."""
        steps = batch - self._last_step
        self._last_step = batch
        if self.per_batch and self._start is not None:
            now = self._read()
            if logs is not None and steps > 0:
                self._per_step(self._last, now, steps, logs)
            self._last = now

    def on_test_begin(self, logs=None):
        """Reads the counters before validation evaluates the model."""
        if self._start is not None and self._end is None:
            self._end = self._last if self.per_batch else self._read()

    def on_epoch_end(self, epoch, logs=None):
        """Adds the epoch's NFE-F and NFE-B per training batch to ``logs``."""
        if self._start is None:
            return
        end = self._end
        if end is None:
            end = self._last if self.per_batch else self._read()
        batches = self._last_step + 1
        if logs is not None and batches > 0:
            self._per_step(self._start, end, batches, logs)
        self._reset_epoch()


def find_ode_blocks(model):
    """Every ``ODEBlock`` in ``model`` (itself included), depth first, each once.

    Descends into ``layers`` of models and into the attributes of other layers
    (lists, tuples and dict values included), without Keras private API.
    """
    found, seen, stack = [], set(), [model]
    while stack:
        layer = stack.pop()
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        if isinstance(layer, ODEBlock):
            found.append(layer)
        stack.extend(reversed(_children(layer)))
    return found


def _children(layer):
    if isinstance(layer, keras.Model):
        return list(layer.layers)
    children = []
    for value in vars(layer).values():
        values = value.values() if isinstance(value, dict) else (
            value if isinstance(value, (list, tuple)) else (value,))
        children.extend(item for item in values if isinstance(item, keras.layers.Layer))
    return children


def _check_blocks(blocks):
    blocks = list(blocks)
    wrong = [block for block in blocks if not isinstance(block, ODEBlock)]
    if not blocks or wrong:
        raise TypeError(
            "`blocks` must be a non-empty list of ODEBlock layers. Received: "
            f"{[type(block).__name__ for block in blocks]}")
    return blocks
