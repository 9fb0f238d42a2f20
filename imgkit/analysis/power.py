"""The planner's simulation: images like a pilot's, and the power of the test on them.

:func:`power_at` is the power of :func:`imgkit.analysis.resampling.relabel_two_arms` at ``n``
repeats per arm, estimated on simulated runs; the generative models that make those runs from
a pilot's images (flipped hash bits; a smoothed bootstrap of feature points) are described in
:mod:`imgkit.analysis.planning`, which uses them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from imgkit.analysis.resampling import compact, pair_count, pair_sum, stratum_labelings

__all__ = ["Templates", "assumed_templates", "own_templates", "power_at", "shifted_templates"]


def _flip_rate(r: float) -> float:
    """The per-bit flip probability q with ``2 q (1 - q) = r`` (0 <= r <= 1/2)."""
    return (1 - math.sqrt(max(0.0, 1 - 2 * min(r, 0.5)))) / 2


@dataclass(frozen=True)
class Templates:
    """One prompt's templates and spread for the two simulated arms.

    Hash bits (float32 0/1): ``q_a`` / ``q_b`` are flip rates. Feature points (float64):
    ``q_a`` / ``q_b`` scale Gaussian noise whose covariance is the templates' own
    (``noise_a`` / ``noise_b`` hold its square root, rows to mix), see the module docstring.
    """

    bits_a: np.ndarray  # (n0, W) templates of arm A
    q_a: float
    bits_b: np.ndarray  # templates of arm B (the same array in the shift model)
    q_b: float
    noise_a: np.ndarray | None = None
    noise_b: np.ndarray | None = None

    def simulate(self, arm: str, n: int, n_sims: int, rng: np.random.Generator) -> np.ndarray:
        """``(n_sims, n, W)`` simulated images of ``arm`` ("a" or "b")."""
        templates, q = (self.bits_a, self.q_a) if arm == "a" else (self.bits_b, self.q_b)
        if templates.dtype == np.float32:
            return _simulate(templates, n, q, n_sims, rng)
        noise = self.noise_a if arm == "a" else self.noise_b
        picks = rng.integers(0, templates.shape[0], size=(n_sims, n))
        mix = rng.standard_normal((n_sims, n, noise.shape[0]))
        return templates[picks] + q * (mix @ noise)


def _fit(bits: np.ndarray) -> tuple[float, float, float]:
    """``(r, K, d)`` of one prompt's pilot images: the flip level that keeps their mean distance.

    Images made from n0 templates with flip rate q (r = 2q(1-q)) have expected mean pairwise
    distance ``r K + (1 - 1/n0) d`` with ``K = B/n0 + (1 - 1/n0)(B - 2d)`` and d the templates'
    mean distance (a pair shares its template with probability 1/n0); ``r = d / (n0 K)`` keeps
    it at d.
    """
    n0, width = bits.shape
    d = pair_sum(bits) / pair_count(n0) if n0 >= 2 else 0.0
    k = width / n0 + (1 - 1 / n0) * (width - 2 * d)
    return ((d / n0) / k if n0 >= 2 else 0.0), k, d


def _noise_root(points: np.ndarray) -> np.ndarray:
    """Rows whose standard-normal mixtures have the points' sample covariance."""
    centred = points - points.mean(axis=0)
    return centred / math.sqrt(max(1, points.shape[0] - 1))


def _shifted_features(
    points: np.ndarray, shift: float, reference: float
) -> tuple[Templates, float]:
    """The smoothed-bootstrap model of :func:`_shifted` for feature points."""
    templates = compact(points)
    n0 = templates.shape[0]
    d = pair_sum(templates) / pair_count(n0) if n0 >= 2 else 0.0
    root = _noise_root(templates)
    if d <= 0:  # identical pilot images: no spread to copy; the shift cannot be simulated
        return Templates(templates, 0.0, templates, 0.0, root, root), 0.0
    h_a = math.sqrt(1 / n0)
    h_b = math.sqrt(1 / n0 + shift / d)
    return Templates(templates, h_a, templates, h_b, root, root), max(0.0, reference - d)


