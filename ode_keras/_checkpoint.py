"""Exact gradients of a solve in bounded memory: checkpoint the step loop, replay it backwards.

Backpropagating through the solver's ``tf.while_loop`` keeps every intermediate of every step
(under XLA, for ``max_num_steps`` steps whatever the solve takes). Here the forward solve keeps
only the loop state at a few steps, in ``num_slots`` slots: every step while they last, then,
each time they fill up, every other one is dropped and the stride doubles (online thinning),
so at the end the checkpoints are ``stride`` steps apart with ``num_steps <= num_slots *
stride``. The backward pass takes the segments between checkpoints last to first: it re-runs
a segment from its checkpoint, keeping each step's state, then walks back through it, taking
one step again under a tape and pulling the cotangent of its result back to its start.

A step is a pure function of its state (the step size and controller state included), so the
replayed steps are the forward's and the gradient is the one backpropagation through the
solver gives, to round-off, at a memory cost of ``num_slots + stride`` states: with the
default ``num_slots = sqrt(max_num_steps)``, at most about ``2 sqrt(max_num_steps)`` states,
however many steps the solve takes. Time: each step is run twice more in the backward pass
(replay and tape), once when all steps fit in the slots.

Each step's outputs enter through :class:`~ode_keras._outputs.Projection`: replayed under
the tape, a step adds ``<dL/dys[i], ys[i]>`` for the outputs it writes, so the cotangents of
the outputs flow into the step that produced them.
"""

import collections
import math

import tensorflow as tf

from ode_keras import _outputs, _step_callbacks, _stepping

_Book = collections.namedtuple("_Book", "slots slot_step stride num_steps")
_Book.__doc__ = """The checkpoints of a solve, as loop variables.

``slots`` holds the states (one buffer per dtype, a row per slot, plus a spare row that
takes the states off the stride); ``slot_step[i]`` is the step whose state row ``i`` holds,
or -1 when free. Thinning frees rows rather than moving them, so no step copies the buffers.
"""


def default_num_slots(max_iterations):
    """``sqrt(max_iterations)``, even and at least 2: slots and segments of about equal size."""
    return max(2, 2 * math.ceil(math.sqrt(max_iterations) / 2))


def integrate(stepper, y0, f0, t_out, params, num_slots=None):
    """Like :func:`ode_keras._stepping.run`, with the checkpointed gradient.

    Args:
        stepper: The solve, a :class:`~ode_keras._stepping.Stepper`.
        y0, f0: Initial state and ``func(t_out[0], y0)``, tuples of tensors.
        t_out: Increasing output times.
        params: The variables ``func`` reads that get gradients.
        num_slots: Checkpoint slots (even, >= 2); defaults to :func:`default_num_slots`.

    Returns:
        ``(ys, t_reached, stats)`` as ``run``; ``ys`` is differentiable with respect to
        ``y0``, ``f0``, ``t_out`` and ``params``.
    """
    num_state, captured = len(y0), {}

    @tf.custom_gradient
    def solve(*inputs):
        y0, f0, t_out = inputs[:num_state], inputs[num_state:2 * num_state], inputs[2 * num_state]
        ys, t_reached, stats, book, structure = _stepping.run_unrecorded(
            lambda: _forward(stepper, y0, f0, t_out, num_slots))
        captured.update(t_reached=t_reached, stats=stats)

        def grad(*grad_ys, variables=None):
            grad_ys = tuple(tf.zeros_like(y) if g is None else g for y, g in zip(ys, grad_ys))
            with _step_callbacks.muted():  # replayed steps were reported once already
                grads = _backward(stepper, structure, y0, f0, t_out, params, book, grad_ys)
            # Variables func reads get their gradients through `params`, given explicitly.
            return grads, [None] * len(variables or ())

        return ys, grad

    ys = solve(*y0, *f0, t_out, *params)
    return tuple(ys), captured["t_reached"], captured["stats"]


# ---------------------------------------------------------------------------
#  Forward: the solve, with checkpoints
# ---------------------------------------------------------------------------

def _forward(stepper, y0, f0, t_out, num_slots):
    plan = stepper.make_plan(t_out)
    state, info = stepper.start(plan, y0, f0)
    max_iterations = stepper.max_iterations(plan)
    num_slots = num_slots or default_num_slots(max_iterations)
    # One slot more than kept: steps off the stride are written there, unconditionally,
    # which costs less than a conditional write of the buffers every step.
    layout = _Layout(_leaves(state))
    book = _Book(layout.buffers(num_slots + 1, _leaves(state)),
                 -tf.ones([num_slots + 1], tf.int32), 1, 0)

    def body(s, book):
        return stepper.advance(plan, s), _record(layout, book, s)

    final, book = tf.while_loop(lambda s, _: stepper.keep_going(plan, s), body, (state, book),
                                maximum_iterations=max_iterations)
    ys, t_reached, stats = stepper.finish(plan, final, y0, info)
    # The first state, for its structure: the backward pass packs leaves into it.
    return ys, t_reached, stats, book, (state._replace(outputs=()), layout)


