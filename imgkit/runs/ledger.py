"""The attempt ledger of a run folder (the image store is :mod:`imgkit.runs.storage`).

Why SQLite (WAL, ``synchronous=FULL``) rather than an append-only JSONL file: both survive
``kill -9``, but SQLite gives it without code of our own. A commit is atomic, so a crash leaves
either the whole row or none of it, where JSONL leaves a torn last line that every reader must
detect and skip. In WAL mode a reader (``imgkit.open_run`` on a run still in progress) never
blocks the writer, and ``synchronous=FULL`` fsyncs the WAL on every commit, so a committed row
survives a power cut too, not just a killed process. Finally, resuming is a query ("which
generations have no ok attempt?") rather than a replay of every line.

The protocol that makes a run crash-safe:

1. the plan (every generation a run will make) is committed before anything is sent;
2. an attempt row with status ``sending`` is committed *before* the request goes out (for a
   batch, with the batch's own record: :mod:`imgkit.runs.ledger_batches`);
3. an image is written to a temporary file, fsynced, renamed to ``images/<sha256>.<ext>`` and
   the folder fsynced, *then* the attempt is committed as ``ok`` with that hash.

So after a crash, an ``ok`` attempt always has its image on disk, and a ``sending`` attempt is
one that may have reached the service (and may have been billed) without us seeing the answer.

Each write method commits its own transaction. Inside :meth:`Ledger.group` they share one
instead (each write a savepoint within it), so several writes cost one fsync and a crash keeps
all of them or none; :class:`imgkit.runs.ledger_writer.LedgerWriter` groups the writes of a
running drill that way without changing the protocol: a caller hears of its write only once
the transaction holding it is committed.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import time
import warnings
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imgkit.errors import RunError
from imgkit.runs.confined import refuse_links
from imgkit.runs.ledger_batches import BatchRecords
from imgkit.runs.ledger_db import (
    add_missing_columns,
    connect_reader,
    connect_writer,
    create_schema,
)
from imgkit.runs.lock import FolderLock
from imgkit.runs.storage import fsync_dir

__all__ = [
    "ATTEMPT_STATUSES",
    "GENERATION_STATUS_OF",
    "Ledger",
    "PlannedGeneration",
]

#: sending: committed before the request; ok / refused / failed: how it ended;
#: interrupted: was sending when the runner died or was stopped (may have been billed).
ATTEMPT_STATUSES = ("sending", "ok", "refused", "failed", "interrupted")

#: The status of a generation given its deciding attempt (its ok one, else its last one).
GENERATION_STATUS_OF = {
    None: "pending",
    "ok": "ok",
    "refused": "refused",
    "failed": "failed",
    "sending": "in_flight",
    "interrupted": "in_flight",
}


@dataclass(frozen=True)
class PlannedGeneration:
    """One image a run means to make: an arm, a prompt, a repeat index, and its request."""

    gen_id: int
    arm: str
    model: str
    provider: str
    endpoint: str
    prompt_id: str
    prompt: str
    sent_prompt: str
    repeat: int
    request: Mapping[str, Any]
    estimated_usd: float | None


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, default=str, sort_keys=True)


class Ledger(BatchRecords):
    """The SQLite ledger of one run folder.

    Open it with :meth:`create` (new run) or :meth:`open`. ``writer=True`` takes an exclusive
    lock on the folder (``run.lock``; released by the kernel even on ``kill -9``), so two
    runners can never write the same run. Readers need no lock.
    """

    FILENAME = "ledger.sqlite"

    def __init__(
        self,
        path: Path,
        connection: sqlite3.Connection,
        lock: Any = None,
        scratch: str | None = None,
    ) -> None:
        self.path = path
        self._db = connection
        self._lock = lock
        self._scratch = scratch  # a temporary copy read instead of the ledger, removed on close
        self.session: int | None = None
        #: durable transactions committed through this object (a group counts once)
        self.commits = 0
        self._grouped = False

    # -- opening ---------------------------------------------------------------------------

    @classmethod
    def create(cls, folder: str | os.PathLike[str], *, lock: FolderLock | None = None) -> Ledger:
        """A new, empty ledger in ``folder``, locked for writing (with ``lock`` if the caller
        already holds the folder). Schema and version land in one transaction."""
        path = Path(folder) / cls.FILENAME
        if path.exists():
            raise RunError(f"{path} already exists: resume the run instead of creating it")
        lock = lock or cls._take_lock(Path(folder))
        ledger = cls(path, connect_writer(path), lock)
        create_schema(ledger._db)
        fsync_dir(folder)
        return ledger

    @classmethod
    def open(
        cls,
        folder: str | os.PathLike[str],
        *,
        writer: bool = False,
        lock: FolderLock | None = None,
    ) -> Ledger:
        """The ledger of an existing run folder; :class:`RunError` when missing or corrupt.

        ``writer=True`` locks the folder (or uses ``lock``, already held). A reader needs no
        write access: in a read-only folder (an archive, a shared drive) it reads the ledger as
        it is, see :func:`_connect_reader`.
        """
        path = Path(folder) / cls.FILENAME
        if not path.is_file():
            raise RunError(f"{folder} has no {cls.FILENAME}: not a run folder")
        if writer:  # SQLite opens its files by name, following links
            refuse_links(folder, [cls.FILENAME + suffix for suffix in ("", "-wal", "-shm")])
        if writer:
            lock = lock or cls._take_lock(Path(folder))
        try:
            scratch = None
            if writer:
                connection = connect_writer(path)
            else:
                connection, scratch = connect_reader(path)
            connection.execute("SELECT count(*) FROM attempts").fetchone()
            connection.execute("SELECT count(*) FROM sessions").fetchone()
            connection.execute("SELECT count(*) FROM generations").fetchone()
            if writer:
                add_missing_columns(connection)
        except sqlite3.DatabaseError as exc:
            if lock is not None:
                lock.release()
            if writer and (
                (
                    isinstance(exc, sqlite3.OperationalError)
                    and "readonly" in str(exc).replace("-", "")
                )
                or not os.access(path, os.W_OK)
                or not os.access(folder, os.W_OK)
            ):
                raise RunError(
                    f"{path} is read-only ({exc}): a run can be read where it cannot be "
                    "written, but resuming it needs write access to its folder; copy the "
                    "folder somewhere writable and resume the copy"
                ) from None
            raise RunError(f"{path} is not a readable ledger: {exc}") from None
        return cls(path, connection, lock, scratch)

    @classmethod
    def _take_lock(cls, folder: Path) -> FolderLock:
        return FolderLock(folder)

    @classmethod
    def is_locked(cls, folder: str | os.PathLike[str]) -> bool:
        """Whether a runner holds ``folder`` (checked without touching the database)."""
        return FolderLock.is_held(folder)

    def detach(self) -> FolderLock | None:
        """Close the database but keep holding the folder's lock; return the lock."""
        lock, self._lock = self._lock, None
        if lock is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        with contextlib.suppress(sqlite3.Error):
            self._db.close()
        return lock

    def close(self) -> None:
        """Close the database and release the folder lock.

        A writer first folds the WAL back into the ledger file, so that a finished run folder
        is one self-contained file (readable even where the folder cannot be written)."""
        if self._lock is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        with contextlib.suppress(sqlite3.Error):
            self._db.close()
        if self._lock is not None:
            self._lock.release()
            self._lock = None
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def in_transaction(self) -> bool:
        """Whether a transaction is open (inside :meth:`group`, false once SQLite rolled it
        back on its own after a disk-full or I/O error)."""
        return self._db.in_transaction

    @contextlib.contextmanager
    def group(self) -> Iterator[None]:
        """Make the writes inside this block one durable transaction, committed on leaving it.

        Each write method's own transaction becomes a savepoint: a write that raises is undone
        alone (and raises to its caller), the others stay in the group. Leaving the block by an
        exception rolls the whole group back. A crash, ``kill -9`` included, keeps all of a
        group or none of it. Groups do not nest. Raises :class:`RunError` when nested, and
        ``sqlite3.Error`` when the COMMIT fails (nothing of the group is then recorded).
        """
        if self._grouped:
            raise RunError("ledger groups do not nest")
        self._grouped = True
        try:
            with self._durable_transaction():
                yield
        finally:
            self._grouped = False

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """One write: its own durable transaction, or a savepoint inside the current group."""
        if not self._grouped:
            with self._durable_transaction():
                yield
            return
        self._db.execute("SAVEPOINT write")
        try:
            yield
        except BaseException:
            # After some errors (disk full, I/O) SQLite has already rolled the whole
            # transaction back, savepoints and all; then the group's COMMIT fails too.
            if self._db.in_transaction:
                self._db.execute("ROLLBACK TO write")
                self._db.execute("RELEASE write")
            raise
        self._db.execute("RELEASE write")

    @contextlib.contextmanager
    def _durable_transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
            self._db.execute("COMMIT")
        except BaseException:
            # A failed COMMIT can leave the transaction open: close it, or every later BEGIN
            # would fail with "cannot start a transaction within a transaction".
            if self._db.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
            raise
        self.commits += 1

    # -- the plan ----------------------------------------------------------------------------

    def add_plan(self, generations: Iterable[PlannedGeneration]) -> None:
        """Commit the plan: every generation of the run, in the order they will be sent."""
        rows = [
            (
                g.gen_id,
                g.arm,
                g.model,
                g.provider,
                g.endpoint,
                g.prompt_id,
                g.prompt,
                g.sent_prompt,
                g.repeat,
                _json(dict(g.request)),
                g.estimated_usd,
            )
            for g in generations
        ]
        with self._transaction():
            self._db.executemany(
                "INSERT INTO generations (gen_id, arm, model, provider, endpoint, prompt_id, "
                "prompt, sent_prompt, repeat, request_json, estimated_usd) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

    def plan(self, *, strict: bool = True) -> list[PlannedGeneration]:
        """The planned generations, in plan order.

        A row that cannot be read (its request is not JSON, a field is missing) is a
        :class:`RunError` naming the ledger, the generation and the field; with
        ``strict=False`` it is left out with a warning instead, so the rest can still be read.
        """
        rows = self._db.execute("SELECT * FROM generations ORDER BY gen_id").fetchall()
        plan = []
        for r in rows:
            try:
                request = json.loads(r["request_json"])
                if not isinstance(request, dict):
                    raise ValueError("not a JSON object")
            except (TypeError, ValueError) as exc:
                self._damaged(
                    f"generation {r['gen_id']}: request_json is not a JSON object ({exc})",
                    strict,
                )
                continue
            plan.append(
                PlannedGeneration(
                    gen_id=r["gen_id"],
                    arm=r["arm"],
                    model=r["model"],
                    provider=r["provider"],
                    endpoint=r["endpoint"],
                    prompt_id=r["prompt_id"],
                    prompt=r["prompt"],
                    sent_prompt=r["sent_prompt"],
                    repeat=r["repeat"],
                    request=request,
                    estimated_usd=r["estimated_usd"],
                )
            )
        return plan

    def _damaged(self, what: str, strict: bool) -> None:
        message = f"{self.path}: {what}"
        if strict:
            raise RunError(message)
        warnings.warn(f"{message}; that row is left out", UserWarning, stacklevel=3)

    # -- sessions ----------------------------------------------------------------------------

    def begin_session(self, kind: str, note: Mapping[str, Any] | None = None) -> int:
        """Record that a runner (``kind`` "start" or "resume") begins work; returns its number."""
        with self._transaction():
            cursor = self._db.execute(
                "INSERT INTO sessions (kind, pid, started_at, status, note_json) "
                "VALUES (?, ?, ?, 'running', ?)",
                (kind, os.getpid(), time.time(), _json(note)),
            )
        self.session = int(cursor.lastrowid or 0)
        return self.session

    def end_session(self, status: str, note: Mapping[str, Any] | None = None) -> None:
        """Record how the current session ended."""
        with self._transaction():
            self._db.execute(
                "UPDATE sessions SET ended_at = ?, status = ?, "
                "note_json = coalesce(?, note_json) WHERE session = ?",
                (time.time(), status, _json(note), self.session),
            )

    def close_crashed_sessions(self) -> list[int]:
        """Mark sessions still ``running`` as ``crashed``; return their numbers.

        Call only while holding the folder lock: then no runner is alive to own them (their
        runner was killed), and they must not read as running forever."""
        rows = self._db.execute("SELECT session FROM sessions WHERE status = 'running'")
        crashed = [int(r[0]) for r in rows.fetchall()]
        if crashed:
            with self._transaction():
                self._db.execute(
                    "UPDATE sessions SET status = 'crashed', ended_at = coalesce(ended_at, "
                    "(SELECT max(coalesce(a.ended_at, a.started_at)) FROM attempts a "
                    "WHERE a.session = sessions.session), started_at) WHERE status = 'running'"
                )
        return crashed

    def sessions(self) -> list[dict[str, Any]]:
        """Every session, oldest first, with its note decoded."""
        rows = self._db.execute("SELECT * FROM sessions ORDER BY session").fetchall()
        out = []
        for row in rows:
            data = dict(row)
            data["note"] = json.loads(data.pop("note_json") or "null")
            out.append(data)
        return out

    # -- attempts ----------------------------------------------------------------------------

    def begin_attempt(
        self,
        gen_id: int,
        try_number: int,
        *,
        estimated_usd: float | None,
        not_before: float | None = None,
    ) -> int:
        """Commit (durably) that a request is about to be sent; returns the attempt id.

        Must return before the request leaves: this row is what lets a resume tell "may have
        been billed" from "never sent".
        """
        with self._transaction():
            cursor = self._db.execute(
                "INSERT INTO attempts (gen_id, try, session, status, estimated_usd, not_before, "
                "started_at) VALUES (?, ?, ?, 'sending', ?, ?, ?)",
                (gen_id, try_number, self.session or 0, estimated_usd, not_before, time.time()),
            )
        return int(cursor.lastrowid or 0)

    def finish_ok(
        self,
        attempt_id: int,
        *,
        image_sha256: str,
        image_file: str,
        image_format: str,
        width: int | None,
        height: int | None,
        revised_prompt: str | None,
        cost_usd: float | None,
        cost_basis: str,
        latency_s: float | None,
        request_id: str | None,
        simulated: bool,
        usage: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
        ended_at: float | None = None,
        first_partial_s: float | None = None,
        final_image_s: float | None = None,
    ) -> None:
        """Commit a successful attempt. Call only once its image is durable on disk.

        ``ended_at`` (epoch seconds) is when the answer arrived; default now. A streamed answer
        also gives the seconds to its first partial image and to its final image."""
        with self._transaction():
            self._db.execute(
                "UPDATE attempts SET status = 'ok', ended_at = ?, image_sha256 = ?, "
                "image_file = ?, image_format = ?, width = ?, height = ?, revised_prompt = ?, "
                "cost_usd = ?, cost_basis = ?, latency_s = ?, request_id = ?, simulated = ?, "
                "usage_json = ?, metadata_json = ?, first_partial_s = ?, final_image_s = ? "
                "WHERE attempt_id = ? AND status = 'sending'",
                (
                    ended_at or time.time(),
                    image_sha256,
                    image_file,
                    image_format,
                    width,
                    height,
                    revised_prompt,
                    cost_usd,
                    cost_basis,
                    latency_s,
                    request_id,
                    int(bool(simulated)),
                    _json(dict(usage) if usage else None),
                    _json(dict(metadata) if metadata else None),
                    first_partial_s,
                    final_image_s,
                    attempt_id,
                ),
            )

    def finish_error(
        self,
        attempt_id: int,
        status: str,
        *,
        error_kind: str,
        error_message: str,
        error: Mapping[str, Any] | None = None,
        latency_s: float | None = None,
        request_id: str | None = None,
        will_retry: bool = False,
        may_have_been_billed: bool = False,
        ended_at: float | None = None,
    ) -> None:
        """Commit an attempt that ended without an image (``refused``, ``failed``,
        ``interrupted``)."""
        if status not in ("refused", "failed", "interrupted"):
            raise RunError(f"finish_error: status {status!r} is not refused/failed/interrupted")
        with self._transaction():
            self._db.execute(
                "UPDATE attempts SET status = ?, ended_at = ?, error_kind = ?, "
                "error_message = ?, error_json = ?, latency_s = ?, request_id = ?, "
                "will_retry = ?, may_have_been_billed = ? "
                "WHERE attempt_id = ? AND status = 'sending'",
                (
                    status,
                    ended_at or time.time(),
                    error_kind,
                    error_message,
                    _json(dict(error) if error else None),
                    latency_s,
                    request_id,
                    int(will_retry),
                    int(may_have_been_billed),
                    attempt_id,
                ),
            )

    def in_flight(self) -> list[dict[str, Any]]:
        """Attempts committed as ``sending`` and never finished (a crash, or still running).

        Requests waiting in a vendor's batch are not among them: they are not cut off when a
        runner stops, and a resume collects them from their batch (:meth:`in_batches`)."""
        return [a for a in self.attempts(status="sending") if not a.get("batch_key")]

    def in_batches(self) -> list[dict[str, Any]]:
        """Attempts sent in a batch whose results are not recorded yet."""
        return [a for a in self.attempts(status="sending") if a.get("batch_key")]

    def mark_interrupted(self, attempt_ids: Iterable[int], reason: str) -> None:
        """Mark attempts that were in flight when their runner died or stopped.

        They may have reached the service and been billed, without our seeing the image.
        """
        ids = list(attempt_ids)
        with self._transaction():
            self._db.executemany(
                "UPDATE attempts SET status = 'interrupted', error_kind = 'interrupted', "
                "error_message = ?, may_have_been_billed = 1 "
                "WHERE attempt_id = ? AND status = 'sending'",
                [(reason, i) for i in ids],
            )

    def attempts(self, *, status: str | None = None, strict: bool = True) -> list[dict[str, Any]]:
        """Attempt rows joined with their generation, oldest first.

        An attempt whose status is not one of :data:`ATTEMPT_STATUSES` is a :class:`RunError`
        naming it (``strict=False``: left out, with a warning)."""
        query = (
            "SELECT a.*, g.arm, g.model, g.provider, g.endpoint, g.prompt_id, g.prompt, "
            "g.sent_prompt, g.repeat, g.request_json FROM attempts a "
            "JOIN generations g USING (gen_id)"
        )
        args: tuple[Any, ...] = ()
        if status is not None:
            query += " WHERE a.status = ?"
            args = (status,)
        rows = []
        for row in self._db.execute(query + " ORDER BY a.attempt_id", args).fetchall():
            if row["status"] not in ATTEMPT_STATUSES:
                self._damaged(
                    f"attempt {row['attempt_id']}: status {row['status']!r} is not one of "
                    f"{', '.join(ATTEMPT_STATUSES)}",
                    strict,
                )
                continue
            rows.append(dict(row))
        return rows

    def status_counts(self) -> dict[str, int]:
        """How many planned generations are ok, failed, refused, in_flight or pending."""
        counts: dict[str, int] = {}
        for row in self._db.execute(
            "SELECT (SELECT a.status FROM attempts a WHERE a.gen_id = g.gen_id "
            "ORDER BY (a.status = 'ok') DESC, a.attempt_id DESC LIMIT 1) FROM generations g"
        ):
            status = GENERATION_STATUS_OF.get(row[0], row[0])
            counts[status] = counts.get(status, 0) + 1
        return counts

    def spent_usd(self) -> float:
        """Money known or presumed spent: the cost of every ok attempt (its estimate when the
        service did not say) plus the estimate of every attempt that may have been billed."""
        row = self._db.execute(
            "SELECT coalesce(sum(CASE WHEN status = 'ok' THEN coalesce(cost_usd, estimated_usd, 0)"
            " WHEN may_have_been_billed = 1 THEN coalesce(estimated_usd, 0) ELSE 0 END), 0) "
            "FROM attempts"
        ).fetchone()
        return float(row[0])
