"""Just enough of ONNX's protobuf encoding to write a convolutional network for onnxruntime.

onnxruntime reads a model as serialized ``onnx.ModelProto`` bytes. The ``onnx`` package builds
them, but importing it costs about two seconds here (its ``ml_dtypes`` extension alone takes 1.8
of them), which every analysis command would pay; the few messages a feed-forward graph needs
are small enough to write directly. Protocol-buffer wire format: each field is a key
``(number << 3) | wire type`` as a varint, then a varint (type 0) or a length and bytes (type 2);
repeated fields are repeated keys. Field numbers are those of ``onnx/onnx.proto`` (ONNX 1.x,
which keeps them stable). Only what the graph of :mod:`.efficientnet_lite` uses is here:
float32 tensors, integer and integer-list attributes, tensor inputs and outputs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

__all__ = ["attribute_int", "attribute_ints", "model", "node", "tensor", "value_info"]

_FLOAT = 1  # TensorProto.DataType.FLOAT
_ATTRIBUTE_INT = 2  # AttributeProto.AttributeType.INT
_ATTRIBUTE_INTS = 7  # AttributeProto.AttributeType.INTS


def _varint(value: int) -> bytes:
    if value < 0:
        value += 1 << 64  # int64 fields: two's complement in ten bytes
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _int_field(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value)


def _bytes_field(number: int, value: bytes | str) -> bytes:
    data = value.encode("utf-8") if isinstance(value, str) else value
    return _varint((number << 3) | 2) + _varint(len(data)) + data


def _strings(number: int, values: Iterable[str]) -> bytes:
    return b"".join(_bytes_field(number, v) for v in values)


def tensor(name: str, array: np.ndarray) -> bytes:
    """A float32 TensorProto (dims 1, data_type 2, name 8, raw_data 9)."""
    data = np.ascontiguousarray(array, dtype="<f4")
    dims = b"".join(_int_field(1, int(d)) for d in data.shape)
    return dims + _int_field(2, _FLOAT) + _bytes_field(8, name) + _bytes_field(9, data.tobytes())


def attribute_int(name: str, value: int) -> bytes:
    """An AttributeProto of one integer (name 1, i 3, type 20)."""
    return _bytes_field(1, name) + _int_field(3, value) + _int_field(20, _ATTRIBUTE_INT)


def attribute_ints(name: str, values: Sequence[int]) -> bytes:
    """An AttributeProto of a list of integers (name 1, ints 8, type 20)."""
    ints = b"".join(_int_field(8, v) for v in values)
    return _bytes_field(1, name) + ints + _int_field(20, _ATTRIBUTE_INTS)


def node(op: str, inputs: Sequence[str], outputs: Sequence[str], *attributes: bytes) -> bytes:
    """A NodeProto (input 1, output 2, name 3, op_type 4, attribute 5)."""
    return (
        _strings(1, inputs)
        + _strings(2, outputs)
        + _bytes_field(3, outputs[0])
        + _bytes_field(4, op)
        + b"".join(_bytes_field(5, a) for a in attributes)
    )


def value_info(name: str, shape: Sequence[int | str]) -> bytes:
    """A float32 tensor ValueInfoProto; a str in ``shape`` is a named (free) dimension."""
    dims = b"".join(
        _bytes_field(1, _bytes_field(2, d) if isinstance(d, str) else _int_field(1, d))
        for d in shape
    )
    tensor_type = _int_field(1, _FLOAT) + _bytes_field(2, dims)  # elem_type 1, shape 2
    return _bytes_field(1, name) + _bytes_field(2, _bytes_field(1, tensor_type))


def model(
    name: str,
    nodes: Sequence[bytes],
    initializers: Sequence[bytes],
    inputs: Sequence[bytes],
    outputs: Sequence[bytes],
    *,
    opset: int,
    ir_version: int,
    producer: str,
) -> bytes:
    """A ModelProto (ir_version 1, producer_name 2, graph 7, opset_import 8) holding one graph
    (node 1, name 2, initializer 5, input 11, output 12)."""
    graph = (
        b"".join(_bytes_field(1, n) for n in nodes)
        + _bytes_field(2, name)
        + b"".join(_bytes_field(5, t) for t in initializers)
        + b"".join(_bytes_field(11, v) for v in inputs)
        + b"".join(_bytes_field(12, v) for v in outputs)
    )
    opset_import = _bytes_field(1, "") + _int_field(2, opset)
    return (
        _int_field(1, ir_version)
        + _bytes_field(2, producer)
        + _bytes_field(7, graph)
        + _bytes_field(8, opset_import)
    )
