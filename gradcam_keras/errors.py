"""What gradcam_keras raises for problems in what the user passed, and the checks that raise it.

Each kind of argument is checked by one function here (``is_int``, ``check_positive_int``), so
every message about it reads the same.
"""

import numbers


class InputError(ValueError):
    """A problem with an argument or input that the user can fix.

    It is a ``ValueError``, so callers can catch either. The command line tool
    turns it into exit status 2 and prints its message as one line.

    Example:
        >>> try:
        ...     raise InputError("--layer 'fc9' is unknown; use --list-layers")
        ... except ValueError as error:
        ...     print(error)
        --layer 'fc9' is unknown; use --list-layers
    """


class ZeroMapWarning(UserWarning):
    """A class-activation map is zero everywhere.

    The ReLU in ``ReLU(sum_k alpha_k A^k)`` removed every location: the layer
    holds no positive evidence for the class. The map is returned as zeros
    (normalising it gives zeros, never NaN).
    """


def is_int(value):
    """Whether ``value`` is an integer (Python or numpy), and not a bool.

    Example:
        >>> is_int(3), is_int(True), is_int(3.0)
        (True, False, False)
    """
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_positive_int(value, name, meaning="", error=InputError):
    """Return ``int(value)``, or raise ``error`` naming ``name`` unless it is a positive int.

    Args:
        value: what the user passed.
        name: the argument's name, quoted in the message.
        meaning: what the number counts, added to the message (e.g. "images per pass").
        error: the exception type raised. Defaults to ``InputError``.

    Example:
        >>> check_positive_int(0, "batch_size")
        Traceback (most recent call last):
        ...
        gradcam_keras.errors.InputError: `batch_size` must be a positive int, got 0
    """
    if not is_int(value) or value < 1:
        what = f" ({meaning})" if meaning else ""
        raise error(f"`{name}` must be a positive int{what}, got {value!r}")
    return int(value)
