"""A run folder, read back: one :class:`Run` per folder, usable offline.

A run folder holds::

    manifest.json      every parameter, backend, simulator seed, versions, price table, times
    ledger.sqlite      the plan and every attempt (see imgkit.runs.ledger)
    images/            the images, named <sha256>.<ext> in the format the service returned
    run.lock           held by the runner writing the folder, if any

:func:`open_run` needs nothing but the folder: no network, no keys, no simulator.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imgkit.errors import RunError
from imgkit.experiment.options import DrillOptions
from imgkit.runs.ledger import GENERATION_STATUS_OF, Ledger
from imgkit.runs.manifest import MANIFEST_NAME, read_manifest
from imgkit.runs.storage import IMAGES_DIR, sha256_file
from imgkit.runs.verified import VerifiedImages

if TYPE_CHECKING:
    # pandas loads when a frame is asked for: opening a run, its manifest, status and summary
    # (what a drill does when it ends) need none of it.
    import pandas as pd

__all__ = [
    "ATTEMPT_COLUMNS",
    "FRAME_COLUMNS",
    "GENERATION_STATUSES",
    "Run",
    "distinct_names",
    "open_run",
]


#: Status of a generation: made ('ok'), failed after the retries the policy allows, refused on
#: content grounds, sent but never answered (runner died or stopped: 'in_flight'), or not sent
#: yet (the run was stopped by its budget or by the user; a resume sends it: 'pending').
GENERATION_STATUSES = ("ok", "failed", "refused", "in_flight", "pending")

FRAME_COLUMNS = (
    "run_id",
    "arm",
    "model",
    "provider",
    "endpoint",
    "prompt_id",
    "prompt",
    "sent_prompt",
    "repeat",
    "status",
    "attempts",
    "image_path",
    "image_problem",
    "image_sha256",
    "width",
    "height",
    "format",
    "revised_prompt",
    "cost_usd",
    "cost_basis",
    "estimated_usd",
    "latency_s",
    "first_partial_s",
    "final_image_s",
    "request_id",
    "error_kind",
    "error_message",
    "may_have_been_billed",
    "simulated",
    "size",
    "quality",
    "style",
    "started_at",
    "ended_at",
)

ATTEMPT_COLUMNS = (
    "run_id",
    "attempt_id",
    "session",
    "arm",
    "model",
    "prompt_id",
    "repeat",
    "try",
    "status",
    "started_at",
    "ended_at",
    "not_before",
    "latency_s",
    "estimated_usd",
    "cost_usd",
    "cost_basis",
    "request_id",
    "image_sha256",
    "error_kind",
    "error_message",
    "will_retry",
    "may_have_been_billed",
)


def _iso(value: float | None) -> pd.Timestamp | None:
    import pandas as pd

    if value is None or pd.isna(value):
        return None
    return pd.Timestamp(value, unit="s", tz="UTC")


def _deciding_attempt(
    tries: Sequence[dict[str, Any]],
) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """(its last ok attempt or None, the attempt that decides its status: that ok one, else the
    last; ``{}`` when never tried) of one generation's attempts, oldest first. The last ok one:
    a regenerated image supersedes one that went missing."""
    ok = next((a for a in reversed(tries) if a["status"] == "ok"), None)
    return ok, ok or (tries[-1] if tries else {})


class Run:
    """One run folder. Cheap to create; every method reads the folder afresh.

    Attributes: ``path`` (absolute :class:`~pathlib.Path`), ``run_id``; properties
    ``manifest`` (dict) and ``status`` ("running", "complete", "stopped", "interrupted", ...).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).resolve()
        self.run_id: str = str(self._readable_manifest().get("run_id") or self.path.name)

    def __repr__(self) -> str:
        """``Run('<path>', status=..., arms=[...], images=ok/planned, spent=$..., simulated)``."""
        from imgkit.runs.display import run_line

        return run_line(self)

    def _repr_html_(self) -> str:
        """A summary card for notebooks: arms, images, spend, status, a SIMULATED badge when it
        applies and a few thumbnails (see :mod:`imgkit.runs.display`)."""
        from imgkit.runs.display import run_card_html

        return run_card_html(self)

    @property
    def manifest(self) -> dict[str, Any]:
        """The manifest as last written (read from disk each time); :class:`RunError` when it
        is missing or damaged."""
        return read_manifest(self.path)

    def _readable_manifest(self) -> dict[str, Any]:
        """The manifest, or ``{}`` with a warning when it is damaged: the images and attempts
        are in the ledger, and reading them does not need it."""
        try:
            return self.manifest
        except RunError as exc:
            warnings.warn(f"{exc}; reading the run from its ledger alone", UserWarning, 3)
            return {}

    @property
    def status(self) -> str:
        """The manifest's status; "crashed" when it says "running" but no runner holds the
        folder (the runner was killed: resume it)."""
        status = str(self._readable_manifest().get("status", "unknown"))
        if status == "running" and not self.is_active():
            return "crashed"
        return status

    def is_active(self) -> bool:
        """Whether a runner (in this process or another) is writing the folder right now."""
        return Ledger.is_locked(self.path)

    @property
    def images_dir(self) -> Path:
        return self.path / IMAGES_DIR

    def _ledger(self) -> Ledger:
        return Ledger.open(self.path)

    def attempts_frame(self) -> pd.DataFrame:
        """One row per attempt (every send, retries included), oldest first.

        Times are UTC timestamps; ``not_before`` is the earliest moment the attempt was allowed
        to start (a Retry-After), so ``started_at >= not_before`` shows it was honoured.
        """
        import pandas as pd

        with self._ledger() as ledger:
            rows = ledger.attempts(strict=False)
        frame = pd.DataFrame(rows)
        if frame.empty:
            return pd.DataFrame(columns=list(ATTEMPT_COLUMNS))
        frame["run_id"] = self.run_id
        for column in ("started_at", "ended_at", "not_before"):
            frame[column] = frame[column].map(_iso)
        frame["will_retry"] = frame["will_retry"].astype(bool)
        frame["may_have_been_billed"] = frame["may_have_been_billed"].astype(bool)
        extra = [c for c in frame.columns if c not in ATTEMPT_COLUMNS and not c.endswith("_json")]
        return frame[list(ATTEMPT_COLUMNS) + extra].reset_index(drop=True)

    def to_frame(
        self, *, verify: bool = False, thumbnails: bool = False, measures: Any = None
    ) -> pd.DataFrame:
        """One row per planned generation (arm x prompt x repeat), in plan order.

        ``status`` is one of :data:`GENERATION_STATUSES`; the image, cost and latency columns
        come from the successful attempt, the error columns from the last one. ``image_path``
        is absolute, or None when there is no usable image; ``image_problem`` then says why an
        ok generation has none: "missing", "outside the run folder", or (with ``verify=True``,
        which checks every image's SHA-256) "damaged". See :data:`FRAME_COLUMNS`. An image
        found whole is hashed again only once its file has changed (size, times or inode:
        :mod:`imgkit.runs.verified`).

        Rows the ledger cannot read are left out with a warning naming them. With
        ``thumbnails=True`` a ``thumbnail`` column follows ``arm`` (each image as a small JPEG
        ``data:`` URI) and a notebook shows the frame with the pictures drawn
        (:class:`imgkit.runs.display.FrameWithThumbnails`, a DataFrame).

        ``measures`` (a measure name such as ``"efficientnet-lite0"`` or ``"phash"``, or a list
        of them) adds, per measure, the image's value (a unit feature vector, or a hash's hex)
        and ``<measure>_similarity``: how alike the image is to the other images of its arm and
        prompt, on the measure's fixed scale (an outlier scores low). Values are kept in the
        run folder, so asking again decodes nothing
        (:func:`imgkit.analysis.generations.with_similarities`).
        """
        import pandas as pd

        with self._ledger() as ledger:
            plan = ledger.plan(strict=False)
            attempts = ledger.attempts(strict=False)
        simulated_run = self._readable_manifest().get("backend") == "sim"
        by_gen: dict[int, list[dict[str, Any]]] = {}
        for attempt in attempts:
            by_gen.setdefault(attempt["gen_id"], []).append(attempt)
        checked = VerifiedImages(self.path) if verify else None
        rows = []
        for gen in plan:
            tries = by_gen.get(gen.gen_id, [])
            ok, chosen = _deciding_attempt(tries)
            status = GENERATION_STATUS_OF[chosen.get("status")]
            image_path, image_problem = (
                self._image(ok.get("image_file"), ok.get("image_sha256"), verify, checked)
                if ok
                else (None, None)
            )
            request = gen.request
            rows.append(
                {
                    "run_id": self.run_id,
                    "arm": gen.arm,
                    "model": gen.model,
                    "provider": gen.provider,
                    "endpoint": gen.endpoint,
                    "prompt_id": gen.prompt_id,
                    "prompt": gen.prompt,
                    "sent_prompt": gen.sent_prompt,
                    "repeat": gen.repeat,
                    "status": status,
                    "attempts": len(tries),
                    "image_path": image_path,
                    "image_problem": image_problem,
                    "image_sha256": chosen.get("image_sha256") if ok else None,
                    "width": chosen.get("width") if ok else None,
                    "height": chosen.get("height") if ok else None,
                    "format": chosen.get("image_format") if ok else None,
                    "revised_prompt": chosen.get("revised_prompt") if ok else None,
                    "cost_usd": chosen.get("cost_usd") if ok else None,
                    "cost_basis": chosen.get("cost_basis") if ok else None,
                    "estimated_usd": gen.estimated_usd,
                    "latency_s": chosen.get("latency_s"),
                    # Streamed arms only; absent from ledgers written before streaming.
                    "first_partial_s": chosen.get("first_partial_s") if ok else None,
                    "final_image_s": chosen.get("final_image_s") if ok else None,
                    "request_id": chosen.get("request_id"),
                    "error_kind": None if ok else chosen.get("error_kind"),
                    "error_message": None if ok else chosen.get("error_message"),
                    # (a request waiting in a vendor's batch is not lost: its results come)
                    "may_have_been_billed": any(a["may_have_been_billed"] for a in tries)
                    or (status == "in_flight" and not chosen.get("batch_key")),
                    "simulated": bool(chosen["simulated"])
                    if ok and chosen.get("simulated") is not None
                    else simulated_run,
                    "size": request.get("size"),
                    "quality": request.get("quality"),
                    "style": request.get("style"),
                    "started_at": _iso(tries[0]["started_at"]) if tries else None,
                    "ended_at": _iso(chosen.get("ended_at")),
                }
            )
        if checked is not None:
            checked.save()
        frame = pd.DataFrame(rows, columns=list(FRAME_COLUMNS))
        if measures is not None:
            from imgkit.analysis.generations import with_similarities

            frame = with_similarities(frame, measures)
        if not thumbnails:
            return frame
        from imgkit.runs.display import with_thumbnails

        return with_thumbnails(frame)

    def _image(
        self,
        image_file: str | None,
        sha256: str | None,
        verify: bool,
        checked: VerifiedImages | None = None,
    ) -> tuple[str | None, str | None]:
        """(absolute path, None) for a usable image, else (None, what is wrong with it).

        A name from the ledger is resolved and must stay inside the images folder: a damaged
        or hostile ledger cannot make a report embed a file from elsewhere. With ``checked`` a
        file whose stat is as it was when last found whole is not hashed again (see
        :mod:`imgkit.runs.verified`)."""
        if not image_file:
            return None, "missing"
        folder = self.images_dir.resolve()
        path = (folder / str(image_file)).resolve()
        if path.parent != folder:
            return None, "outside the run folder"
        if not path.is_file():
            return None, "missing"
        if verify and (
            sha256 is None
            or not (checked.matches(path, sha256) if checked else sha256_file(path) == sha256)
        ):
            return None, "damaged"
        return str(path), None

    def verify(self, *, hashes: bool = True) -> pd.DataFrame:
        """Check every image the ledger records against its SHA-256, then decode it whole
        (``hashes=False``: only that it is there, which is quick).

        One row per ok generation (``gen_id``, ``arm``, ``prompt_id``, ``repeat``,
        ``image_file``, ``image_sha256``) with ``problem``: None, "missing", "damaged" (not the
        bytes recorded), "not an image: <reason>" (the bytes recorded, but no whole image of
        the recorded format: an answer stored before imgkit checked answers) or "outside the
        run folder". ``imgkit verify RUN`` prints it; ``imgkit drill --resume RUN
        --regenerate-missing`` makes the images with a problem again, after saying the cost.
        """
        with self._ledger() as ledger:
            attempts = ledger.attempts(status="ok", strict=False)
        latest: dict[int, dict[str, Any]] = {}
        for attempt in attempts:
            latest[attempt["gen_id"]] = attempt
        rows = []
        for gen_id, attempt in sorted(latest.items()):
            path, problem = self._image(attempt["image_file"], attempt["image_sha256"], hashes)
            if hashes and problem is None and path is not None:
                problem = _undecodable(path, attempt.get("image_format"))
            rows.append(
                {
                    "gen_id": gen_id,
                    "arm": attempt["arm"],
                    "prompt_id": attempt["prompt_id"],
                    "repeat": attempt["repeat"],
                    "image_file": attempt["image_file"],
                    "image_sha256": attempt["image_sha256"],
                    "problem": problem,
                }
            )
        columns = ["gen_id", "arm", "prompt_id", "repeat", "image_file", "image_sha256", "problem"]
        import pandas as pd

        return pd.DataFrame(rows, columns=columns)

    def may_have_been_billed(self) -> pd.DataFrame:
        """Attempts that were in flight when a runner died or was stopped: the service may have
        made (and billed) their image without our receiving it. ``estimated_usd`` says how much.
        """
        frame = self.attempts_frame()
        if frame.empty:
            return frame
        sending = frame["status"] == "sending"
        if "batch_key" in frame.columns:
            # A request waiting in a vendor's batch is not lost: a resume collects its result.
            sending &= frame["batch_key"].isna()
        mask = frame["may_have_been_billed"] | sending
        return frame[mask].reset_index(drop=True)

    def summary(self) -> dict[str, Any]:
        """Counts by status, money spent (known or presumed) and the estimate, as plain data.

        The same counts as :meth:`to_frame` and :meth:`may_have_been_billed` give, read from
        the ledger without making the frames (a drill prints this as it ends)."""
        with self._ledger() as ledger:
            plan = ledger.plan(strict=False)
            attempts = ledger.attempts(strict=False)
            spent = ledger.spent_usd()
        by_gen: dict[int, list[dict[str, Any]]] = {}
        for attempt in attempts:
            by_gen.setdefault(attempt["gen_id"], []).append(attempt)
        counts = dict.fromkeys(GENERATION_STATUSES, 0)
        for gen in plan:
            _ok, chosen = _deciding_attempt(by_gen.get(gen.gen_id, []))
            counts[GENERATION_STATUS_OF[chosen.get("status")]] += 1
        billed = sum(
            bool(a["may_have_been_billed"]) or (a["status"] == "sending" and not a.get("batch_key"))
            for a in attempts
        )
        manifest = self._readable_manifest()
        return {
            "run_id": self.run_id,
            "path": str(self.path),
            "status": self.status,
            "backend": manifest.get("backend"),
            "generations": len(plan),
            **counts,
            "spent_usd": round(spent, 6),
            "estimated_usd": (manifest.get("estimate") or {}).get("total_usd"),
            "budget_usd": (manifest.get("parameters") or {}).get("budget"),
            "may_have_been_billed": billed,
        }

    def options(self) -> DrillOptions:
        """The drill options the run was started with (to resume it)."""
        return DrillOptions.from_manifest(self.manifest, str(self.path / MANIFEST_NAME))

    def resume(self, **overrides: Any) -> Run:
        """Finish this run: send what was never sent or never answered; never re-send a
        generation that completed or was refused. See :func:`imgkit.resume`."""
        # Through the public API rather than an import of the runner: reading a run folder
        # never depends on the code that writes one.
        import imgkit

        return imgkit.resume(self.path, **overrides)


