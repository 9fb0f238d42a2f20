"""How many repeats to buy: a sample-size planner for consistency comparisons.

:func:`plan_repeats` answers "how many repeats per arm are needed to detect a difference of
``difference`` in similarity between two arms with probability ``power``, after correcting for
the comparisons the report will state, and what will that cost?". It estimates power by
simulation from a pilot run (or from assumed similarities), running the very test the report
runs (:func:`imgkit.analysis.resampling.relabel_two_arms`) on simulated hashes:

* **From a pilot.** Each prompt's pilot images of the base arm are the *templates*. A simulated
  image is a template drawn at random with each hash bit flipped independently with probability
  ``q`` (a smoothed bootstrap for binary vectors): ``q`` is set so that the simulated images'
  expected mean pairwise distance equals the pilot's, so the simulation keeps the pilot's level
  of consistency and its image-to-image structure (which images are outliers, which bits vary).
  The second arm is the same with a larger flip rate, set so that its expected mean distance is
  larger by ``difference x reference distance``: its similarity is lower by ``difference`` on
  the fixed scale. The base arm is the pilot's *most* consistent arm (or the one named): the
  other can only be made less consistent than its base, and from the most consistent arm every
  difference down to similarity 0 can be simulated.
* **Learned features** take the same approach with the continuous analogue of a flip, a
  smoothed bootstrap (Silverman & Young 1987): a simulated image is a template plus Gaussian
  noise with the covariance of the pilot's own images, scaled by ``h`` so that the expected
  mean distance again equals the pilot's (``h^2 = 1 / n0`` for ``n0`` templates); the second
  arm's noise is larger by the shift. Noise along the directions the pilot's images already
  vary keeps their structure, as keeping which bits vary does for hashes.
* **Assumed similarities** (no pilot): one random template per prompt, flipped to the assumed
  similarity (for learned features: isotropic noise in as many dimensions as the calibration's
  unrelated photographs effectively vary in, ``2 (mean / sd)^2`` of their distances).

Each candidate number of repeats is simulated ``n_sims`` times; power is the share of
simulations in which the test rejects at ``alpha / comparisons`` (Bonferroni's level, which is
the first step of Holm's procedure: with one true difference among the comparisons, Holm finds
it at least this often). The planner reports the power with its Monte Carlo standard error,
``sqrt(power (1 - power) / n_sims)``. The pilot's own sampling error comes on top, and a small
pilot errs one way: a few images show too little of how an arm varies, so the simulated runs
vary less than real ones and the power comes out too high. Measured through the simulator
(``benchmarks/bench_verdicts.py``, gpt-image-2 against dall-e-3+as_is, whose AS-IS images
are a mixture of untouched and rewritten prompts; 5 repeats per arm): observed power 0.29;
planned from 5-image pilots 0.61, from 20-image pilots 0.42 (and 0.85 against 0.75 observed
at 10 repeats), from 50-image pilots about 0.07 too high, from the whole 160-image pool 0.24
against 0.27. Plans from pilots under :data:`SMALL_PILOT` images per arm say so and are lower
bounds on the repeats needed; larger pilots still err a little on the optimistic side.

This is the resampling approach to power of Collings & Hamilton (1988, "Estimating the power
of the two-sample Wilcoxon test for location shift", Biometrics 44:847-860), with the shift
applied to the hashes.

The cost is the catalog's price per image of each arm (model, size, quality as the pilot ran
them) times repeats x prompts.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pandas as pd

from imgkit.analysis.blas import one_blas_thread
from imgkit.analysis.comparison import PreparedMeasure, group_rng, prepare_measure
from imgkit.analysis.measures import DEFAULT_MEASURE, Measure, parse_measure
from imgkit.analysis.power import (
    assumed_templates,
    own_templates,
    power_at,
    shifted_templates,
)
from imgkit.analysis.reference import reference_for
from imgkit.errors import ValidationError, check_argument

__all__ = ["RepeatPlan", "plan_repeats", "power_at"]  # power_at: from imgkit.analysis.power

#: A pilot with fewer images than this per arm and prompt gives an optimistic plan: a few
#: images show too little of how an arm varies (benchmarks/bench_verdicts.py: 5-image pilots
#: predicted 0.61 power where 0.29 was observed; 20-image pilots 0.42; see the module docstring).
SMALL_PILOT = 20

#: Repeats per arm tried, in order, until the power is reached.
CANDIDATE_REPEATS = (3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 40, 50, 60, 80, 100, 150, 200)


@dataclass
class RepeatPlan:
    """Result of :func:`plan_repeats`.

    ``n_per_arm``: the smallest number of repeats per arm and prompt on the candidate grid
    whose simulated power reaches ``power`` (None when even ``max_repeats`` does not), with
    ``predicted_power`` and its Monte Carlo ``power_se``. ``curve``: every candidate tried
    (``n``, ``power``, ``se``). ``cost_usd``: what ``n_per_arm`` repeats of every arm on every
    prompt would cost at the catalog's prices (None when an arm's price is unknown), with the
    per-image prices in ``prices``. ``sentence`` says it in words.
    """

    kind: str
    difference: float
    power: float
    alpha: float
    comparisons: int
    basis: str
    base_arm: str | None
    n_prompts: int
    arms: list[str]
    n_per_arm: int | None
    predicted_power: float
    power_se: float
    curve: pd.DataFrame
    cost_usd: Decimal | None
    prices: dict[str, Decimal | None]
    max_difference: float
    simulated: bool
    pilot_images: int | None = None
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def small_pilot(self) -> bool:
        """True when the pilot has fewer than :data:`SMALL_PILOT` images per arm and prompt."""
        return self.pilot_images is not None and self.pilot_images < SMALL_PILOT

    @property
    def sentence(self) -> str:
        """The plan in one sentence."""
        title = parse_measure(self.kind).title
        level = f"alpha {self.alpha:g}" + (
            f" corrected over {self.comparisons} comparisons" if self.comparisons > 1 else ""
        )
        if self.n_per_arm is None and self.difference > self.max_difference:
            return (
                f"A {title} similarity difference of {self.difference:.2f} is more than this "
                f"pilot can show (its most consistent arm is at most {self.max_difference:.2f} "
                "above similarity 0)."
            )
        if self.n_per_arm is None:
            tried = int(self.curve["n"].max()) if len(self.curve) else 0
            best = float(self.curve["power"].max()) if len(self.curve) else math.nan
            return (
                f"Even {tried} repeats per arm would detect a difference of "
                f"{self.difference:.2f} in {title} similarity only {best:.0%} of the time "
                f"({level})."
            )
        prompts = f" on each of {self.n_prompts} prompts" if self.n_prompts > 1 else ""
        cost = f", at {_usd(self.cost_usd)}" if self.cost_usd is not None else ""
        caveat = ""
        if self.small_pilot:
            caveat = (
                f" A pilot of {self.pilot_images} images per arm shows too little of how the "
                "arms vary and makes this optimistic: take it as a lower bound."
            )
        return (
            f"About {self.n_per_arm} repeats per arm{prompts} would detect a difference of "
            f"{self.difference:.2f} in {title} similarity with {self.predicted_power:.0%} "
            f"power (+-{2 * self.power_se:.0%}, {level}){cost}.{caveat}"
        )

    def to_dict(self) -> dict[str, Any]:
        """The plan as plain data (for JSON)."""
        return {
            "kind": self.kind,
            "difference": self.difference,
            "power": self.power,
            "alpha": self.alpha,
            "comparisons": self.comparisons,
            "basis": self.basis,
            "base_arm": self.base_arm,
            "n_prompts": self.n_prompts,
            "arms": list(self.arms),
            "n_per_arm": self.n_per_arm,
            "predicted_power": self.predicted_power,
            "power_se": self.power_se,
            "curve": self.curve.to_dict(orient="records"),
            "cost_usd": None if self.cost_usd is None else float(self.cost_usd),
            "prices": {k: None if v is None else float(v) for k, v in self.prices.items()},
            "max_difference": self.max_difference,
            "simulated": self.simulated,
            "pilot_images": self.pilot_images,
            "small_pilot": self.small_pilot,
            "sentence": self.sentence,
            "settings": dict(self.settings),
        }


def _usd(value: Decimal | None) -> str:
    if value is None:
        return "an unknown cost"
    return f"${value:,.2f}" if value >= 1 else f"${value:,.4f}"


# --------------------------------------------------------------------------------------------
# Prices


def _prices(frame: pd.DataFrame | None, arms: list[str], catalog: Any) -> dict[str, Any]:
    from imgkit.catalog.costs import price_per_image
    from imgkit.catalog.models import default_catalog

    prices: dict[str, Decimal | None] = {}
    if frame is None or "model" not in frame.columns:
        return {arm: None for arm in arms}
    catalog = catalog or default_catalog()
    for arm in arms:
        rows = frame[frame["arm"] == arm]
        models = [m for m in rows["model"].tolist() if isinstance(m, str) and m]
        if not models:
            prices[arm] = None
            continue
        try:
            spec = catalog.get_model(models[0])
        except Exception:  # a model the catalog no longer knows: no price to quote
            prices[arm] = None
            continue

        def first(column: str, default: str, rows: pd.DataFrame = rows) -> str:
            values = rows[column].tolist() if column in rows.columns else []
            values = [v for v in values if isinstance(v, str) and v]
            return values[0] if values else default

        size = first("size", spec.default_size)
        quality = first("quality", spec.default_quality)
        try:
            prices[arm] = price_per_image(spec, size, quality, catalog)[0]
        except Exception:  # a size or quality the catalog does not price
            prices[arm] = None
    return prices


# --------------------------------------------------------------------------------------------
# The planner


def _load(pilot: Any) -> pd.DataFrame | None:
    if pilot is None or isinstance(pilot, pd.DataFrame):
        return pilot
    import os

    if isinstance(pilot, str | os.PathLike):
        from imgkit.runs.folder import open_run

        pilot = open_run(pilot)
    if hasattr(pilot, "to_frame"):
        return pilot.to_frame()
    raise ValidationError("pilot", type(pilot).__name__, "a run folder, a Run, or a run frame")


def _arm_means(data: PreparedMeasure, arms: list[str]) -> dict[str, float]:
    means = {}
    for arm in arms:
        prompts = [p for p in data.prompts if data.size(arm, p) >= 2]
        if prompts:
            means[arm] = data.pooled(arm, prompts)[0]
    if not means:
        raise ValidationError(
            "pilot", "no arm with two images on a prompt", "a pilot with at least two images"
        )
    return means


def _base_arm(data: PreparedMeasure, arms: list[str], shift_bits: float) -> str:
    """The least consistent arm whose templates allow the shift, else the most consistent."""
    means = _arm_means(data, arms)
    for arm in sorted(means, key=lambda a: (-means[a], a)):
        prompts = [p for p in data.prompts if data.size(arm, p) >= 2]
        reference = data.reference.distance
        if all(
            shifted_templates(data.groups[(arm, p)], shift_bits, reference)[1] >= shift_bits
            for p in prompts
        ):
            return arm
    return min(means, key=lambda a: (means[a], a))


def plan_repeats(
    pilot: Any = None,
    *,
    difference: float | None = 0.1,
    power: float = 0.8,
    alpha: float = 0.05,
    comparisons: int | None = None,
    kind: Measure | str = DEFAULT_MEASURE,
    arms: Sequence[str] | None = None,
    base_arm: str | None = None,
    similarity: float | None = None,
    n_prompts: int | None = None,
    n_sims: int = 200,
    n_perm: int = 2000,
    max_repeats: int = 200,
    seed: int = 0,
    hash_size: int = 8,
    catalog: Any = None,
    progress: Callable[[str], None] | None = None,
) -> RepeatPlan:
    """How many repeats per arm detect a similarity ``difference`` with ``power``; and the cost.

    ``pilot``: a run folder, ``Run`` or run frame whose images show how the arms vary (see the
    module docstring); or None with an assumed base ``similarity`` (0..1 on the fixed scale).
    ``difference``: the drop in similarity to detect (e.g. 0.1 for 0.85 against 0.75); None,
    with a pilot and exactly two ``arms``, plans for the difference the pilot shows, simulating
    each arm from its own images (the most faithful model when the question is "would more
    repeats confirm what we saw?"). ``comparisons``: how many comparisons the verdict will be
    corrected over; by default every pair of the pilot's arms (1 without a pilot). ``arms``:
    the pilot arms the run will hold (default all; their prices make the cost). ``base_arm``:
    the arm the shift model starts from (default: the least consistent one whose images allow
    the difference, else the most consistent). ``n_prompts``: prompts in the planned run
    (default the pilot's; more prompts need fewer repeats each). ``n_sims`` simulations per
    candidate; ``n_perm`` relabellings per simulated test.

    ``kind`` is the measure the verdict will use (the learned measure by default).
    ``progress``, when given, is called with a line of what the planner is doing (reading the
    pilot, each number of repeats tried and its power): a plan takes seconds to minutes.

    Raises :class:`ValidationError` for out-of-range arguments, an unknown kind or arm, or a
    pilot without two images of one arm on one prompt.
    """
    measure = parse_measure(kind, hash_size=hash_size)
    for name, value, low, high in (
        ("difference", -0.5 if difference is None else difference, 0.0, 1.0),
        ("power", power, 0.0, 1.0),
        ("alpha", alpha, 0.0, 1.0),
    ):
        if difference is None and name == "difference":
            continue
        if not isinstance(value, int | float) or not low < value < high:
            raise ValidationError(name, value, f"a number between {low:g} and {high:g}")
    for name, value, least in (
        ("n_sims", n_sims, 10),
        ("n_perm", n_perm, 100),
        ("max_repeats", max_repeats, 3),
    ):
        if not isinstance(value, int) or isinstance(value, bool) or value < least:
            raise ValidationError(name, value, f"an integer >= {least}")
    if comparisons is not None and (not isinstance(comparisons, int) or comparisons < 1):
        raise ValidationError("comparisons", comparisons, "an integer >= 1")
    if n_prompts is not None and (not isinstance(n_prompts, int) or n_prompts < 1):
        raise ValidationError("n_prompts", n_prompts, "an integer >= 1")
    say = progress or (lambda _line: None)
    if pilot is not None:
        say(f"reading the pilot's images ({measure.name})")
    frame = _load(pilot)
    rng = group_rng(seed, "plan", measure.name, difference)
    simulated = False
    pilot_images = None

    if frame is not None:
        data = prepare_measure(frame, measure, n_boot=1, seed=seed)
        chosen = data.arms if arms is None else list(dict.fromkeys(str(a) for a in arms))
        for arm in chosen:
            check_argument("arms", arm, data.arms)
        reference = data.reference.distance
        basis = "pilot"
        default_comparisons = max(1, math.comb(len(chosen), 2))
        simulated = data.simulated
        sizes = [data.size(a, p) for a in chosen for p in data.prompts if data.size(a, p) >= 2]
        pilot_images = min(sizes) if sizes else None
        if difference is None:
            if len(chosen) != 2:
                raise ValidationError(
                    "arms", arms, "exactly two arms when the difference is the pilot's own"
                )
            arm_a, arm_b = chosen
            shared = [p for p in data.prompts if min(data.size(a, p) for a in chosen) >= 2]
            if not shared:
                raise ValidationError("arms", chosen, "two arms with two images on a prompt")
            means = _arm_means(data, chosen)
            difference = abs(means[arm_b] - means[arm_a]) / reference
            fitted = [
                (own_templates(data.groups[(arm_a, p)], data.groups[(arm_b, p)]), math.inf)
                for p in shared
            ]
            base = None
            basis = "pilot (each arm from its own images, the difference as seen)"
        else:
            shift = difference * reference
            base = base_arm if base_arm is not None else _base_arm(data, chosen, shift)
            check_argument("base_arm", base, data.arms)
            fitted = [
                shifted_templates(data.groups[(base, p)], shift, reference)
                for p in data.prompts
                if data.size(base, p) >= 2
            ]
            if not fitted:
                raise ValidationError("base_arm", base, "an arm with two images on some prompt")
    else:
        if similarity is None or not 0 <= similarity < 1:
            raise ValidationError(
                "similarity", similarity, "a number in [0, 1) when there is no pilot run"
            )
        if difference is None:
            raise ValidationError("difference", None, "a number between 0 and 1 without a pilot")
        ref = reference_for(measure)
        reference, shift, chosen, base = ref.distance, difference * ref.distance, [], None
        fitted = [assumed_templates(similarity, ref, shift, rng) for _ in range(n_prompts or 1)]
        basis = f"assumed similarity {similarity:g}"
        default_comparisons = 1
    templates = [t for t, _ in fitted]
    max_difference = min(largest for _, largest in fitted) / reference
    prompts = n_prompts or len(templates)
    templates = [templates[k % len(templates)] for k in range(prompts)]
    comparisons = comparisons or default_comparisons
    level = alpha / comparisons

    measured: dict[int, tuple[float, float]] = {}

    def reaches(n: int) -> bool:
        if n not in measured:
            say(f"simulating {n_sims} runs of {n} repeats per arm...")
            with one_blas_thread():  # small products: see imgkit.analysis.blas
                measured[n] = power_at(
                    templates, n, level=level, n_sims=n_sims, n_perm=n_perm, rng=rng
                )
            say(f"{n} repeats per arm: power {measured[n][0]:.0%}")
        return measured[n][0] >= power

    chosen_n = None
    if difference <= max_difference:
        candidates = [c for c in CANDIDATE_REPEATS if c <= max_repeats] or [max_repeats]
        previous = None
        for n in candidates:
            if reaches(n):
                chosen_n = n
                break
            previous = n
        if chosen_n is not None and previous is not None:
            # Narrow the step between the last candidate short of the power and the first
            # that reaches it (powers are noisy, so this finds a smallest n that reaches it).
            low, high = previous, chosen_n
            while high - low > 1:
                middle = (low + high) // 2
                if reaches(middle):
                    high = middle
                else:
                    low = middle
            chosen_n = high
    records = [{"n": n, "power": pw, "se": se} for n, (pw, se) in sorted(measured.items())]
    curve = pd.DataFrame.from_records(records, columns=["n", "power", "se"])
    prices = _prices(frame, chosen, catalog)
    cost = None
    if chosen_n is not None and prices and all(v is not None for v in prices.values()):
        cost = sum((v * chosen_n * prompts for v in prices.values()), Decimal(0))
    at = measured.get(chosen_n) if chosen_n is not None else None
    if at is None and records:
        at = (records[-1]["power"], records[-1]["se"])
    at = at or (math.nan, math.nan)
    return RepeatPlan(
        kind=measure.name,
        difference=float(difference),
        power=float(power),
        alpha=float(alpha),
        comparisons=comparisons,
        basis=basis,
        base_arm=base,
        n_prompts=prompts,
        arms=chosen,
        n_per_arm=chosen_n,
        predicted_power=float(at[0]),
        power_se=float(at[1]),
        curve=curve,
        cost_usd=cost,
        prices=prices,
        max_difference=float(max_difference),
        simulated=simulated,
        pilot_images=pilot_images,
        settings={"n_sims": n_sims, "n_perm": n_perm, "seed": seed, "hash_size": hash_size},
    )
