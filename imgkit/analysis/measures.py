"""What "how alike are these images" is measured with: one value, parsed once at the boundary.

A :class:`Measure` is either a perceptual hash (``phash``, ``dhash``, ``whash``, ``ahash``,
``colorhash`` at a hash size) or a network's learned features (``efficientnet-lite0``, the
default, and the hub networks of :mod:`imgkit.features.networks`). The command line, sweep files
and every public function take a name (or a Measure) and turn it into a Measure with
:func:`parse_measure` / :func:`parse_measures`; everything below them takes the value.

The two families answer different questions, and every table says which:

- learned features see what a person sees: two photographs of the same axolotl in the same pose
  are close even when no pixel lines up; unrelated photographs are far apart;
- perceptual hashes find near-duplicates: the same picture resized, recompressed, slightly
  cropped or brightened. Two different pictures of one subject are as far apart to them as
  unrelated photographs.

Both are turned into one form the statistics share: each image becomes a point whose squared
Euclidean distance to another image's point is the measure's distance (:meth:`Measure.points`).
For a hash the point is its 0/1 bits (squared distance = Hamming distance, in bits); for learned
features it is the unit feature vector divided by sqrt 2 (squared distance = 1 - cosine
similarity, the cosine distance). Bootstrap intervals, permutation tests, the planner and the
verdicts (:mod:`imgkit.analysis.resampling`) then work on either without a second copy.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from imgkit.analysis.resampling import bit_matrix
from imgkit.errors import ValidationError
from imgkit.features.networks import DEFAULT_NETWORK, NETWORKS, Network, get_network

__all__ = [
    "DEFAULT_MEASURE",
    "DEFAULT_MEASURES",
    "HASH_KINDS",
    "LEARNED_ALIAS",
    "MEASURE_NAMES",
    "Measure",
    "parse_measure",
    "parse_measures",
]

#: The perceptual hash kinds (:data:`imgkit.analysis.hashing.KINDS`, named here too so that
#: parsing a measure name does not load the hashing code and pandas).
HASH_KINDS: tuple[str, ...] = ("ahash", "phash", "dhash", "whash", "colorhash")
#: Another name for the default network, for people who do not care which network it is.
LEARNED_ALIAS = "learned"
#: Every name a measure may be given by.
MEASURE_NAMES: tuple[str, ...] = (*NETWORKS, LEARNED_ALIAS, *HASH_KINDS)

_HASH_DETECTS = {
    "phash": "near-duplicates: resized, recompressed or lightly edited copies of one picture",
    "dhash": "near-duplicates: the same picture's gradients, robust to colour and scale",
    "whash": "near-duplicates: the same picture's coarse structure (wavelets)",
    "ahash": "near-duplicates: the same picture's coarse brightness pattern",
    "colorhash": "the same colour mix (not what the picture shows)",
}


@dataclass(frozen=True)
class Measure:
    """One way of measuring how alike two images are.

    ``name`` is how tables, sentences and frame columns call it (``"efficientnet-lite0"``,
    ``"phash"``); ``family`` is ``"learned"`` or ``"hash"``; ``hash_size`` matters to hashes
    only (their side in cells; the bits follow from it).
    """

    name: str
    family: str
    hash_size: int = 8

    @property
    def learned(self) -> bool:
        return self.family == "learned"

    @property
    def network(self) -> Network:
        """The network of a learned measure (ValidationError for a hash)."""
        if not self.learned:
            raise ValidationError("measure", self.name, "a learned-feature measure")
        return get_network(self.name)

    @property
    def title(self) -> str:
        """What a sentence calls it: ``"EfficientNet-Lite0"``, ``"phash"``."""
        return self.network.title.split(" (")[0] if self.learned else self.name

    @property
    def detects(self) -> str:
        """What a high similarity on this measure means, in words."""
        if self.learned:
            return "the same subject, pose and look, as a person sees it"
        return _HASH_DETECTS[self.name]

    @property
    def unit(self) -> str:
        """The unit of its distances: ``"bits"`` or ``"cosine distance"``."""
        return "cosine distance" if self.learned else "bits"

    @property
    def feature_key(self) -> str:
        """The name and version its kept per-image values are filed under in a run folder."""
        if self.learned:
            return self.network.key
        return f"{self.name}-{self.hash_size}/1"

    def points(self, values: Sequence[Any]) -> np.ndarray:
        """The images as points whose squared Euclidean distances are this measure's distances.

        ``values`` are a hash kind's hex strings (one length) or a network's unit feature
        vectors. Hashes give an ``(n, bits)`` float32 0/1 matrix (exact integer arithmetic in
        every sum the statistics take); features give float64 vectors scaled by 1/sqrt 2.
        """
        values = list(values)
        if not self.learned:
            if not values:
                return np.zeros((0, 1), dtype=np.float32)
            return bit_matrix([str(v) for v in values], self.bits_of(values))
        if not values:
            return np.zeros((0, self.network.dim), dtype=np.float64)
        # Widened straight into one float64 array and scaled in place: the same values as
        # widening each vector first, without four copies of 50 MB at 5,000 images (a report
        # asks for them several times).
        matrix = np.stack([np.asarray(v) for v in values], dtype=np.float64, casting="unsafe")
        matrix /= math.sqrt(2.0)
        return matrix

    def bits_of(self, hexes: Sequence[Any]) -> int:
        """How many bits the hashes have (one length per run), from their hex strings."""
        from imgkit.analysis.hashing import bits_from_hex

        lengths = {len(str(h)) for h in hexes}
        if len(lengths) != 1:
            raise ValidationError(self.name, f"hex lengths {sorted(lengths)}", "one hash size")
        return bits_from_hex(self.name, lengths.pop())

    def __str__(self) -> str:
        return self.name


#: The measure that answers "how consistent": learned features of the embedded network.
DEFAULT_MEASURE = Measure(DEFAULT_NETWORK, "learned")
#: What tables and reports show by default: the learned measure first, then the hashes that
#: find near-duplicates (colorhash is left out: see imgkit.analysis.reference).
DEFAULT_MEASURES: tuple[Measure, ...] = (
    DEFAULT_MEASURE,
    Measure("phash", "hash"),
    Measure("dhash", "hash"),
    Measure("whash", "hash"),
)


def _check_hash_size(hash_size: Any) -> int:
    if not isinstance(hash_size, int | np.integer) or isinstance(hash_size, bool) or hash_size < 2:
        raise ValidationError("hash_size", hash_size, "an integer >= 2")
    return int(hash_size)


def parse_measure(value: Any, *, hash_size: int = 8, param: str = "kind") -> Measure:
    """``value`` (a name or a :class:`Measure`) as a Measure; hashes take ``hash_size``.

    Raises :class:`ValidationError` naming ``param``, the value and the names allowed.
    """
    if isinstance(value, Measure):
        return value
    if not isinstance(value, str):
        raise ValidationError(param, value, MEASURE_NAMES)
    name = value.strip().lower()
    if name == LEARNED_ALIAS:
        return DEFAULT_MEASURE
    if name in NETWORKS:
        return Measure(name, "learned")
    if name in HASH_KINDS:
        size = _check_hash_size(hash_size)
        if name == "whash" and size & (size - 1):
            raise ValidationError(
                "hash_size", size, "a power of 2 (2, 4, 8, 16, ...)", detail="whash needs it"
            )
        return Measure(name, "hash", size)
    raise ValidationError(param, value, MEASURE_NAMES)


def parse_measures(
    values: Iterable[Any] | str | Measure, *, hash_size: int = 8, param: str = "kinds"
) -> tuple[Measure, ...]:
    """``values`` as a tuple of Measures without repeats; a lone name or Measure is one.

    Raises :class:`ValidationError` for an empty list or an unknown name.
    """
    items = (values,) if isinstance(values, str | Measure) else tuple(values)
    if not items:
        raise ValidationError(param, items, MEASURE_NAMES, detail="at least one is needed")
    measures = [parse_measure(v, hash_size=hash_size, param=param) for v in items]
    return tuple(dict.fromkeys(measures))
