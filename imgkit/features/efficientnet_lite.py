"""EfficientNet-Lite0 as an ONNX graph, built from its weights, for its pooled image features.

EfficientNet-Lite0 (Tan & Le 2019; the "Lite" variant Google released for mobile devices:
no squeeze-and-excitation, ReLU6, a fixed stem and head) is a 4.7-million-parameter ImageNet
classifier. Its last convolution, averaged over the image, is a 1280-number description of what
the picture shows; two pictures of the same subject in the same pose get close descriptions even
when no pixel lines up, which is what a perceptual hash cannot see.

The graph is written out here from the network's published layout (the table below) and the
weights' names, so running it needs only ``onnxruntime``, not torch. Batch normalisation is
folded into each convolution's weights and bias (inference only). Padding follows TensorFlow's
"SAME" rule, as the converted weights expect: a stride-2 convolution pads one pixel more at the
bottom and right than at the top and left. The input is fixed at 224 x 224, the size the
network was trained at.

``tests/test_features.py`` checks the graph against features that the reference PyTorch
implementation (``efficientnet-lite-pytorch`` 0.1.0 on torch 2.13) computed for three
photographs (``tools/features_reference.py`` made them): they agree to 1e-5.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from imgkit.features import onnx_proto

__all__ = ["BLOCKS", "FEATURE_DIM", "INPUT_SIZE", "build_model"]

#: Side of the square input, in pixels.
INPUT_SIZE = 224
#: Length of the pooled feature vector.
FEATURE_DIM = 1280
#: Batch-norm epsilon of the converted TensorFlow weights.
_BN_EPS = 1e-3

#: The stages of EfficientNet-Lite0: (repeats, kernel, stride, expansion, in, out channels).
#: The first block of a stage has the stage's stride and input width; its repeats stride 1.
BLOCKS: tuple[tuple[int, int, int, int, int, int], ...] = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)


def _same_padding(size: int, kernel: int, stride: int) -> tuple[int, int, int]:
    """(pad before, pad after, output size) of TensorFlow's SAME padding on one axis."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2, out


class _Graph:
    """Nodes and initialisers of the graph being built, as serialized protobuf messages."""

    def __init__(self, weights: Mapping[str, np.ndarray]) -> None:
        self.weights = weights
        self.nodes: list[bytes] = []
        self.initializers: list[bytes] = []
        self._clip_bounds: tuple[str, str] | None = None

    def constant(self, name: str, value: np.ndarray) -> str:
        self.initializers.append(onnx_proto.tensor(name, np.asarray(value, dtype=np.float32)))
        return name

    def relu6(self, x: str, name: str) -> str:
        if self._clip_bounds is None:
            self._clip_bounds = (
                self.constant("relu6_min", np.array(0.0)),
                self.constant("relu6_max", np.array(6.0)),
            )
        self.nodes.append(onnx_proto.node("Clip", [x, *self._clip_bounds], [name]))
        return name

    def conv_bn(
        self, x: str, conv: str, bn: str, size: int, *, stride: int, groups: int, name: str
    ) -> tuple[str, int]:
        """A convolution with its batch norm folded in; returns (output, output size)."""
        w = self.weights[f"{conv}.weight"].astype(np.float64)
        gamma, beta = self.weights[f"{bn}.weight"], self.weights[f"{bn}.bias"]
        mean, var = self.weights[f"{bn}.running_mean"], self.weights[f"{bn}.running_var"]
        scale = gamma / np.sqrt(var.astype(np.float64) + _BN_EPS)
        kernel = w.shape[-1]
        before, after, out = _same_padding(size, kernel, stride)
        weight = self.constant(f"{name}.w", w * scale[:, None, None, None])
        bias = self.constant(f"{name}.b", beta - mean * scale)
        self.nodes.append(
            onnx_proto.node(
                "Conv",
                [x, weight, bias],
                [name],
                onnx_proto.attribute_ints("kernel_shape", [kernel, kernel]),
                onnx_proto.attribute_ints("strides", [stride, stride]),
                onnx_proto.attribute_ints("pads", [before, before, after, after]),
                onnx_proto.attribute_int("group", groups),
            )
        )
        return name, out


def build_model(weights: Mapping[str, np.ndarray]) -> bytes:
    """The serialized ONNX model: input ``image`` (N, 3, 224, 224), output ``features`` (N, 1280).

    ``weights`` is the network's state dict (names as ``efficientnet-lite-pytorch`` saves them).
    """
    graph = _Graph(weights)
    x, size = graph.conv_bn(
        "image", "_conv_stem", "_bn0", INPUT_SIZE, stride=2, groups=1, name="stem"
    )
    x = graph.relu6(x, "stem.act")
    index = 0
    for repeats, kernel, stride, expand, first_in, out in BLOCKS:
        for repeat in range(repeats):
            width_in = first_in if repeat == 0 else out
            step = stride if repeat == 0 else 1
            block, name, h = f"_blocks.{index}", f"block{index}", x
            if expand != 1:
                h, _ = graph.conv_bn(
                    h, f"{block}._expand_conv", f"{block}._bn0", size,
                    stride=1, groups=1, name=f"{name}.expand",
                )  # fmt: skip
                h = graph.relu6(h, f"{name}.expand.act")
            if graph.weights[f"{block}._depthwise_conv.weight"].shape[-1] != kernel:
                raise ValueError(f"{block}: the weights do not match EfficientNet-Lite0's layout")
            h, new_size = graph.conv_bn(
                h, f"{block}._depthwise_conv", f"{block}._bn1", size,
                stride=step, groups=width_in * expand, name=f"{name}.depthwise",
            )  # fmt: skip
            h = graph.relu6(h, f"{name}.depthwise.act")
            h, _ = graph.conv_bn(
                h, f"{block}._project_conv", f"{block}._bn2", new_size,
                stride=1, groups=1, name=f"{name}.project",
            )  # fmt: skip
            if step == 1 and width_in == out:
                graph.nodes.append(onnx_proto.node("Add", [h, x], [f"{name}.residual"]))
                h = f"{name}.residual"
            x, size = h, new_size
            index += 1
    x, _ = graph.conv_bn(x, "_conv_head", "_bn1", size, stride=1, groups=1, name="head")
    x = graph.relu6(x, "head.act")
    graph.nodes.append(onnx_proto.node("GlobalAveragePool", [x], ["pooled"]))
    graph.nodes.append(
        onnx_proto.node("Flatten", ["pooled"], ["features"], onnx_proto.attribute_int("axis", 1))
    )
    # IR 8 and opset 13 are read by every onnxruntime since 1.14 and have every operator used.
    return onnx_proto.model(
        "efficientnet_lite0_features",
        graph.nodes,
        graph.initializers,
        [onnx_proto.value_info("image", ["n", 3, INPUT_SIZE, INPUT_SIZE])],
        [onnx_proto.value_info("features", ["n", FEATURE_DIM])],
        opset=13,
        ir_version=8,
        producer="imgkit",
    )
