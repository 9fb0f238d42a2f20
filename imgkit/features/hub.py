"""Networks from the Hugging Face model hub, for users who have torch (``imgkit[hub]``).

DINOv2, CLIP and SigLIP see more than the embedded EfficientNet-Lite0 (they were trained on far
more images, and CLIP and SigLIP on their captions), at the price of torch (a CPU wheel alone is
over 700 MB) and of weights that come from the hub: they are fetched into the hub's usual cache
(``~/.cache/huggingface``) the first time a network is used, never at import, and read from
there afterwards (set ``HF_HUB_OFFLINE=1`` to forbid any download). Where the hub cannot be
reached and the weights are not cached, loading fails with
:class:`~imgkit.errors.FeaturesUnavailableError` saying so.

Each network gets the same input as the embedded one (a square centre crop, :func:`imgkit.
features.decoding.centre_square`), normalised by the network's own image processor; its image
embedding (``get_image_features`` for CLIP and SigLIP, the pooled class token for DINOv2) is
scaled to length 1.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from imgkit.errors import FeaturesUnavailableError
from imgkit.features.decoding import ImageInput, centre_square, open_image
from imgkit.features.networks import Network
from imgkit.features.vectors import unit_rows

__all__ = ["HubExtractor", "hub_extractor"]

#: Images run through the network together.
BATCH = 16


class HubExtractor:
    """A hub network run by torch on the CPU (or the GPU torch finds)."""

    def __init__(self, network: Network, model: Any, processor: Any) -> None:
        self.network = network
        self._model = model
        self._processor = processor

    def __call__(self, images: Sequence[ImageInput]) -> np.ndarray:
        import torch
        from PIL import Image

        items = list(images)
        out = np.zeros((len(items), self.network.dim), dtype=np.float32)
        for start in range(0, len(items), BATCH):
            crops = [
                Image.fromarray(
                    centre_square(open_image(item, start + k)[1], self.network.input_size)
                )
                for k, item in enumerate(items[start : start + BATCH])
            ]
            inputs = self._processor(images=crops, return_tensors="pt")
            with torch.no_grad():
                vectors = _embed(self._model, inputs["pixel_values"])
            out[start : start + len(crops)] = vectors.float().cpu().numpy()
        return unit_rows(out)


def _embed(model: Any, pixel_values: Any) -> Any:
    if hasattr(model, "get_image_features"):
        features = model.get_image_features(pixel_values=pixel_values)
        # transformers 5 may return an output object rather than the tensor itself.
        return getattr(features, "pooler_output", features)
    outputs = model(pixel_values=pixel_values)
    pooled = getattr(outputs, "pooler_output", None)
    return pooled if pooled is not None else outputs.last_hidden_state[:, 0]


def hub_extractor(
    network: Network, *, source: str | os.PathLike[str] | None = None
) -> HubExtractor:
    """Load ``network`` from the hub (or from ``source``, a local folder saved with
    ``save_pretrained``). Raises :class:`FeaturesUnavailableError` when torch or transformers is
    missing or the weights cannot be had."""
    try:
        import torch  # noqa: F401
        from transformers import AutoImageProcessor, AutoModel
    except ImportError as exc:
        raise FeaturesUnavailableError(
            f"{network.name} needs torch and transformers: pip install 'imgkit[hub]' "
            f"(or use the embedded network, 'efficientnet-lite0')"
        ) from exc
    where = os.fspath(source) if source is not None else network.hub_id
    try:
        processor = AutoImageProcessor.from_pretrained(where)
        model = AutoModel.from_pretrained(where)
    except (OSError, ValueError) as exc:
        raise FeaturesUnavailableError(
            f"cannot load {network.name} from {where!r}: {exc}. Its weights come from the "
            "Hugging Face hub on first use; where the hub cannot be reached, copy a saved model "
            "into the hub cache or use the embedded network, 'efficientnet-lite0'"
        ) from exc
    model.eval()
    return HubExtractor(network, model, processor)
