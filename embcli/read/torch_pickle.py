"""A restricted unpickler for ``torch.save``'s ``data.pkl``: tensor names to storages, no code.

A PyTorch checkpoint's pickle describes a state dict: plain containers (dicts, ``OrderedDict``,
lists, tuples, strings, numbers) whose tensors are calls of ``torch._utils._rebuild_tensor_v2``
on a *persistent id* naming a storage (``("storage", torch.FloatStorage, "0", "cpu", numel)``).
Unpickling with torch runs those calls; here every global a state dict may name is resolved to a
stand-in that only records its arguments, and any other global (``os.system``,
``builtins.eval``, a model's own classes) stops the unpickling at once, naming it. Python's
``pickle`` reaches code only through globals (``find_class``) and persistent ids
(``persistent_load``), so a pickle refused here has run nothing.

torch's own ``weights_only`` unpickler (``torch/_weights_only_unpickler.py``) allows more
(sparse and quantised tensors, ``torch.Size``, ``_codecs.encode`` for bytes); an embedding table
needs none of it, and this one needs no torch at all. The storage classes are the typed ones
``torch.save`` writes (``FloatStorage``, ``HalfStorage``, ``BFloat16Storage``...) and
``UntypedStorage`` (bytes) with the dtype given to ``_rebuild_tensor_v3`` (uint16 to 64, the
float8 kinds...); dtypes embcli cannot read as a table are still listed, so a checkpoint that
holds a few such tensors beside a float table is read.
"""

from __future__ import annotations

import _compat_pickle
import pickle
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from embcli.errors import EmbcliError

#: torch dtype name -> (dtype as embcli spells it: safetensors' names, bytes per element)
DTYPES: dict[str, tuple[str, int]] = {
    "float64": ("F64", 8),
    "float32": ("F32", 4),
    "float16": ("F16", 2),
    "bfloat16": ("BF16", 2),
    "int64": ("I64", 8),
    "int32": ("I32", 4),
    "int16": ("I16", 2),
    "int8": ("I8", 1),
    "uint8": ("U8", 1),
    "bool": ("BOOL", 1),
    "complex128": ("C128", 16),
    "complex64": ("C64", 8),
    # dtypes ``torch.save`` writes through ``_rebuild_tensor_v3`` and an untyped storage
    "uint16": ("U16", 2),
    "uint32": ("U32", 4),
    "uint64": ("U64", 8),
    "complex32": ("C32", 4),
    "float8_e4m3fn": ("F8_E4M3", 1),
    "float8_e5m2": ("F8_E5M2", 1),
    "float8_e4m3fnuz": ("F8_E4M3FNUZ", 1),
    "float8_e5m2fnuz": ("F8_E5M2FNUZ", 1),
    "float8_e8m0fnu": ("F8_E8M0", 1),
    "float4_e2m1fn_x2": ("F4_E2M1_X2", 1),
}
#: torch storage class -> torch dtype name
STORAGES = {
    "DoubleStorage": "float64",
    "FloatStorage": "float32",
    "HalfStorage": "float16",
    "BFloat16Storage": "bfloat16",
    "LongStorage": "int64",
    "IntStorage": "int32",
    "ShortStorage": "int16",
    "CharStorage": "int8",
    "ByteStorage": "uint8",
    "BoolStorage": "bool",
    "ComplexDoubleStorage": "complex128",
    "ComplexFloatStorage": "complex64",
    "UntypedStorage": "uint8",  # bytes; the tensor's dtype comes with _rebuild_tensor_v3
}


