"""``ODEBlock``: a Keras layer whose output is the solution of an ODE started at its input."""


import keras
import tensorflow as tf

from ode_keras import _checks, _layer_args
from ode_keras._keras_private import has_single_shape_build
from ode_keras.adjoint import odeint_adjoint
from ode_keras.odeint import odeint
from ode_keras.stats import SolverCounter


@keras.saving.register_keras_serializable(package="ode_keras")
class ODEBlock(keras.layers.Layer):
    """Integrates ``dy/dt = odefunc(t, y)`` from ``y(t[0]) = inputs`` to ``t[-1]``.

    The continuous-depth block of Chen et al. (2018): where a residual network
    computes ``y + f(y)``, an ``ODEBlock`` returns ``y(t[-1])``, with ``f``
    given by ``odefunc`` and the number of steps chosen by the solver.
    Gradients come from the adjoint method in memory independent of the
    number of steps (``gradient="adjoint"``, the default, exact only up to the
    solver's tolerances), from backpropagation through the solver's operations
    (``"backprop"``), or from checkpointed backpropagation (``"checkpoint"``:
    the same exact gradients in bounded memory, fast under XLA).

    The block keeps running counts of function evaluations: ``nfe_forward``
    (NFE-F, every solve of every call, training or not) and ``nfe_backward``
    (NFE-B, evaluations of the augmented dynamics in adjoint backward solves;
    always 0 unless ``gradient="adjoint"``). Under a ``tf.distribute`` strategy each
    replica counts its own solves and the counts read as the sum over
    replicas; divide by ``strategy.num_replicas_in_sync`` for a per-replica
    figure. The counts are exact non-trainable int64 weights, so they are saved
    with the model.

    Args:
        odefunc: A ``keras.layers.Layer`` or subclassed ``keras.Model`` whose
            ``call(t, y)`` returns ``dy/dt`` with the shape and dtype of ``y``;
            ``t`` is passed as a scalar tensor. The block builds it with the
            state's shape: a ``build(input_shape)`` of one argument receives the
            shape of ``y``; a ``build(t_shape, y_shape)`` receives both. To be
            saved and loaded it must be serialisable (registered with
            ``keras.saving.register_keras_serializable``, with a ``get_config``).
        t: Times, strictly increasing or strictly decreasing, at least two.
            The block integrates from ``t[0]`` to ``t[-1]``; the times between
            are output times for ``return_sequences=True``. Defaults to
            ``(0.0, 1.0)``.
        method: A name from :data:`ode_keras.SOLVERS`. Defaults to ``"dopri5"``.
        rtol: Relative tolerance of adaptive methods. Defaults to ``1e-3``.
        atol: Absolute tolerance of adaptive methods. Defaults to ``1e-3``.
        adjoint: Shorthand kept from earlier versions: True means
            ``gradient="adjoint"``, False ``gradient="backprop"``. Ignored when
            ``gradient`` is given. Defaults to True.
        options: Solver options as a plain dict, as for :func:`ode_keras.odeint`:
            ``step_size`` (or ``grid``) for fixed-step methods; ``first_step``,
            ``min_step``, ``max_step`` for adaptive ones; ``max_num_steps`` for
            all. A custom ``norm`` (a callable) is refused: the options are
            part of the layer's JSON config. With ``jit_compile=True`` and
            ``gradient="backprop"``, backpropagation through the solver
            reserves room for ``max_num_steps`` steps (default 4096), which
            makes every training step slow: set it near what the solve needs,
            e.g. ``{"max_num_steps": 1000}``, or use ``gradient="checkpoint"``.
            Defaults to None.
        return_sequences: Return the state at every time in ``t`` (including
            ``t[0]``, where it equals the input) instead of only the last one.
            Defaults to False.
        time_major: With ``return_sequences``, the layout of the output: True
            puts time first, ``[len(t), batch, ...]``, as ``odeint`` does; False
            puts it second, ``[batch, len(t), ...]``, as Keras recurrent layers
            do (use this when the output meets per-sample targets in
            ``model.fit`` or is split across replicas). Defaults to True.
        gradient: ``"adjoint"`` (:func:`ode_keras.odeint_adjoint`), ``"backprop"``
            or ``"checkpoint"`` (:func:`ode_keras.odeint` with that ``gradient``).
            Defaults to None: ``adjoint`` decides.
        adjoint_options: Options of the backward solve when ``gradient="adjoint"``,
            e.g. ``{"norm": "seminorm"}`` (Kidger et al. 2021: fewer backward
            steps for the same gradients). Defaults to None (the forward
            ``options``).
        **kwargs: Base layer keyword arguments (``name``, ``dtype``, ...).

    Call arguments:
        inputs: The initial state.
        training: Passed on to every evaluation of ``odefunc``, forward and
            backward (dropout or normalisation layers inside it).

    Input shape:
        A floating tensor ``[batch, ...]``: the initial state ``y(t[0])``.

    Output shape:
        The input's shape; with ``return_sequences=True``,
        ``[len(t), batch, ...]`` (``time_major=True``) or
        ``[batch, len(t), ...]`` (``time_major=False``).

    Raises:
        TypeError, ValueError: For invalid arguments, in ``__init__``; for an
            ``odefunc`` whose output does not match the state, in ``build``.

    Example:
        >>> import keras, numpy as np
        >>> @keras.saving.register_keras_serializable(package="doc")
        ... class Decay(keras.layers.Layer):
        ...     def call(self, t, y):
        ...         return -y
        >>> block = ODEBlock(Decay(), t=(0.0, 1.0), rtol=1e-6, atol=1e-6)
        >>> y1 = block(np.ones((2, 3), "float32"))
        >>> np.round(np.asarray(y1)[0], 4)  # exp(-1)
        array([0.3679, 0.3679, 0.3679], dtype=float32)
        >>> block.nfe_forward > 0, block.nfe_backward
        (True, 0)
    """

    def __init__(self, odefunc, t=(0.0, 1.0), method="dopri5", rtol=1e-3, atol=1e-3,
                 adjoint=True, options=None, return_sequences=False, time_major=True,
                 adjoint_options=None, gradient=None, **kwargs):
        super().__init__(**kwargs)
        self.odefunc = _layer_args.check_odefunc(odefunc)
        self._t = _layer_args.check_times(t)
        self.method = _layer_args.check_method(method)
        self.rtol = _layer_args.check_tolerance("rtol", rtol)
        self.atol = _layer_args.check_tolerance("atol", atol)
        self.gradient = _layer_args.check_gradient(gradient, adjoint)
        self.adjoint = self.gradient == "adjoint"
        self.return_sequences = _layer_args.check_flag("return_sequences", return_sequences)
        self.time_major = _layer_args.check_flag("time_major", time_major)
        self._options = _layer_args.check_options("options", method, options,
                                                  backward=False)
        if adjoint_options is not None and not self.adjoint:
            raise ValueError(
                "Received an invalid value for `adjoint_options`: it configures the adjoint "
                f"backward solve, so it needs gradient='adjoint'. Received: gradient="
                f"{self.gradient!r}, adjoint_options={adjoint_options!r}. Drop it or set "
                "gradient='adjoint'."
            )
        self._adjoint_options = _layer_args.check_options(
            "adjoint_options", method, adjoint_options, backward=True)
        self._nfe_forward = self._counter_variable("nfe_forward")
        self._nfe_backward = self._counter_variable("nfe_backward")

    def _counter_variable(self, name):
        # Metrics' recipe for tf.distribute: each replica adds to its own copy
        # (no cross-replica traffic inside the train step, nor inside the
        # gradient function), and reading outside the step sums the copies.
        # int64: exact counts, and no floating weight for mixed precision to
        # expect in float32.
        with keras.name_scope(self.name, caller=self):
            return _Count(0, dtype="int64", trainable=False, autocast=False,
                          aggregation="sum", synchronization="on_read", name=name)

    @property
    def t(self):
        """The times, as a tuple of floats."""
        return self._t

    @property
    def options(self):
        """The forward solver options, as a new dict (or None)."""
        return _as_dict(self._options)

    @property
    def adjoint_options(self):
        """The backward solver options, as a new dict (or None)."""
        return _as_dict(self._adjoint_options)

    @property
    def nfe_forward(self):
        """Function evaluations of the forward solves so far (NFE-F), a Python int."""
        return int(self._nfe_forward.numpy())

    @property
    def nfe_backward(self):
        """Evaluations of the adjoint dynamics in backward solves so far (NFE-B), a Python int."""
        return int(self._nfe_backward.numpy())

    def reset_nfe(self):
        """Set both evaluation counts back to zero."""
        self._nfe_forward.assign(0)
        self._nfe_backward.assign(0)

    def build(self, input_shape):
        """Builds ``odefunc`` for states of ``input_shape`` and checks what it returns."""
        input_shape = tuple(input_shape)
        odefunc = self.odefunc
        if not odefunc.built and has_single_shape_build(odefunc):
            # Keras would hand a one-argument build the shape of the first call
            # argument, the scalar t; the state's shape is what it wants.
            odefunc.build(input_shape)
        # A symbolic call builds the rest (Keras traces call(t, y) in a scratch
        # graph, creating sublayers' weights) and reveals the output's shape.
        time = keras.KerasTensor((), dtype=self.compute_dtype)
        state = keras.KerasTensor(input_shape, dtype=self.compute_dtype)
        derivative = odefunc(time, state)
        if not isinstance(derivative, keras.KerasTensor) or not _compatible(
                derivative.shape, input_shape):
            got = getattr(derivative, "shape", type(derivative).__name__)
            raise ValueError(
                "`odefunc` must return dy/dt with the shape of the state y. For inputs of "
                f"shape {input_shape}, odefunc(t, y) returned {got}. Make its output size "
                "equal to its input size (e.g. a last Dense layer with as many units as y "
                "has features)."
            )

    def call(self, inputs, training=None):
        """Solves from ``inputs`` at ``t[0]``; returns the last state or every state."""
        if not inputs.dtype.is_floating:
            raise TypeError(
                "ODEBlock integrates a floating state, but received inputs of dtype "
                f"{inputs.dtype.name}. Cast them first, e.g. keras.ops.cast(x, 'float32'), or "
                "put an Embedding or Rescaling layer before the block.")
        # The solver's own time dtype (float64), so no precision is lost on the way.
        times = tf.constant(self._t, dtype=_checks.control_dtype(inputs.dtype))
        counter = SolverCounter(variables={"nfe_forward": self._nfe_forward,
                                           "nfe_backward": self._nfe_backward})
        settings = dict(method=self.method, rtol=self.rtol, atol=self.atol,
                        options=self.options)

        def field(t, y):
            # Some evaluations happen outside this call's Keras context (the
            # adjoint's backward pass runs inside tape.gradient), so `training`
            # is passed on explicitly: dropout or normalisation layers inside
            # odefunc then behave alike in every forward and backward evaluation.
            # odefunc may compute in another dtype than the block (its own dtype policy,
            # e.g. float32 under a block with dtype="mixed_float16"): the solver needs
            # dy/dt in the state's dtype (a no-op cast when they agree).
            return tf.cast(self.odefunc(t, y, training=training), y.dtype)

        if self.adjoint:
            states = odeint_adjoint(
                field, inputs, times, **settings,
                adjoint_params=self.odefunc.trainable_variables,
                adjoint_options=self.adjoint_options, counter=counter)
        else:
            states, stats = odeint(field, inputs, times, **settings, return_stats=True,
                                   gradient=self.gradient)
            counter.record_forward(stats)
        if not self.return_sequences:
            return states[-1]
        if self.time_major:
            return states
        rank = len(states.shape)
        return tf.transpose(states, [1, 0, *range(2, rank)])

    def compute_output_shape(self, input_shape):
        """The input's shape, with the time axis added for ``return_sequences``."""
        input_shape = tuple(input_shape)
        if not self.return_sequences:
            return input_shape
        if self.time_major:
            return (len(self._t), *input_shape)
        return (input_shape[0], len(self._t), *input_shape[1:])

    def get_config(self):
        """The constructor's arguments, with ``odefunc`` serialised; JSON-friendly."""
        odefunc = keras.saving.serialize_keras_object(self.odefunc)
        # The block builds odefunc itself (see build); odefunc's own build
        # record would describe the scalar t for a default build.
        odefunc.pop("build_config", None)
        config = {
            "odefunc": odefunc,
            "t": list(self._t),
            "method": self.method,
            "rtol": self.rtol,
            "atol": self.atol,
            "adjoint": self.adjoint,
            "gradient": self.gradient,
            "options": _as_dict(self._options, lists=True),
            "return_sequences": self.return_sequences,
            "time_major": self.time_major,
            "adjoint_options": _as_dict(self._adjoint_options, lists=True),
        }
        return {**super().get_config(), **config}

    @classmethod
    def from_config(cls, config):
        """Creates a block from :meth:`get_config`'s output."""
        config = dict(config)
        config["odefunc"] = keras.saving.deserialize_keras_object(config["odefunc"])
        return cls(**config)


class _Count(keras.Variable):
    """An int64 count whose copies, one per replica under tf.distribute, add up.

    Assigning a total outside the replicas (loading a saved model, ``set_weights``,
    a reset) would give every copy ``total / replicas``, truncated for an int: the
    total is shared out exactly instead, the remainder going to the first copies.
    """

    def assign(self, value):
        copies = self.value
        replica = tf.distribute.get_replica_context()  # None in a strategy's scope
        if not isinstance(copies, tf.distribute.DistributedValues) or (
                replica is not None and replica.strategy is copies.distribute_strategy):
            return super().assign(value)  # one variable, or one replica's own copy
        total = tf.cast(value, tf.int64)
        share, remainder = total // len(copies.values), total % len(copies.values)
        for index, copy in enumerate(copies.values):
            copy.assign(share + tf.cast(remainder > index, tf.int64))
        return total


def _compatible(shape, expected):
    return len(shape) == len(expected) and all(
        a is None or b is None or a == b for a, b in zip(shape, expected))


def _as_dict(items, lists=False):
    if items is None:
        return None
    return {key: list(value) if lists and isinstance(value, tuple) else value
            for key, value in items}
