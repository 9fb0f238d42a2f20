"""People's and a judge's answers, kept in a run folder: ``RUN/ratings/<rater>.jsonl``.

One file per rater, one JSON line per answer, appended and never rewritten. Why this shape:

* a kill at any instant leaves every earlier answer whole and at most the one being written torn
  at the end of its file; readers skip a line that does not parse, and the next writer cuts a
  torn tail off before appending (under an exclusive lock, so two pages rating as the same
  person at once interleave whole lines);
* each line is fsynced before the answer counts as given (a person's answer cannot be made
  again from anything else, unlike a feature or a hash);
* every answer carries its own id, so copies of a run's ratings made on several laptops merge by
  concatenation and deduplication (:func:`merge_ratings`) without double counting;
* nothing here opens the images or the ledger: rating a run never changes what it measured.

Files are opened without following symbolic links, as :mod:`imgkit.runs.feature_store` does.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from imgkit.errors import RunError, ValidationError
from imgkit.runs import confined
from imgkit.runs.storage import IMAGES_DIR, fsync_dir

__all__ = [
    "CHOICES",
    "CRITERIA",
    "CRITERION_TEXT",
    "RATINGS_DIR",
    "Answer",
    "RatingStore",
    "append_jsonl",
    "check_rater",
    "merge_ratings",
    "read_answers",
    "read_jsonl",
]

#: The folder of a run that holds its ratings.
RATINGS_DIR = "ratings"

#: The rubric's questions, in the order they are asked, with the words a verdict uses.
CRITERIA = ("prompt", "craft", "use")
CRITERION_TEXT = {
    "prompt": "following the prompt",
    "craft": "being better made",
    "use": "use",
}
#: What a rater can answer. "skip" is kept (the pair was seen) but counts for nobody.
CHOICES = ("left", "right", "tie", "skip")

_RATER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")


def check_rater(name: Any) -> str:
    """``name`` if it can name a rater's file, else :class:`ValidationError`."""
    if not isinstance(name, str) or not _RATER.match(name) or name.endswith(".jsonl"):
        raise ValidationError(
            "rater",
            name,
            "1-40 letters, digits, '.', '_' or '-', starting with a letter or digit",
        )
    return name


@dataclass(frozen=True)
class Answer:
    """One answer to one question about one pair of images.

    ``left``/``right`` are the images' SHA-256 as the rater saw them placed, ``left_arm`` /
    ``right_arm`` the arms behind them (never shown to the rater). ``choice`` is one of
    :data:`CHOICES`, ``criterion`` one of :data:`CRITERIA`. ``source`` is "person" or "judge"
    (a judge's answer also names its ``judge`` model, rubric version and whether it was
    simulated, in ``extra``).
    """

    rater: str
    criterion: str
    choice: str
    prompt_id: str
    left: str
    right: str
    left_arm: str
    right_arm: str
    source: str = "person"
    pair_id: str = ""
    seconds: float | None = None
    answered_at: float = field(default_factory=time.time)
    answer_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_rater(self.rater)
        if self.criterion not in CRITERIA:
            raise ValidationError("criterion", self.criterion, CRITERIA)
        if self.choice not in CHOICES:
            raise ValidationError("choice", self.choice, CHOICES)
        if self.source not in ("person", "judge"):
            raise ValidationError("source", self.source, ("person", "judge"))

    @property
    def winner(self) -> str | None:
        """The arm chosen, None for a tie or a skip."""
        return {"left": self.left_arm, "right": self.right_arm}.get(self.choice)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Answer:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)


def _nofollow(flags: int) -> int:
    return flags | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def _records(data: bytes) -> list[dict[str, Any]]:
    records = []
    for line in data.split(b"\n"):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a torn last line (a kill mid-write)
        if isinstance(record, dict):
            records.append(record)
    return records


