"""A judge model asked the raters' questions: :func:`judge_run`, ``imgkit judge RUN --judge M``.

The judge sees what a rater sees and nothing more: the prompt as written (never a rewrite) and
images by content, no arm named. It is asked with a fixed, versioned rubric
(``data/judge_rubric.v1.json``, copied into the run folder beside its answers):

* **pairwise**, per pair of images of one prompt from two arms, the three questions at once,
  in **both orders** (first/second swapped), so a judge that favours a position cancels out;
  each order's answers are kept as answers of their own (a judge rater ``judge-<model>``), so
  the people's ranking code ranks the judge too, and where the two orders disagree the
  agreement with people counts a tie;
* a **per-image check** of each object and attribute the prompt names, shown or not.

Answers come back as structured output (the Responses API's ``text.format`` with a strict
``json_schema``). Before anything is sent the cost is estimated as a worst case (every
request's input tokens plus its whole ``max_output_tokens``, at the prices of
``data/judges.toml``, with their source and date) and held against the budget; a live judge
requires one. During the run a request is sent only while what was spent plus its worst case
fits the budget.

Resumable as a drill is: each request has a key; ``RUN/judge/<model>/requests.jsonl`` records
it as sent before it goes and as answered (with the answer, usage and cost) when it comes back
(:func:`imgkit.ratings.store.append_jsonl`: fsynced lines, a torn one ignored). A second run
asks only what has no answer; a request sent but never answered is asked again and counted as
possibly billed. Answer ids are derived from the request key, so answers are never doubled.

On the simulator (the default backend) the judge is played by the simulator, labelled
simulated everywhere; its answers follow what it drew (:mod:`imgkit.simulator.openai_judge`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from importlib import resources
from itertools import combinations
from pathlib import Path
from typing import Any

from imgkit.errors import BudgetExceededError, RunError, ValidationError, check_argument
from imgkit.ratings.judge_requests import (
    JudgeTask,
    ask,
    estimate_settings,
    image_tokens,
    open_client,
    usage_tokens,
)
from imgkit.ratings.judges import JudgeSpec, judge_catalog
from imgkit.ratings.store import CRITERIA, Answer, RatingStore, append_jsonl, read_jsonl

__all__ = [
    "JUDGE_DIR",
    "JudgeResult",
    "JudgeSpec",
    "JudgeTask",
    "judge_catalog",
    "judge_checks",
    "judge_run",
    "judge_tasks",
    "load_rubric",
]

#: Where a judge's records go in a run folder: ``judge/<model>/``.
JUDGE_DIR = "judge"
RUBRIC_FILE = "judge_rubric.v1.json"
_CHOICE = {"first": 0, "second": 1}


@functools.cache
def load_rubric() -> dict[str, Any]:
    """The fixed rubric (its ``version`` names it in every record)."""
    text = resources.files("imgkit.ratings").joinpath(f"data/{RUBRIC_FILE}").read_text("utf-8")
    return json.loads(text)


def judge_tasks(images: Any, *, pairs_per_prompt: int = 3, seed: int = 0) -> list[JudgeTask]:
    """The requests a judge is sent for ``images`` (:func:`~imgkit.ratings.schedule.
    rateable_images`): for each prompt and two arms, up to ``pairs_per_prompt`` pairs of
    images (drawn with ``seed``), each in both orders, then one check per image in them."""
    if not isinstance(pairs_per_prompt, int) or pairs_per_prompt < 1:
        raise ValidationError("pairs_per_prompt", pairs_per_prompt, "an integer >= 1")
    tasks: list[JudgeTask] = []
    checked: dict[str, JudgeTask] = {}
    for prompt_id, part in images.groupby("prompt_id", sort=True):
        by_arm = {
            arm: sorted(zip(rows["image_sha256"], rows["image_path"], strict=True))
            for arm, rows in part.groupby("arm", sort=True)
        }
        prompt = str(part["prompt"].iloc[0])
        for a, b in combinations(sorted(by_arm), 2):
            rng = random.Random(f"{seed}:{prompt_id}:{a}:{b}")
            first_arm, second_arm = list(by_arm[a]), list(by_arm[b])
            rng.shuffle(first_arm)
            rng.shuffle(second_arm)
            n_a, n_b = len(first_arm), len(second_arm)
            # each image used once before any is used twice, so more of each arm is seen
            combos = list(
                dict.fromkeys(
                    (first_arm[i % n_a], second_arm[(i + i // n_a) % n_b])
                    for i in range(min(pairs_per_prompt, n_a * n_b) * 2)
                )
            )
            for (sha_a, path_a), (sha_b, path_b) in combos[:pairs_per_prompt]:
                pair_id = hashlib.sha256(f"{sha_a}:{sha_b}".encode()).hexdigest()[:16]
                for order in ("ab", "ba"):
                    first, second = (0, 1) if order == "ab" else (1, 0)
                    shas, arms = (sha_a, sha_b), (a, b)
                    paths = (Path(str(path_a)), Path(str(path_b)))
                    tasks.append(
                        JudgeTask(
                            key=f"pair:{shas[first]}:{shas[second]}",
                            kind="pair",
                            prompt_id=str(prompt_id),
                            prompt=prompt,
                            shas=(shas[first], shas[second]),
                            arms=(arms[first], arms[second]),
                            paths=(paths[first], paths[second]),
                            pair_id=pair_id,
                            order=order,
                        )
                    )
                for sha, path, arm in ((sha_a, path_a, a), (sha_b, path_b, b)):
                    checked.setdefault(
                        sha,
                        JudgeTask(
                            key=f"check:{sha}",
                            kind="check",
                            prompt_id=str(prompt_id),
                            prompt=prompt,
                            shas=(sha,),
                            arms=(arm,),
                            paths=(Path(str(path)),),
                        ),
                    )
    return tasks + list(checked.values())


# ------------------------------------------------------------------------------- the cost


def worst_case_usd(task: JudgeTask, spec: JudgeSpec, rubric: dict[str, Any]) -> Decimal:
    """The most ``task`` can cost: its input tokens (text at four characters a token, each
    image at the low-detail figure) and the whole ``max_output_tokens``."""
    settings = estimate_settings()
    chars = len(rubric["instructions"]) + len(task.text(rubric)) + 400  # + the schema
    input_tokens = -(-chars // settings["chars_per_token"]) + sum(
        image_tokens(path, spec) for path in task.paths
    )
    return (
        spec.input_per_million * input_tokens
        + spec.output_per_million * settings["max_output_tokens"]
    ) / Decimal(1_000_000)


def _cost(usage: Any, spec: JudgeSpec) -> Decimal:
    tokens_in, tokens_out = usage_tokens(usage)
    return (spec.input_per_million * tokens_in + spec.output_per_million * tokens_out) / Decimal(
        1_000_000
    )


# ------------------------------------------------------------------------------- requests


@dataclass
class JudgeResult:
    """What :func:`judge_run` did. Money in USD; ``estimate_usd`` is the worst case of what
    was left to ask."""

    judge: str
    simulated: bool
    rubric_version: str
    planned: int
    already_done: int
    sent: int
    answered: int
    maybe_billed: int
    estimate_usd: Decimal
    spent_usd: Decimal
    stopped: str | None = None
    folder: Path | None = None
    failures: list[str] = field(default_factory=list)

    @property
    def sentence(self) -> str:
        label = " (simulated: the imgkit simulator played the judge)" if self.simulated else ""
        text = (
            f"judge {self.judge}{label}, rubric {self.rubric_version}: {self.answered} of "
            f"{self.planned} requests answered ({self.already_done} before this run, "
            f"{self.sent} sent now), ${self.spent_usd:.4f} spent now"
        )
        if self.stopped:
            text += f"; stopped: {self.stopped}"
        if self.failures:
            text += f"; {len(self.failures)} failed (run again to retry): {self.failures[0]}"
        return text + "."

    def to_dict(self) -> dict[str, Any]:
        return {
            "judge": self.judge,
            "simulated": self.simulated,
            "rubric_version": self.rubric_version,
            "planned": self.planned,
            "already_done": self.already_done,
            "sent": self.sent,
            "answered": self.answered,
            "maybe_billed": self.maybe_billed,
            "estimate_usd": str(self.estimate_usd),
            "spent_usd": str(self.spent_usd),
            "stopped": self.stopped,
            "folder": str(self.folder) if self.folder else None,
            "failures": list(self.failures),
            "sentence": self.sentence,
        }


def _answer_id(judge: str, version: str, key: str, criterion: str) -> str:
    return hashlib.sha256(f"{judge}|{version}|{key}|{criterion}".encode()).hexdigest()[:32]


def _rater(judge: str) -> str:
    return "judge-" + "".join(c if c.isalnum() or c in "._-" else "-" for c in judge)[:33]


def _answers_of(record: dict[str, Any]) -> list[Answer]:
    """The pairwise answers a request record holds (none for a check)."""
    if record.get("kind") != "pair":
        return []
    answer = record["answer"]
    out = []
    for criterion in CRITERIA:
        said = answer.get(criterion)
        choice = {"first": "left", "second": "right", "tie": "tie"}.get(said, "skip")
        out.append(
            Answer(
                rater=_rater(record["judge"]),
                source="judge",
                criterion=criterion,
                choice=choice,
                prompt_id=record["prompt_id"],
                left=record["shas"][0],
                right=record["shas"][1],
                left_arm=record["arms"][0],
                right_arm=record["arms"][1],
                pair_id=record["pair_id"],
                answered_at=record["at"],
                answer_id=_answer_id(
                    record["judge"], record["rubric_version"], record["key"], criterion
                ),
                extra={
                    "judge": record["judge"],
                    "rubric_version": record["rubric_version"],
                    "simulated": record["simulated"],
                    "order": record["order"],
                },
            )
        )
    return out


def judge_run(
    run: Any,
    *,
    judge: str,
    backend: str = "sim",
    budget: float | None = None,
    sim_url: str | None = None,
    pairs_per_prompt: int = 3,
    seed: int = 0,
    log: Callable[[str], Any] | None = None,
) -> JudgeResult:
    """Ask ``judge`` the raters' questions about the images of ``run`` (a ``Run`` or folder).

    ``backend`` "sim" (default: the simulator plays the judge; ``sim_url`` a simulator already
    running, else one is started) or "live" (needs ``budget`` in USD and OPENAI_API_KEY).
    Raises :class:`ValidationError` for an unknown judge, backend or a live run without a
    budget, :class:`BudgetExceededError` when the worst case of what is left to ask exceeds
    the budget (nothing is sent then).
    """
    from imgkit.errors import ImgkitError
    from imgkit.providers.errormap import translating
    from imgkit.ratings.schedule import rateable_images
    from imgkit.runs.folder import open_run
    from imgkit.runs.storage import write_atomic

    check_argument("backend", backend, ("sim", "live"))
    catalog = judge_catalog()
    spec = catalog.get(judge)
    if spec is None:
        raise ValidationError("judge", judge, sorted(catalog))
    if backend == "live" and budget is None:
        raise ValidationError("budget", None, "a number of USD: a live judge spends money")
    if budget is not None and not (isinstance(budget, int | float) and budget >= 0):
        raise ValidationError("budget", budget, "a number of USD >= 0")
    folder = Path(getattr(run, "path", run))
    rubric = load_rubric()
    version = rubric["version"]
    images = rateable_images(open_run(folder).to_frame())
    tasks = judge_tasks(images, pairs_per_prompt=pairs_per_prompt, seed=seed)
    record_path = f"{JUDGE_DIR}/{judge}/requests.jsonl"
    records = read_jsonl(folder / record_path)
    done = {
        r["key"] for r in records if r.get("status") == "ok" and r.get("rubric_version") == version
    }
    sent_before = {r["key"] for r in records if r.get("status") == "sent"}
    left = [t for t in tasks if t.key not in done]
    estimate = sum((worst_case_usd(t, spec, rubric) for t in left), Decimal(0))
    if budget is not None and estimate > Decimal(str(budget)):
        raise BudgetExceededError(
            f"judging {len(left)} requests with {judge} could cost up to ${estimate:.4f} "
            f"(worst case), over the budget of ${budget:.4f}",
            budget_usd=float(budget),
            needed_usd=float(estimate),
        )
    judge_folder = folder / JUDGE_DIR / judge
    rubric_copy = judge_folder / f"rubric.{version.replace('/', '-')}.json"
    if left and not rubric_copy.exists():
        if (folder / JUDGE_DIR).is_symlink():
            raise RunError(f"{folder / JUDGE_DIR} is a symbolic link; not writing through it")
        judge_folder.mkdir(parents=True, exist_ok=True)
        write_atomic(rubric_copy, json.dumps(rubric, indent=2).encode("utf-8"))
    result = JudgeResult(
        judge=judge,
        simulated=backend == "sim",
        rubric_version=version,
        planned=len(tasks),
        already_done=len(tasks) - len(left),
        sent=0,
        answered=len(tasks) - len(left),
        maybe_billed=len([t for t in left if t.key in sent_before]),
        estimate_usd=estimate,
        spent_usd=Decimal(0),
        folder=judge_folder,
    )
    if log and left:
        log(f"judge {judge}: {len(left)} requests to send, worst case ${estimate:.4f}")
    store = RatingStore(folder, _rater(judge))
    _catch_up(store, records, version)
    if left:
        with open_client(spec, backend, sim_url) as (client, simulated):
            result.simulated = simulated
            for task in left:
                worst = worst_case_usd(task, spec, rubric)
                if budget is not None and result.spent_usd + worst > Decimal(str(budget)):
                    result.stopped = "the budget would be passed; run again with more"
                    break
                append_jsonl(
                    folder, record_path, [{"key": task.key, "status": "sent", "at": time.time()}]
                )
                result.sent += 1
                try:
                    with translating("gemini" if spec.api == "gemini" else "openai", judge):
                        answer, usage, request_id = ask(client, spec, task, rubric)
                except (ImgkitError, ValueError) as exc:
                    result.failures.append(f"{task.key}: {exc}")
                    continue
                cost = _cost(usage, spec)
                tokens_in, tokens_out = usage_tokens(usage)
                result.spent_usd += cost
                record = {
                    "key": task.key,
                    "status": "ok",
                    "kind": task.kind,
                    "judge": judge,
                    "rubric_version": version,
                    "simulated": simulated,
                    "prompt_id": task.prompt_id,
                    "shas": list(task.shas),
                    "arms": list(task.arms),
                    "pair_id": task.pair_id,
                    "order": task.order,
                    "answer": answer,
                    "request_id": request_id,
                    "usage": {"input_tokens": tokens_in, "output_tokens": tokens_out},
                    "cost_usd": str(cost),
                    "price_source": f"{spec.source}, {spec.as_of}",
                    "at": time.time(),
                }
                append_jsonl(folder, record_path, [record])
                store.append(_answers_of(record))  # a kill here: the catch-up below adds them
                result.answered += 1
                records.append(record)
    return result


def _catch_up(store: RatingStore, records: list[dict[str, Any]], version: str) -> None:
    """Add the answers of every answered request the store lacks (a kill between the record
    and its answers); answer ids come from the request, so none is added twice."""
    have = {a.answer_id for a in store.read()}
    missing = [
        a
        for r in records
        if r.get("status") == "ok" and r.get("rubric_version") == version
        for a in _answers_of(r)
        if a.answer_id not in have
    ]
    store.append(missing)


def judge_checks(run: Any) -> Any:
    """Every judge's per-image checks in ``run``: one row per named object or attribute
    (``judge``, ``simulated``, ``image_sha256``, ``arm``, ``prompt_id``, ``item``, ``kind``,
    ``shown``)."""
    import pandas as pd

    folder = Path(getattr(run, "path", run)) / JUDGE_DIR
    rows = []
    for path in sorted(folder.glob("*/requests.jsonl")) if folder.is_dir() else []:
        for record in read_jsonl(path):
            if record.get("status") != "ok" or record.get("kind") != "check":
                continue
            for item in record["answer"].get("items", []):
                rows.append(
                    {
                        "judge": record["judge"],
                        "simulated": record["simulated"],
                        "image_sha256": record["shas"][0],
                        "arm": record["arms"][0],
                        "prompt_id": record["prompt_id"],
                        "item": item.get("item"),
                        "kind": item.get("kind"),
                        "shown": bool(item.get("shown")),
                    }
                )
    columns = ["judge", "simulated", "image_sha256", "arm", "prompt_id", "item", "kind", "shown"]
    return pd.DataFrame(rows, columns=columns)