def shifted_templates(
    bits: np.ndarray, shift_bits: float, reference: float = math.inf
) -> tuple[Templates, float]:
    """Both arms from one arm's templates, the second further apart by ``shift_bits`` of mean
    distance; also return the largest shift the templates allow (a flip rate may not pass 1/2;
    feature points may not pass similarity 0)."""
    if bits.dtype != np.float32:
        return _shifted_features(bits, shift_bits, reference)
    r, k, d = _fit(bits)
    n0 = bits.shape[0]
    largest = 0.5 * k - d / n0
    return Templates(bits, _flip_rate(r), bits, _flip_rate(r + shift_bits / k)), largest


def own_templates(bits_a: np.ndarray, bits_b: np.ndarray) -> Templates:
    """Each arm from its own templates, at its own pilot level (the difference as seen)."""
    if bits_a.dtype != np.float32:
        # One coordinate system for both arms: the test relabels images between them.
        both = compact(np.vstack([bits_a, bits_b]))
        a, b = both[: bits_a.shape[0]], both[bits_a.shape[0] :]
        return Templates(
            a, math.sqrt(1 / a.shape[0]), b, math.sqrt(1 / b.shape[0]), _noise_root(a),
            _noise_root(b),
        )  # fmt: skip
    return Templates(bits_a, _flip_rate(_fit(bits_a)[0]), bits_b, _flip_rate(_fit(bits_b)[0]))


def _effective_dimensions(reference: Any) -> int:
    """How many independent directions unrelated photographs' features vary in: for isotropic
    noise the squared distance is a scaled chi-square with ``2 (mean / sd)^2`` degrees."""
    return max(2, round(2 * (reference.distance / max(reference.sd, 1e-9)) ** 2))


def assumed_templates(
    similarity: float,
    reference: Any,
    shift_bits: float,
    rng: np.random.Generator,
) -> tuple[Templates, float]:
    distance = reference.distance
    if reference.unit != "bits":
        # One template (the origin: only differences count) and isotropic noise whose pairs
        # lie (1 - similarity) x reference apart on average.
        dims = _effective_dimensions(reference)
        base = (1 - similarity) * distance
        origin = np.zeros((1, dims))
        root = np.eye(dims)
        h_a = math.sqrt(base / (2 * dims))
        h_b = math.sqrt((base + shift_bits) / (2 * dims))
        return Templates(origin, h_a, origin, h_b, root, root), max(0.0, distance - base)
    width = reference.bits
    # One template: images are its flips, mean distance r * B.
    template = rng.integers(0, 2, size=(1, width)).astype(np.float32)
    r_base = (1 - similarity) * distance / width
    largest = 0.5 * width - r_base * width
    shifted = _flip_rate(r_base + shift_bits / width)
    return Templates(template, _flip_rate(r_base), template, shifted), largest


def _simulate(
    templates: np.ndarray, n: int, q: float, n_sims: int, rng: np.random.Generator
) -> np.ndarray:
    """``(n_sims, n, B)`` simulated images: random templates with bits flipped at rate q."""
    picks = rng.integers(0, templates.shape[0], size=(n_sims, n))
    base = templates[picks]
    flips = rng.random(base.shape) < q
    return np.where(flips, 1 - base, base).astype(np.float32)


def _group_sums(points: np.ndarray) -> np.ndarray:
    # points: (..., n, W) -> pair sums (...): n * sum |x|^2 - |sum x|^2
    wide = points.astype(np.float64)
    total = wide.sum(axis=-2)
    lengths = np.einsum("...nw,...nw->...", wide, wide)
    return points.shape[-2] * lengths - np.einsum("...w,...w->...", total, total)


#: Relabellings tested together: a simulated run whose test can no longer reject after a
#: block is dropped from the next ones.
_BLOCK = 250
#: Integers up to this size are exact in float32 (a 24-bit significand).
_FLOAT32_EXACT = 2.0**24