def open_run(path: str | os.PathLike[str]) -> Run:
    """Reopen a run folder offline. :class:`RunError` when it is not one."""
    folder = Path(path)
    if not folder.is_dir():
        raise RunError(f"{path} is not a folder")
    if not (folder / MANIFEST_NAME).is_file():
        raise RunError(f"{path} has no {MANIFEST_NAME}: not a run folder")
    run = Run(folder)
    if not (folder / Ledger.FILENAME).is_file():
        # A run folder is made whole, ledger included (runs.creating): a manifest without a
        # ledger means the ledger was removed, and with it the record of what was sent.
        raise RunError(
            f"{folder / Ledger.FILENAME} is missing: {path} has a manifest but its ledger, the "
            "record of every request sent and paid for, has been removed or moved; restore it "
            "from a copy (the run cannot be read or resumed without it)"
        )
    return run


def distinct_names(runs: Sequence[Run]) -> list[str]:
    """The name each of ``runs`` goes by where they are shown together (drift's tables and
    verdicts): its id, unless another of them has the same id (a run folder copied as a
    baseline keeps the id of the run it copies, and a nightly job names every night's run
    alike); those are named by as much of their folder's path as tells them apart
    ("known-good", or "baseline/nightly")."""
    ids = [run.run_id for run in runs]
    labels = list(ids)
    shared = [k for k, run_id in enumerate(ids) if ids.count(run_id) > 1]
    for depth in range(1, max((len(runs[k].path.parts) for k in shared), default=0) + 1):
        for k in shared:
            labels[k] = "/".join(runs[k].path.parts[-depth:])
        if len(set(labels)) == len(labels):
            break
    return labels


def _undecodable(path: str, image_format: Any) -> str | None:
    """None when the file at ``path`` decodes whole as ``image_format``, else the problem."""
    from imgkit.errors import DamagedImageError
    from imgkit.providers.image_check import checked_image

    try:
        checked_image(Path(path).read_bytes(), claimed_format=image_format or None)
    except DamagedImageError as exc:
        return f"not an image: {exc.reason}"
    except OSError as exc:
        return f"unreadable: {exc}"
    return None
