"""Input preprocessing by name or by numbers: ``--preprocess caffe`` or ``--preprocess
"scale=1/255,mean=0.485,0.456,0.406,std=0.229,0.224,0.225"``.

A custom preprocessing computes, per channel, ``(x * scale - mean) / std`` on RGB images
0-255: torchvision-style models take ``scale=1/255`` and ImageNet's mean and std in [0, 1]
units; EfficientNet-Lite takes ``mean=127,std=128``. A single ``mean`` or ``std`` value is used
for every channel. The named modes are those of ``names.PREPROCESSING``.

Parsing imports nothing heavy, so the command line rejects a bad ``--preprocess`` at once.
"""

import dataclasses
import fractions

import numpy as np

from gradcam_keras.errors import InputError
from gradcam_keras.names import PREPROCESSING

SYNTAX = "scale=S,mean=M[,M,M],std=S[,S,S]"
EXAMPLE = "scale=1/255,mean=0.485,0.456,0.406,std=0.229,0.224,0.225"
_KEYS = ("scale", "mean", "std")


@dataclasses.dataclass(frozen=True)
class Normalization:
    """``(x * scale - mean) / std`` per channel, on float images 0-255.

    Attributes:
        scale: multiplies the 0-255 values first.
        mean: one value, or one per channel.
        std: one value, or one per channel (all > 0).
        text: how it was written, shown in reports.
    """

    scale: float = 1.0
    mean: tuple = (0.0,)
    std: tuple = (1.0,)
    text: str = ""

    def __call__(self, images):
        """Return the normalised float32 images (a new array)."""
        images = np.asarray(images, dtype=np.float32)
        mean = np.asarray(self.mean, np.float32)
        std = np.asarray(self.std, np.float32)
        if mean.size not in (1, images.shape[-1]) or std.size not in (1, images.shape[-1]):
            raise InputError(f"--preprocess {self.text!r} gives {mean.size} mean and "
                             f"{std.size} std values for images with {images.shape[-1]} "
                             "channels; give one value, or one per channel")
        return ((images * np.float32(self.scale) - mean) / std).astype(np.float32)


def parse_preprocessing(text):
    """Return a named mode (str) or a ``Normalization`` for a ``--preprocess`` value.

    Args:
        text: one of ``PREPROCESSING``, or ``"scale=S,mean=M[,M,M],std=S[,S,S]"`` (any of
            the three keys may be left out: scale 1, mean 0, std 1; numbers may be written
            as fractions, ``1/255``).

    Returns:
        the mode name, or a ``Normalization``.

    Raises:
        InputError: an unknown name or key, a number that does not parse, a std <= 0.

    Example:
        >>> parse_preprocessing("mean=127,std=128")(np.array([[[255.0, 127.0, -1.0]]]))
        array([[[ 1.,  0., -1.]]], dtype=float32)
    """
    text = str(text).strip()
    if text in PREPROCESSING:
        return text
    if "=" not in text:
        raise _bad(text, "an unknown name")
    values = {}
    key = None
    for token in (t.strip() for t in text.split(",")):
        if "=" in token:
            key, token = (part.strip() for part in token.split("=", 1))
            if key not in _KEYS or key in values:
                raise _bad(text, f"{'a repeated' if key in values else 'an unknown'} key "
                                 f"{key!r}")
            values[key] = []
        if key is None:
            raise _bad(text, f"{token!r} comes before any key")
        values[key].append(_number(token, text))
    return _normalization(values, text)


def _normalization(values, text):
    scale = values.get("scale", [1.0])
    if len(scale) != 1 or scale[0] == 0:
        raise _bad(text, "scale must be one non-zero number")
    std = tuple(values.get("std", [1.0]))
    if any(s <= 0 for s in std):
        raise _bad(text, "every std must be > 0")
    return Normalization(scale[0], tuple(values.get("mean", [0.0])), std,
                         text.replace(" ", ""))


def _number(token, text):
    try:
        return float(fractions.Fraction(token))
    except (ValueError, ZeroDivisionError):
        raise _bad(text, f"{token!r} is not a number") from None


def _bad(text, reason):
    return InputError(f"--preprocess {text!r}: {reason}; expected one of "
                      f"{', '.join(PREPROCESSING)}, or {SYNTAX} (e.g. \"{EXAMPLE}\")")


def has_input_normalization(model):
    """Whether ``model`` rescales or normalises its input before its first weighted layer.

    Looks at the layers from the input up to the first convolution or dense layer for a
    ``Rescaling`` or ``Normalization`` layer (nested models searched).
    """
    import keras

    from gradcam_keras.layer_paths import CONV_TYPES, walk_layers

    for ref in walk_layers(model):
        if isinstance(ref.layer, (keras.layers.Rescaling, keras.layers.Normalization)):
            return True
        if isinstance(ref.layer, (*CONV_TYPES, keras.layers.Dense)):
            return False
    return False