def _linear_parts(stacked: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``(constant (S,), slope (S, 2n))`` of the statistic ``pair sum of arm B - pair sum of
    arm A`` of each simulated run (``stacked``: ``(S, 2n, W)``, arm A's images then arm B's),
    which under a relabelling ``m`` (``(2n,)``, 1 = labelled arm A, n of them) is
    ``constant - 2 slope @ m``.

    With ``x_i`` the images, ``L_i = |x_i|^2`` and ``T`` their sum, a group's pair sum is
    ``n sum L - |sum x|^2``; arm A's sum is ``m @ X`` and arm B's ``T - m @ X``, so the squares
    cancel and the statistic is linear in the mask::

        sum_B - sum_A = n sum_i L_i - |T|^2 - 2 (n L - X @ T) @ m

    (for hash bits, where ``L_i = sum_w x_iw``: ``sum_w T_w (n - T_w) - 2 (X @ (n - T)) @ m``).
    One ``(S, 2n) @ (2n, P)`` product then replaces an ``(S, P, W)`` array per relabelling.
    """
    wide = stacked.astype(np.float64)
    total = wide.sum(axis=1)  # (S, W)
    lengths = np.einsum("snw,snw->sn", wide, wide)  # (S, 2n)
    constant = n * lengths.sum(axis=1) - np.einsum("sw,sw->s", total, total)
    slope = n * lengths - np.matmul(wide, total[:, :, None])[:, :, 0]
    return constant, slope


def _masked_slopes(slope: np.ndarray, masks: np.ndarray, integral: bool) -> np.ndarray:
    """``slope @ masks.T`` (``(S, m) @ (m, P)``), exact for integer slopes.

    Hash bits make every slope an integer; when every partial sum of a row stays below 2^24
    (the sum of its absolute values does), float32 holds each one exactly, and its product
    is five times quicker than float64's here, to the same bits. Feature points: float64.
    """
    if integral and np.abs(slope).sum(axis=1).max(initial=0.0) < _FLOAT32_EXACT:
        product = slope.astype(np.float32) @ masks.T.astype(np.float32)
        return product.astype(np.float64)
    return slope @ masks.T.astype(np.float64)


def _block_hits(
    constant: np.ndarray,
    slope: np.ndarray,
    masks: np.ndarray,
    threshold: np.ndarray,
    pairs: float,
    integral: bool,
) -> np.ndarray:
    """Per simulated run, how many of the relabellings ``masks`` give a statistic
    ``|constant - 2 slope @ m| / pairs`` at least its ``threshold``: the counts the float64
    product gives.

    Hash bits: exact (:func:`_masked_slopes`). Feature points: the product in float32 (five
    times quicker here), whose error is bounded (a sum of k terms, each rounded once to
    float32, is off by at most ``(k + 1) u / (1 - (k + 1) u)`` times the sum of their sizes,
    u = 2^-24, in any order of summation); only the statistics that close to their threshold
    are computed again in float64, so every count is the float64 one (but for a statistic
    within float64's rounding of its threshold, which the threshold's slack leaves aside).
    """
    if integral:
        null = np.abs((constant[:, None] - 2 * _masked_slopes(slope, masks, True)) / pairs)
        return (null >= threshold[:, None]).sum(axis=1)
    weights = masks.T.astype(np.float32)
    approx = (slope.astype(np.float32) @ weights).astype(np.float64)
    null = np.abs((constant[:, None] - 2 * approx) / pairs)
    terms = masks.shape[1] + 1
    unit = terms * 2.0**-24
    size = np.abs(slope).sum(axis=1)
    # The float32 bound, and a margin for float64's own roundings of these few operations.
    roundoff = max(1e-12, terms * 2.0**-50)
    margin = (2 * size * unit / (1 - unit) + roundoff * (np.abs(constant) + 2 * size)) / pairs
    sure = null - margin[:, None] >= threshold[:, None]
    unsure = np.abs(null - threshold[:, None]) <= margin[:, None]
    hits = sure.sum(axis=1)
    rows, cols = np.nonzero(unsure & ~sure)
    if rows.size:
        exact = np.einsum("ij,ij->i", slope[rows], masks[cols].astype(np.float64))
        again = np.abs((constant[rows] - 2 * exact) / pairs) >= threshold[rows]
        hits += np.bincount(rows[again], minlength=slope.shape[0])
    return hits


def _relabelled_sums(stacked: np.ndarray, mask: np.ndarray, n: int) -> np.ndarray:
    """``(S, P)``: the statistic of every simulated run under every relabelling (``mask``:
    ``(P, 2n)``, True = labelled arm A). Exact for hash bits (every term is an integer below
    2^53, and below 2^24 where float32 is used), the same bits as the quadratic form it
    replaces; feature points differ from it by rounding only."""
    constant, slope = _linear_parts(stacked, n)
    return constant[:, None] - 2 * _masked_slopes(slope, mask, stacked.dtype == np.float32)


def _most_hits(draws: int, exact: bool, level: float) -> int:
    """The most relabellings as extreme as the observed statistic with which a test still
    rejects at ``level`` (-1: none does; a rejection needs few, so count up)."""
    hits = -1
    while hits < draws and _rejects(hits + 1, draws, exact, level):
        hits += 1
    return hits


def _rejects(hits: int | np.ndarray, draws: int, exact: bool, level: float) -> Any:
    p_values = hits / draws if exact else (1 + hits) / (1 + draws)
    return p_values < level


def power_at(
    templates: Sequence[Templates],
    n: int,
    *,
    level: float,
    n_sims: int,
    n_perm: int,
    rng: np.random.Generator,
) -> tuple[float, float]:
    """(power, standard error) of the stratified permutation test at ``n`` repeats per arm.

    Simulates ``n_sims`` runs and tests each as :func:`~imgkit.analysis.resampling.
    relabel_two_arms` does (exact when there are at most ``n_perm`` relabellings, else
    ``n_perm`` random ones, shared by the simulated runs, which keeps each test valid), all
    runs and relabellings at once in closed form (:func:`_linear_parts`). Relabellings go in
    blocks; a run with more relabellings as extreme as its own than a rejection allows is
    decided (not rejected) and left out of the blocks after, which changes no decision.
    """
    strata_sizes = [(n, n)] * len(templates)
    masks, exact = stratum_labelings(strata_sizes, n_perm, rng)
    pairs = pair_count(n) * len(templates)
    observed = np.zeros(n_sims)
    constant = np.zeros(n_sims)
    slopes = []
    integral = True
    for t in templates:  # in the order the quadratic form drew them: the same runs
        arm_a = t.simulate("a", n, n_sims, rng)
        arm_b = t.simulate("b", n, n_sims, rng)
        observed += _group_sums(arm_b) - _group_sums(arm_a)
        part, slope = _linear_parts(np.concatenate([arm_a, arm_b], axis=1), n)
        constant += part
        slopes.append(slope)
        integral = integral and arm_a.dtype == np.float32
    # Every stratum's relabelling side by side: one product sums them over the strata.
    slope = np.concatenate(slopes, axis=1)  # (S, 2n x strata)
    every = np.concatenate(masks, axis=1)  # (P, 2n x strata)
    observed = np.abs(observed / pairs)
    threshold = observed - 1e-9 * np.maximum(1.0, observed)
    draws = every.shape[0]
    most = _most_hits(draws, exact, level)
    hits = np.zeros(n_sims, dtype=np.int64)
    active = np.arange(n_sims)
    for start in range(0, draws, _BLOCK):
        if not active.size:
            break
        block = every[start : start + _BLOCK]
        hits[active] += _block_hits(
            constant[active], slope[active], block, threshold[active], pairs, integral
        )
        active = active[hits[active] <= most]
    power = float(np.mean(_rejects(hits, draws, exact, level)))
    return power, math.sqrt(power * (1 - power) / n_sims)
