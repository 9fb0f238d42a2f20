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
2. an attempt row with status ``sending`` is committed *before* the request goes out;
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
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imgkit.errors import RunError
from imgkit.runs.storage import fsync_dir

try:  # POSIX only; elsewhere a run folder is simply not locked against a second writer.
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

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

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS generations (
    gen_id INTEGER PRIMARY KEY,
    arm TEXT NOT NULL,
    model TEXT NOT NULL,
    provider TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    prompt_id TEXT NOT NULL,
    prompt TEXT NOT NULL,
    sent_prompt TEXT NOT NULL,
    repeat INTEGER NOT NULL,
    request_json TEXT NOT NULL,
    estimated_usd REAL,
    UNIQUE (arm, prompt_id, repeat)
);
CREATE TABLE IF NOT EXISTS attempts (
    attempt_id INTEGER PRIMARY KEY AUTOINCREMENT,
    gen_id INTEGER NOT NULL REFERENCES generations (gen_id),
    try INTEGER NOT NULL,
    session INTEGER NOT NULL,
    status TEXT NOT NULL,
    estimated_usd REAL,
    not_before REAL,
    started_at REAL NOT NULL,
    ended_at REAL,
    latency_s REAL,
    request_id TEXT,
    image_sha256 TEXT,
    image_file TEXT,
    image_format TEXT,
    width INTEGER,
    height INTEGER,
    revised_prompt TEXT,
    cost_usd REAL,
    cost_basis TEXT,
    simulated INTEGER,
    usage_json TEXT,
    metadata_json TEXT,
    error_kind TEXT,
    error_message TEXT,
    error_json TEXT,
    will_retry INTEGER NOT NULL DEFAULT 0,
    may_have_been_billed INTEGER NOT NULL DEFAULT 0,
    first_partial_s REAL,
    final_image_s REAL
);
CREATE INDEX IF NOT EXISTS attempts_by_gen ON attempts (gen_id, attempt_id);
CREATE TABLE IF NOT EXISTS sessions (
    session INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    pid INTEGER NOT NULL,
    started_at REAL NOT NULL,
    ended_at REAL,
    status TEXT NOT NULL,
    note_json TEXT
);
"""
_SCHEMA_VERSION = "1"
# Columns added since schema version 1, all nullable: a ledger written before them is read as
# is (the readers see no such column) and gains them when opened for writing (a resume).
_ADDED_ATTEMPT_COLUMNS = {"first_partial_s": "REAL", "final_image_s": "REAL"}


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


class Ledger:
    """The SQLite ledger of one run folder.

    Open it with :meth:`create` (new run) or :meth:`open`. ``writer=True`` takes an exclusive
    lock on the folder (``run.lock``; released by the kernel even on ``kill -9``), so two
    runners can never write the same run. Readers need no lock.
    """

    FILENAME = "ledger.sqlite"
    LOCKNAME = "run.lock"

    def __init__(self, path: Path, connection: sqlite3.Connection, lock: Any = None) -> None:
        self.path = path
        self._db = connection
        self._lock = lock
        self.session: int | None = None
        #: durable transactions committed through this object (a group counts once)
        self.commits = 0
        self._grouped = False

    # -- opening ---------------------------------------------------------------------------

    @classmethod
    def create(cls, folder: str | os.PathLike[str]) -> Ledger:
        """A new, empty ledger in ``folder`` (locked for writing)."""
        path = Path(folder) / cls.FILENAME
        if path.exists():
            raise RunError(f"{path} already exists: resume the run instead of creating it")
        lock = cls._take_lock(Path(folder))
        ledger = cls(path, cls._connect(path), lock)
        ledger._db.executescript(_SCHEMA)
        with ledger._transaction():
            ledger._db.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', ?)", (_SCHEMA_VERSION,)
            )
        fsync_dir(folder)
        return ledger

    @classmethod
    def open(cls, folder: str | os.PathLike[str], *, writer: bool = False) -> Ledger:
        """The ledger of an existing run folder; :class:`RunError` when missing or corrupt."""
        path = Path(folder) / cls.FILENAME
        if not path.is_file():
            raise RunError(f"{folder} has no {cls.FILENAME}: not a run folder")
        lock = cls._take_lock(Path(folder)) if writer else None
        try:
            connection = cls._connect(path)
            connection.execute("SELECT count(*) FROM attempts").fetchone()
            if writer:
                cls._add_missing_columns(connection)
        except sqlite3.DatabaseError as exc:
            if lock is not None:
                lock.close()
            raise RunError(f"{path} is not a readable ledger: {exc}") from None
        return cls(path, connection, lock)

    @staticmethod
    def _add_missing_columns(db: sqlite3.Connection) -> None:
        """Bring a ledger written by an older imgkit up to the current attempts table."""
        present = {row[1] for row in db.execute("PRAGMA table_info(attempts)")}
        for name, kind in _ADDED_ATTEMPT_COLUMNS.items():
            if name not in present:
                db.execute(f"ALTER TABLE attempts ADD COLUMN {name} {kind}")

    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection:
        # isolation_level=None: we open transactions ourselves, so each one is exactly one
        # durable step of the protocol. check_same_thread=False: the synchronous drill() may
        # run its event loop in a worker thread (notebooks); only one thread uses it at a time.
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA foreign_keys=ON")
        return db

    @classmethod
    def _take_lock(cls, folder: Path) -> Any:
        handle = open(folder / cls.LOCKNAME, "a+")  # noqa: SIM115 - held for the ledger's life
        if fcntl is not None:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                raise RunError(f"run folder {folder} is in use by another runner") from None
        return handle

    @classmethod
    def is_locked(cls, folder: str | os.PathLike[str]) -> bool:
        """Whether a runner holds ``folder`` (checked without touching the database)."""
        path = Path(folder) / cls.LOCKNAME
        if fcntl is None or not path.exists():
            return False
        with open(path, "a+") as handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        return False

    def close(self) -> None:
        """Close the database and release the folder lock."""
        with contextlib.suppress(sqlite3.Error):
            self._db.close()
        if self._lock is not None:
            self._lock.close()
            self._lock = None

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

    def plan(self) -> list[PlannedGeneration]:
        """The planned generations, in plan order."""
        rows = self._db.execute("SELECT * FROM generations ORDER BY gen_id").fetchall()
        return [
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
                request=json.loads(r["request_json"]),
                estimated_usd=r["estimated_usd"],
            )
            for r in rows
        ]

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
        """Attempts committed as ``sending`` and never finished (a crash, or still running)."""
        return self.attempts(status="sending")

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

    def attempts(self, *, status: str | None = None) -> list[dict[str, Any]]:
        """Attempt rows joined with their generation, oldest first."""
        query = (
            "SELECT a.*, g.arm, g.model, g.provider, g.endpoint, g.prompt_id, g.prompt, "
            "g.sent_prompt, g.repeat, g.request_json FROM attempts a "
            "JOIN generations g USING (gen_id)"
        )
        args: tuple[Any, ...] = ()
        if status is not None:
            query += " WHERE a.status = ?"
            args = (status,)
        rows = self._db.execute(query + " ORDER BY a.attempt_id", args).fetchall()
        return [dict(r) for r in rows]

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
