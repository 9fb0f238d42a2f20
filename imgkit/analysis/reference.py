"""The fixed similarity scales: how far apart unrelated natural photographs are, per measure.

A similarity of 1 means identical hashes and 0 means "as far apart as unrelated photographs".
The "unrelated" point is not measured on the run being analysed (that made a score change with
whatever else was in the run: the same five images scored phash 0.51 alone and 0.43 next to a
second prompt) but calibrated once, per hash kind and hash size, on a fixed set of openly
licensed photographs that ship inside scikit-image and matplotlib, and shipped as data
(``data/reference_distances.json``). ``tools/calibrate_reference.py`` rebuilds it and says how:
each photograph is seen as six views (the whole frame and five crops), every pair of views of
*different* photographs is hashed, and the distances are summarised (mean, spread, quantiles,
histogram, a bootstrap interval of the mean over photographs).

So ``similarity = clip(1 - mean_distance / reference_distance, 0, 1)`` means the same thing in
every run and every report. Learned features are calibrated the same way, on the same
photographs and views, with the cosine distance of their vectors
(``data/reference_features.json`` for the embedded network; a hub network is calibrated on first
use and kept in the user's cache, :func:`reference_for_network`). How the views are made is
:mod:`imgkit.analysis.calibration`. The run's own cross-prompt distance is still shown, as a second
figure named as such (:mod:`imgkit.analysis.consistency`).

colorhash is calibrated too, but it is left out of :data:`DEFAULT_KINDS`: unrelated
photographs share most of its bits (about 6 of 42 bits apart on average, and one unrelated pair
in ten is within one bit, greyscale photographs hashing identically), so a high colorhash
similarity says little about whether two images show the same thing.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from importlib import resources
from typing import Any

from imgkit.analysis.calibration import NEAR_DUPLICATE
from imgkit.analysis.hashing import KINDS, colorhash_binbits, hash_bits
from imgkit.errors import FeaturesUnavailableError, ValidationError, check_argument

__all__ = [
    "DEFAULT_KINDS",
    "DEFAULT_NEAR_DUPLICATE",
    "UNRELIABLE_KINDS",
    "Reference",
    "calibration",
    "reference_distance",
    "reference_for",
    "reference_for_bits",
    "reference_for_network",
]

#: The hash kinds tables and reports use unless told otherwise (colorhash: see the module
#: docstring and :data:`UNRELIABLE_KINDS`).
DEFAULT_KINDS: tuple[str, ...] = ("phash", "dhash", "whash")

#: Kinds that are calibrated but should not be trusted to judge consistency, and why.
UNRELIABLE_KINDS: dict[str, str] = {
    "colorhash": (
        "unrelated photographs share most colorhash bits (greyscale and similar-palette images "
        "hash alike), so its similarity cannot tell a consistent model from an unrelated one"
    ),
}

#: Default near-duplicate threshold as a share of the reference distance: a pair counts as a
#: near duplicate when its distance is at most ``floor(0.2 * reference)`` bits (6 of 64 for
#: phash, i.e. a pair similarity of 0.8 or more). Resizing, mild JPEG recompression, a
#: 1-degree rotation or a small brightness change stay under it; no unrelated phash pair of the
#: reference set does.
DEFAULT_NEAR_DUPLICATE = NEAR_DUPLICATE


@dataclass(frozen=True)
class Reference:
    """The calibrated "unrelated images" distance of one measure (a hash kind and size, or a
    network).

    ``distance`` is the mean Hamming distance between unrelated photographs (the 0 of the
    similarity scale), ``distance_ci`` its 95% bootstrap interval over photographs, ``sd`` and
    ``quantiles`` the spread of single pairs, ``unrelated_near_duplicate_share`` the share of
    unrelated pairs within the default near-duplicate threshold. ``calibrated`` is False for a
    hash size the calibration did not cover: then ``distance`` falls back to ``bits / 2``, the
    expectation for independent random bits, and ``name`` says so. ``unit`` is ``"bits"``
    for hashes (``histogram`` then counts pairs per bit) and ``"cosine distance"`` for learned
    features (``bits`` 0, ``histogram`` in bins of ``histogram_bin``).
    """

    kind: str
    bits: int
    hash_size: int | None
    name: str
    calibrated: bool
    distance: float
    distance_ci: tuple[float, float]
    sd: float
    quantiles: dict[str, float]
    histogram: tuple[int, ...]
    unrelated_near_duplicate_share: float
    unit: str = "bits"
    histogram_bin: float = 1.0

    @property
    def label(self) -> str:
        """A short name for tables: ``"natural-photographs-v1 (31.4 bits)"``, or with
        ``(0.837 cosine distance)`` for a network."""
        if self.unit == "bits":
            return f"{self.name} ({self.distance:.1f} bits)"
        return f"{self.name} ({self.distance:.3f} {self.unit})"

    def similarity(self, mean_distance: float) -> float:
        """``clip(1 - mean_distance / distance, 0, 1)``; NaN for a NaN distance."""
        if not math.isfinite(mean_distance):
            return math.nan
        return min(1.0, max(0.0, 1.0 - mean_distance / self.distance))


@functools.cache
def calibration() -> dict[str, Any]:
    """The calibration as shipped (``data/reference_distances.json``): images, method, figures."""
    text = (
        resources.files("imgkit.analysis")
        .joinpath("data/reference_distances.json")
        .read_text(encoding="utf-8")
    )
    return json.loads(text)


def _bits_of(kind: str, hash_size: int) -> int:
    return hash_bits(kind, hash_size, colorhash_binbits(hash_size) if kind == "colorhash" else None)


@functools.cache
def reference_for_bits(kind: str, bits: int) -> Reference:
    """The :class:`Reference` of ``kind`` hashes of ``bits`` bits (as a run's hex length gives).

    Raises :class:`ValidationError` for an unknown kind or a bit count below 1.
    """
    check_argument("kind", kind, KINDS)
    if not isinstance(bits, int) or bits < 1:
        raise ValidationError("bits", bits, "a positive integer")
    data = calibration()
    for size, stats in data["kinds"].get(kind, {}).items():
        if stats["bits"] == bits:
            low, high = stats["mean_ci95"]
            return Reference(
                kind=kind,
                bits=bits,
                hash_size=int(size),
                name=str(data["name"]),
                calibrated=True,
                distance=float(stats["mean"]),
                distance_ci=(float(low), float(high)),
                sd=float(stats["sd"]),
                quantiles={str(k): float(v) for k, v in stats["quantiles"].items()},
                histogram=tuple(int(c) for c in stats["histogram"]),
                unrelated_near_duplicate_share=float(stats["unrelated_near_duplicate_share"]),
            )
    half = bits / 2
    return Reference(
        kind=kind,
        bits=bits,
        hash_size=None,
        name="random bits (hash size not calibrated)",
        calibrated=False,
        distance=half,
        distance_ci=(half, half),
        sd=math.sqrt(bits) / 2,
        quantiles={},
        histogram=(),
        unrelated_near_duplicate_share=math.nan,
    )


def reference_distance(kind: str = "phash", hash_size: int = 8) -> Reference:
    """The :class:`Reference` of ``kind`` at ``hash_size`` (calibrated at 4, 8 and 16).

    Raises :class:`ValidationError` for an unknown kind or a hash size below 2.
    """
    check_argument("kind", kind, KINDS)
    if not isinstance(hash_size, int) or isinstance(hash_size, bool) or hash_size < 2:
        raise ValidationError("hash_size", hash_size, "an integer >= 2")
    return reference_for_bits(kind, _bits_of(kind, hash_size))


@functools.cache
def _shipped_features() -> dict[str, Any]:
    text = (
        resources.files("imgkit.analysis")
        .joinpath("data/reference_features.json")
        .read_text(encoding="utf-8")
    )
    return json.loads(text)


def _feature_reference(record: dict[str, Any]) -> Reference:
    low, high = record["mean_ci95"]
    return Reference(
        kind=str(record["network"]),
        bits=0,
        hash_size=None,
        name=str(record["name"]),
        calibrated=True,
        distance=float(record["mean"]),
        distance_ci=(float(low), float(high)),
        sd=float(record["sd"]),
        quantiles={str(k): float(v) for k, v in record["quantiles"].items()},
        histogram=tuple(int(c) for c in record["histogram"]),
        unrelated_near_duplicate_share=float(record["unrelated_near_duplicate_share"]),
        unit=str(record["unit"]),
        histogram_bin=float(record["histogram_bin"]),
    )


def network_calibration(name: str) -> dict[str, Any]:
    """The calibration record of network ``name``: shipped, cached, or made now.

    The embedded network's ships with imgkit. A hub network's is made on first use from the
    same photographs (which needs scikit-image, in the ``imgkit[hub]`` extra) and kept in the
    user's cache (``$IMGKIT_CACHE`` or ``~/.cache/imgkit``) under the network's name and
    version, so it is made once per machine.
    """
    from imgkit.features.networks import get_network

    network = get_network(name)
    shipped = _shipped_features()["networks"].get(network.name)
    if shipped is not None and str(shipped["version"]) == network.version:
        return shipped
    from imgkit.features.cache import read_cached_json, write_cached_json

    key = f"calibration/{network.name}-v{network.version}.json"
    cached = read_cached_json(key)
    if cached is not None:
        return cached
    from imgkit.analysis.calibration import calibrate_network
    from imgkit.features.extract import get_extractor

    try:
        record = calibrate_network(network, get_extractor(network.name))
    except ImportError as exc:
        raise FeaturesUnavailableError(
            f"calibrating {network.name} needs scikit-image's photographs: "
            "pip install 'imgkit[hub]'"
        ) from exc
    write_cached_json(key, record)
    return record


@functools.cache
def reference_for_network(name: str) -> Reference:
    """The :class:`Reference` of network ``name`` (see :func:`network_calibration`)."""
    return _feature_reference(network_calibration(name))


def reference_for(measure: Any, bits: int | None = None) -> Reference:
    """The :class:`Reference` of a :class:`~imgkit.analysis.measures.Measure`.

    A hash's scale depends on its bits: pass the bit count the run's hashes have (None takes
    the measure's own hash size).
    """
    if measure.learned:
        return reference_for_network(measure.name)
    if bits:
        return reference_for_bits(measure.name, bits)
    return reference_distance(measure.name, measure.hash_size)