def read_jsonl(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every whole JSON object line of ``path`` (a torn or damaged line skipped; a missing file
    reads as empty). Not following a symbolic link."""
    try:
        fd = os.open(path, _nofollow(os.O_RDONLY))
    except (FileNotFoundError, NotADirectoryError):
        return []
    with os.fdopen(fd, "rb") as handle:
        return _records(handle.read())


def append_jsonl(
    run_folder: str | os.PathLike[str], relative: str, records: Iterable[Mapping[str, Any]]
) -> None:
    """Append ``records`` as JSON lines to ``run_folder/relative`` durably: the folders made
    as needed (none through a symbolic link), a torn last line cut off first, the lines written
    in one piece under an exclusive lock and fsynced before this returns. Raises
    :class:`RunError` when the run folder is missing or a folder on the way is a link."""
    lines = "".join(json.dumps(dict(r), sort_keys=True, default=str) + "\n" for r in records)
    if not lines:
        return
    run_folder = Path(run_folder)
    if not run_folder.is_dir():
        raise RunError(f"{run_folder} is not a run folder (it does not exist)")
    parent = Path(relative).parent
    # The folders about to be made, to fsync their entries once they exist.
    made = [
        run_folder / Path(*parent.parts[: k + 1])
        for k in range(len(parent.parts))
        if not os.path.lexists(run_folder / Path(*parent.parts[: k + 1]))
    ]
    # runs.confined reaches the file without following a link anywhere below the run folder.
    with confined.folder_fd(run_folder, parent, create=True):
        pass
    fd = confined.open_file(run_folder, relative, os.O_RDWR | os.O_CREAT | os.O_APPEND)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            # A line torn by a kill: cut back to the last whole line before adding.
            tail = os.pread(fd, min(size, 1 << 20), max(0, size - (1 << 20)))
            keep = size - len(tail) + tail.rfind(b"\n") + 1
            os.ftruncate(fd, max(0, keep))
        data = memoryview(lines.encode("utf-8"))
        while data:  # a short write (a signal, a nearly full disk) goes on where it stopped
            data = data[os.write(fd, data) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    for folder in made:  # a new folder's entry is durable only once its parent is fsynced
        fsync_dir(folder.parent)
        fsync_dir(folder)


class RatingStore:
    """The answers of one rater in one run folder (``RUN/ratings/<rater>.jsonl``)."""

    def __init__(self, run_folder: str | os.PathLike[str], rater: str) -> None:
        self.run_folder = Path(run_folder)
        self.rater = check_rater(rater)
        self.folder = self.run_folder / RATINGS_DIR
        self.path = self.folder / f"{rater}.jsonl"

    def read(self) -> list[Answer]:
        """This rater's whole answers, in the order given (a torn line is skipped)."""
        answers = []
        for record in read_jsonl(self.path):
            try:
                answers.append(Answer.from_dict(record))
            except (ValueError, TypeError, KeyError):
                continue  # a line damaged by hand
        return answers

    def append(self, answers: Answer | Iterable[Answer]) -> None:
        """Keep ``answers`` durably: written in one piece, fsynced, before this returns.

        Raises :class:`RunError` when the run folder is missing or the ratings folder is a
        symbolic link, :class:`ValidationError` for an answer of another rater.
        """
        batch = [answers] if isinstance(answers, Answer) else list(answers)
        for answer in batch:
            if answer.rater != self.rater:
                raise ValidationError("rater", answer.rater, [self.rater])
        append_jsonl(
            self.run_folder, f"{RATINGS_DIR}/{self.rater}.jsonl", [a.to_dict() for a in batch]
        )


def _rater_files(run_folder: Path) -> list[Path]:
    folder = run_folder / RATINGS_DIR
    if not folder.is_dir() or folder.is_symlink():
        return []
    return sorted(p for p in folder.glob("*.jsonl") if p.is_file() and not p.is_symlink())


def read_answers(run_folder: str | os.PathLike[str], *, source: str | None = None) -> list[Answer]:
    """Every rater's answers in ``run_folder`` (deduplicated by answer id), oldest first.

    ``source``: "person" or "judge" keeps only those; None keeps both.
    """
    seen: dict[str, Answer] = {}
    for path in _rater_files(Path(run_folder)):
        store = RatingStore(run_folder, path.stem) if _RATER.match(path.stem) else None
        if store is None:
            continue
        for answer in store.read():
            if answer.rater == store.rater:  # a line moved into another rater's file is not theirs
                seen.setdefault(answer.answer_id, answer)
    answers = sorted(seen.values(), key=lambda a: (a.answered_at, a.answer_id))
    if source is not None:
        answers = [a for a in answers if a.source == source]
    return answers


def merge_ratings(
    run_folder: str | os.PathLike[str], others: Iterable[str | os.PathLike[str]]
) -> dict[str, int]:
    """Add to ``run_folder`` the answers kept in each of ``others`` (copies of the run, or
    their ``ratings`` folders) that it lacks; return ``{rater: answers added}``.

    Answers are matched by id, so merging the same copy twice adds nothing. Only answers about
    images of this run count: a folder of another run's ratings is refused with
    :class:`RunError` when none of its answers' images are this run's.
    """
    target = Path(run_folder)
    have = {a.answer_id for a in read_answers(target)}
    images = _run_images(target)
    added: dict[str, int] = {}
    for other in others:
        source = Path(other)
        if source.name == RATINGS_DIR:
            source = source.parent
        if not (source / RATINGS_DIR).is_dir():
            raise RunError(f"{other} holds no ratings folder ({RATINGS_DIR}/)")
        incoming = [a for a in read_answers(source) if a.answer_id not in have]
        foreign = [a for a in incoming if images and not {a.left, a.right} <= images]
        if foreign and len(foreign) == len(incoming):
            raise RunError(
                f"the ratings in {other} are about images this run ({target}) does not hold; "
                "are they another run's?"
            )
        by_rater: dict[str, list[Answer]] = {}
        for answer in incoming:
            if answer not in foreign:
                by_rater.setdefault(answer.rater, []).append(answer)
        for rater, answers in by_rater.items():
            RatingStore(target, rater).append(answers)
            have.update(a.answer_id for a in answers)
            added[rater] = added.get(rater, 0) + len(answers)
    return added


def _run_images(run_folder: Path) -> set[str]:
    """The SHA-256 of the images the run folder holds (from their file names)."""
    folder = run_folder / IMAGES_DIR
    if not folder.is_dir():
        return set()
    return {p.name.split(".")[0] for p in folder.iterdir()}
