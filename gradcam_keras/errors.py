"""Exceptions and warnings that gradcam_keras raises for problems in what the user passed."""


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
