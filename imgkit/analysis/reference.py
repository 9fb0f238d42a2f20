"""The fixed similarity scale: how far apart the hashes of unrelated natural photographs are.

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
every run and every report. The run's own cross-prompt distance is still shown, as a second
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

from imgkit.analysis.hashing import KINDS, colorhash_binbits, hash_bits
from imgkit.errors import ValidationError, check_argument

__all__ = [
    "DEFAULT_KINDS",
    "DEFAULT_NEAR_DUPLICATE",
    "UNRELIABLE_KINDS",
    "Reference",
    "calibration",
    "reference_distance",
    "reference_for_bits",
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
DEFAULT_NEAR_DUPLICATE = 0.2


@dataclass(frozen=True)
class Reference:
    """The calibrated "unrelated images" distance of one hash kind and size.

    ``distance`` is the mean Hamming distance between unrelated photographs (the 0 of the
    similarity scale), ``distance_ci`` its 95% bootstrap interval over photographs, ``sd`` and
    ``quantiles`` the spread of single pairs, ``unrelated_near_duplicate_share`` the share of
    unrelated pairs within the default near-duplicate threshold. ``calibrated`` is False for a
    hash size the calibration did not cover: then ``distance`` falls back to ``bits / 2``, the
    expectation for independent random bits, and ``name`` says so.
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

    @property
    def label(self) -> str:
        """A short name for tables: ``"natural-photographs-v1 (31.4 bits)"``."""
        return f"{self.name} ({self.distance:.1f} bits)"

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
