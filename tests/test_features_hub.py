"""Networks from the model hub (``imgkit[hub]``): the loading code, on tiny models built here.

No hub is reachable from this machine or from CI, so real DINOv2 / CLIP / SigLIP weights cannot
be had; these tests build tiny models of the same classes from a config (random weights), save
them as the hub would cache them, and load them through imgkit's loader. They need torch and
transformers; where those are not installed they are skipped, except in CI, which installs
them and sets IMGKIT_REQUIRE_HUB=1 so that a missing package fails instead.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

if os.environ.get("IMGKIT_REQUIRE_HUB") != "1":
    pytest.importorskip("torch", reason="the hub networks need torch: pip install 'imgkit[hub]'")
    pytest.importorskip("transformers", reason="pip install 'imgkit[hub]'")

from imgkit.errors import FeaturesUnavailableError
from imgkit.features.hub import hub_extractor
from imgkit.features.networks import Network

ROOT = Path(__file__).resolve().parent.parent


def _network(name: str, dim: int) -> Network:
    return Network(name, f"{name} (tiny, random weights)", "1", dim, 224, "test", "test", "hub")


@pytest.fixture(scope="module")
def tiny_dinov2(tmp_path_factory) -> Path:
    import torch
    from transformers import BitImageProcessor, Dinov2Config, Dinov2Model

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("dinov2")
    config = Dinov2Config(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        image_size=224, patch_size=16,
    )  # fmt: skip
    Dinov2Model(config).save_pretrained(folder)
    BitImageProcessor(
        size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224}
    ).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory) -> Path:
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("clip")
    layers = {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2}
    config = CLIPConfig(
        text_config={**layers, "intermediate_size": 64},
        vision_config={**layers, "intermediate_size": 64, "image_size": 224, "patch_size": 32},
        projection_dim=16,
    )
    CLIPModel(config).save_pretrained(folder)
    CLIPImageProcessor().save_pretrained(folder)
    return folder


def _images() -> list[Image.Image]:
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 255, (200, 300, 3), dtype=np.uint8)) for _ in range(3)]


@pytest.mark.parametrize(("fixture", "dim"), [("tiny_dinov2", 32), ("tiny_clip", 16)])
def test_a_saved_hub_model_loads_and_gives_unit_vectors(fixture, dim, request):
    folder = request.getfixturevalue(fixture)
    extractor = hub_extractor(_network(fixture, dim), source=folder)
    images = _images()
    vectors = extractor(images)
    assert vectors.shape == (3, dim) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # The same image gives the same vector, alone or in a batch.
    np.testing.assert_allclose(extractor(images[:1])[0], vectors[0], atol=1e-5)


def test_a_network_missing_from_the_offline_cache_says_how_to_get_it(tmp_path):
    # In a fresh process with the hub switched off (HF_HUB_OFFLINE, read at import), so that
    # the test can never reach out to the hub.
    code = (
        "from imgkit.features.hub import hub_extractor\n"
        "from imgkit.features.networks import get_network\n"
        "from imgkit.errors import FeaturesUnavailableError\n"
        "try:\n"
        "    hub_extractor(get_network('dinov2-small'))\n"
        "except FeaturesUnavailableError as exc:\n"
        "    print(exc)\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert "cannot load dinov2-small" in out.stdout
    assert "efficientnet-lite0" in out.stdout


def test_a_folder_that_holds_no_model_is_refused(tmp_path):
    with pytest.raises(FeaturesUnavailableError, match="cannot load"):
        hub_extractor(_network("empty", 8), source=tmp_path)


def test_a_hub_network_is_calibrated_on_the_same_photographs(tiny_dinov2):
    from imgkit.analysis.calibration import PHOTOGRAPHS, calibrate_network

    network = _network("tiny-dinov2", 32)
    record = calibrate_network(network, hub_extractor(network, source=tiny_dinov2))
    photos = len(PHOTOGRAPHS)
    assert record["network"] == "tiny-dinov2" and record["unit"] == "cosine distance"
    assert record["n_pairs"] == photos * (photos - 1) // 2 * 36
    assert 0 < record["mean"] < 2 and record["mean_ci95"][0] <= record["mean"]