def _record(layout, book, state):
    """Keep ``state`` (the state before step ``book.num_steps``) if it falls on the stride."""
    num_slots, step = _num_slots(book), book.num_steps
    kept = book.slot_step >= 0
    # Full: free every other checkpoint and double the stride. The step is then
    # num_slots * stride, a multiple of the new stride, so its state is kept.
    thin = tf.reduce_all(kept[:num_slots]) & tf.equal(step % book.stride, 0)
    stride = tf.where(thin, 2 * book.stride, book.stride)
    slot_step = tf.where(thin & kept & (book.slot_step % stride != 0), -1, book.slot_step)
    on_stride = tf.equal(step % stride, 0)
    free = tf.argmax(tf.cast(slot_step[:num_slots] < 0, tf.int32), output_type=tf.int32)
    row = tf.where(on_stride, free, num_slots)
    slots = layout.write(book.slots, row, _leaves(state))
    slot_step = tf.tensor_scatter_nd_update(slot_step, [[row]],
                                            [tf.where(on_stride, step, -1)])
    return _Book(slots, slot_step, stride, step + 1)


def _checkpoint_row(book, k):
    """The row holding the ``k``-th checkpoint, the state before step ``k * stride``."""
    return tf.argmax(tf.cast(tf.equal(book.slot_step, k * book.stride), tf.int32),
                     output_type=tf.int32)


def _num_slots(book):
    """The checkpoints a book keeps (its buffers hold one more, the spare)."""
    return book.slots[0].shape[0] - 1


# ---------------------------------------------------------------------------
#  Backward: segments last to first, each replayed, then its steps in reverse
# ---------------------------------------------------------------------------

_Adjoint = collections.namedtuple("_Adjoint", "state plan params")


def _backward(stepper, structure, y0, f0, t_out, params, book, grad_ys):
    """Gradients for ``(*y0, *f0, t_out, *params)``."""
    template, layout = structure
    plan = stepper.make_plan(t_out)
    step = _StepVJP(stepper, plan, template, params, grad_ys)
    diff = step.diff
    adjoint = _Adjoint(tuple(tf.zeros_like(v) for v, d in zip(_leaves(template), diff) if d),
                       tuple(tf.zeros_like(v) for v in _float_leaves(plan)),
                       tuple(tf.zeros_like(p) for p in params))
    segment_length = _segment_buffer_length(book, stepper.max_iterations(plan))

    num_slots = _num_slots(book)

    def segment(k, adjoint):
        first = k * book.stride
        length = tf.minimum(book.stride, book.num_steps - first)
        checkpoint = layout.read(book.slots, _checkpoint_row(book, k))
        states = _replay(layout, step, checkpoint, length, segment_length)

        def back(j, adjoint):
            return j - 1, step(layout.read(states, j), adjoint)

        _, adjoint = tf.while_loop(lambda j, _: j >= 0, back, (length - 1, adjoint),
                                   maximum_iterations=segment_length)
        return k - 1, adjoint

    def every_step_kept(k, adjoint):
        return k - 1, step(layout.read(book.slots, _checkpoint_row(book, k)), adjoint)

    def walk_back(body):
        count = (book.num_steps + book.stride - 1) // book.stride
        return tf.while_loop(lambda k, _: k >= 0, body, (count - 1, adjoint),
                             maximum_iterations=num_slots)[1]

    # While the slots held every step (stride 1, the common case of a short solve), the
    # states are at hand: one loop, no segments to replay.
    adjoint = tf.cond(tf.equal(book.stride, 1), lambda: walk_back(every_step_kept),
                      lambda: walk_back(segment))
    return (*_start_gradients(stepper, y0, f0, t_out, adjoint, diff, grad_ys),
            *adjoint.params)


def _segment_buffer_length(book, max_iterations):
    """The longest segment possible: the stride once ``max_iterations`` steps are recorded."""
    num_slots = _num_slots(book)
    stride = 1
    while num_slots * stride < max_iterations:
        stride *= 2
    return stride


def _replay(layout, step, checkpoint, length, buffer_length):
    """The states before each of the ``length`` steps that follow ``checkpoint``."""
    states = layout.write(layout.buffers(buffer_length, checkpoint), 0, checkpoint)

    def body(j, leaves, states):
        leaves = _leaves(step.advance(leaves))
        return j + 1, leaves, layout.write(states, j, leaves)

    _, _, states = tf.while_loop(lambda j, *_: j < length, body, (1, checkpoint, states),
                                 maximum_iterations=buffer_length)
    return states