class Refused(Exception):
    """The pickle asked for something beyond tensors and plain containers."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


@dataclass(frozen=True)
class DType:
    """A storage class or a torch dtype, as the pickle names it: what one element is."""

    name: str  # embcli's spelling ("F32", "BF16", "U16"...)
    itemsize: int


@dataclass(frozen=True)
class Storage:
    """One ``data/<key>`` record of the archive: ``numel`` elements of ``dtype``."""

    key: str
    dtype: DType
    numel: int

    @property
    def nbytes(self) -> int:
        return self.numel * self.dtype.itemsize


@dataclass(frozen=True)
class Tensor:
    """A tensor as the pickle describes it: a view of a storage, counted in its own elements."""

    storage: Storage
    dtype: DType
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]

    @property
    def row_major(self) -> bool:
        """Contiguous in C order (what reading rows by byte range needs)."""
        expected, step = [], 1
        for size in reversed(self.shape):
            expected.append(step)
            step *= size
        return all(
            size == 1 or have == want
            for size, have, want in zip(self.shape, self.stride, reversed(expected), strict=True)
        )


def _ints(value: Any, what: str) -> tuple[int, ...]:
    if not isinstance(value, tuple) or not all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value
    ):
        raise Refused(f"a tensor with {what} {value!r}")
    return value


def _rebuild_tensor(storage: Any, offset: Any, shape: Any, stride: Any, *rest: Any) -> Tensor:
    """Stand-in for ``torch._utils._rebuild_tensor[_v2]``: record, check, run nothing.

    ``rest`` is ``requires_grad, backward_hooks[, metadata]``; metadata (conjugate or negative
    bits) would change the values, so a tensor carrying any is refused.
    """
    if not isinstance(storage, Storage) or not isinstance(offset, int) or offset < 0:
        raise Refused("a tensor that is not a view of a storage")
    if len(rest) >= 3 and rest[2]:
        raise Refused(f"a tensor with metadata {rest[2]!r}")
    shape, stride = _ints(shape, "shape"), _ints(stride, "strides")
    if len(shape) != len(stride):
        raise Refused(f"a tensor of shape {shape} with strides {stride}")
    return Tensor(storage, storage.dtype, offset, shape, stride)


def _rebuild_tensor_v3(
    storage: Any, offset: Any, shape: Any, stride: Any, grad: Any, hooks: Any, dtype: Any, *_: Any
) -> Tensor:
    """Stand-in for ``torch._utils._rebuild_tensor_v3`` (an untyped storage, the dtype apart)."""
    tensor = _rebuild_tensor(storage, offset, shape, stride, grad, hooks, *_)
    if not isinstance(dtype, DType):
        raise Refused("a tensor without a dtype")
    return Tensor(tensor.storage, dtype, tensor.offset, tensor.shape, tensor.stride)


def _rebuild_parameter(data: Any, *_: Any) -> Any:
    """Stand-in for ``torch._utils._rebuild_parameter``: a parameter is its tensor."""
    if not isinstance(data, Tensor):
        raise Refused("a parameter that is not a tensor")
    return data


def _allowed() -> dict[tuple[str, str], Any]:
    found: dict[tuple[str, str], Any] = {
        ("collections", "OrderedDict"): OrderedDict,
        ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
        ("torch._utils", "_rebuild_tensor_v3"): _rebuild_tensor_v3,
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    }
    for name, spelled in DTYPES.items():
        found["torch", name] = DType(*spelled)
    for storage, dtype in STORAGES.items():
        found["torch", storage] = DType(*DTYPES[dtype])
    found["torch.storage", "UntypedStorage"] = found["torch", "UntypedStorage"]
    return found


ALLOWED = _allowed()


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED[module, name]
        except KeyError:
            # Named as Python 3 spells it (protocol 2 writes ``__builtin__.eval``).
            module = _compat_pickle.IMPORT_MAPPING.get(module, module)
            raise Refused(f"{module}.{name}") from None

    def persistent_load(self, pid: Any) -> Storage:
        if not isinstance(pid, tuple) or len(pid) != 5:
            raise Refused(f"the persistent id {pid!r}")
        typename, storage_type, key, _location, numel = pid
        if isinstance(typename, bytes):
            typename = typename.decode("ascii", errors="replace")
        if (
            typename != "storage"
            or not isinstance(storage_type, DType)
            or not isinstance(key, str)
            or not isinstance(numel, int)
            or numel < 0
        ):
            raise Refused(f"the persistent id {pid!r}")
        return Storage(key, storage_type, numel)


def load_tensors(data: bytes, where: str) -> dict[str, Tensor]:
    """The named tensors of a ``data.pkl``: a state dict, or one under ``state_dict``/``model``.

    Raises :class:`Refused` naming the first global a state dict does not need.
    """
    import io

    try:
        obj = _Unpickler(io.BytesIO(data)).load()
    except Refused:
        raise
    except Exception as exc:  # a malformed pickle: truncated, wrong opcodes, bad arguments
        why = f"{type(exc).__name__}: {exc}"
        raise EmbcliError(f"{where}: cannot read its pickle ({why})") from None
    return _state_dict(obj, where)


NESTED_KEYS = ("state_dict", "model", "module", "model_state_dict")
#: How many of :data:`NESTED_KEYS` are followed down to the tensors (``{"model": {"module":
#: {...}}}`` is two); a deeper pickle is refused in one line, not walked as deep as it goes.
MAX_NESTING = 8


def _state_dict(obj: Any, where: str) -> dict[str, Tensor]:
    if not isinstance(obj, dict):
        raise EmbcliError(f"{where} does not hold a state dict of tensors")
    path: list[str] = []
    while True:
        found = {k: v for k, v in obj.items() if isinstance(k, str) and isinstance(v, Tensor)}
        if found:
            return found
        key = next((k for k in NESTED_KEYS if isinstance(obj.get(k), dict)), None)
        if key is None:
            raise EmbcliError(f"{where} holds no tensors")
        path.append(key)
        if len(path) > MAX_NESTING:
            raise EmbcliError(
                f"{where}: its state dict is nested more than {MAX_NESTING} deep "
                f"({'/'.join(path[:3])}/...); refused"
            )
        obj = obj[key]