class _StepVJP:
    """One step, as a function of flat state leaves, and its vector-Jacobian product."""

    def __init__(self, stepper, plan, template, params, grad_ys):
        self.stepper, self.plan, self.template = stepper, plan, template
        self.params, self.grad_ys = params, grad_ys
        self.diff = [v.dtype.is_floating for v in _leaves(template)]

    def advance(self, leaves):
        """The state after one step from ``leaves`` (outputs projected on ``grad_ys``)."""
        state = _pack(self.template, leaves, _outputs.Projection.zero(self.grad_ys))
        return self.stepper.advance(self.plan, state)

    def __call__(self, leaves, adjoint):
        """Pull ``adjoint`` (of the state after the step) back to the state before it."""
        sources = [v for v, d in zip(leaves, self.diff) if d]
        plan_leaves = _float_leaves(self.plan)
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(sources)
            tape.watch(plan_leaves)
            tape.watch(self.params)
            after = self.advance(leaves)
        targets = [after.outputs.total] + [
            v for v, d in zip(_leaves(after), self.diff) if d]
        gradients = tape.gradient(
            targets, [sources, plan_leaves, list(self.params)],
            output_gradients=[tf.ones_like(targets[0]), *adjoint.state],
            unconnected_gradients=tf.UnconnectedGradients.ZERO)
        state, plan, params = gradients
        return _Adjoint(tuple(state),
                        tuple(a + g for a, g in zip(adjoint.plan, plan)),
                        tuple(a + tf.convert_to_tensor(g) for a, g in zip(adjoint.params, params)))


def _start_gradients(stepper, y0, f0, t_out, adjoint, diff, grad_ys):
    """Pull the adjoint of the first state and of the plan back to ``y0``, ``f0``, ``t_out``."""
    with tf.GradientTape(watch_accessed_variables=False) as tape:
        tape.watch([y0, f0, t_out])
        plan = stepper.make_plan(t_out)
        state, _ = stepper.start(plan, y0, f0)
    for array in state.outputs:
        if hasattr(array, "mark_used"):  # eager arrays warn when unused; graph ones do not
            array.mark_used()
    targets = [v for v, d in zip(_leaves(state), diff) if d] + _float_leaves(plan)
    grad_y0, grad_f0, grad_t = tape.gradient(
        targets, [list(y0), list(f0), t_out], output_gradients=[*adjoint.state, *adjoint.plan],
        unconnected_gradients=tf.UnconnectedGradients.ZERO)
    # ys[0] is y0 itself, written by `start`.
    grad_y0 = [g + cot[0] for g, cot in zip(grad_y0, grad_ys)]
    return (*grad_y0, *grad_f0, grad_t)


# ---------------------------------------------------------------------------
#  States as flat tuples of tensors
# ---------------------------------------------------------------------------

def _leaves(state):
    """The state's tensors, without its outputs, in a fixed order."""
    return tuple(tf.convert_to_tensor(v) for v in tf.nest.flatten(state._replace(outputs=())))


def _pack(template, leaves, outputs):
    return tf.nest.pack_sequence_as(template._replace(outputs=()), list(leaves))._replace(
        outputs=outputs)


def _float_leaves(plan):
    return [v for v in tf.nest.flatten(plan) if tf.is_tensor(v) and v.dtype.is_floating]


class _Layout:
    """How a state's leaves lie in one flat vector per dtype.

    Checkpoints store states as rows of one buffer per dtype: one write per step instead
    of one per leaf, which matters when a step is only a few microseconds of work.
    Leaves may have dimensions unknown when tracing (a Keras model's batch of None).
    """

    def __init__(self, leaves):
        self.dtypes = list(dict.fromkeys(v.dtype for v in leaves))
        self.groups = [self.dtypes.index(v.dtype) for v in leaves]
        self.static_shapes = [v.shape for v in leaves]
        self.shapes = [v.shape if v.shape.is_fully_defined() else tf.shape(v) for v in leaves]

    def pack(self, leaves):
        """One flat vector per dtype."""
        return tuple(tf.concat([tf.reshape(v, [-1]) for v, g in zip(leaves, self.groups)
                                if g == group], 0) for group in range(len(self.dtypes)))

    def unpack(self, vectors):
        """The leaves back from :meth:`pack`'s vectors."""
        offsets, leaves = [0] * len(self.dtypes), []
        for group, shape, static in zip(self.groups, self.shapes, self.static_shapes):
            size = (static.num_elements() if static.is_fully_defined()
                    else tf.reduce_prod(shape))
            leaf = tf.reshape(vectors[group][offsets[group]:offsets[group] + size], shape)
            leaf.set_shape(static)
            leaves.append(leaf)
            offsets[group] += size
        return tuple(leaves)

    def buffers(self, length, leaves):
        """Zero buffers of ``length`` rows for states like ``leaves``."""
        return tuple(tf.zeros_like(tf.tile(v[None], [length, 1])) for v in self.pack(leaves))

    def write(self, buffers, index, leaves):
        """``buffers`` with row ``index`` set to ``leaves``."""
        return tuple(tf.tensor_scatter_nd_update(b, [[index]], v[None])
                     for b, v in zip(buffers, self.pack(leaves)))

    def read(self, buffers, index):
        """The leaves stored in row ``index``."""
        return self.unpack(tuple(b[index] for b in buffers))
