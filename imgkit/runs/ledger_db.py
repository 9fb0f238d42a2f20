"""The ledger's SQLite file: its schema, how a writer and a reader open it, and how a ledger
written by an older imgkit is brought up to date. :mod:`imgkit.runs.ledger` holds what is
written into it and in which order.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from pathlib import Path

__all__ = [
    "ADDED_ATTEMPT_COLUMNS",
    "ADDED_TABLES",
    "SCHEMA_VERSION",
    "add_missing_columns",
    "connect_reader",
    "connect_writer",
    "create_schema",
    "has_table",
]

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
    final_image_s REAL,
    batch_key TEXT
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
# Each batch sent to a vendor's Batch API (see imgkit.runs.ledger_batches): committed with its
# attempts before anything is uploaded, then its input file and batch id as soon as they exist.
_BATCHES_TABLE = """
CREATE TABLE IF NOT EXISTS batches (
    batch_key TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    model TEXT NOT NULL,
    session INTEGER NOT NULL,
    round INTEGER NOT NULL,
    status TEXT NOT NULL,
    requests INTEGER NOT NULL,
    estimated_usd REAL,
    input_file_id TEXT,
    batch_id TEXT,
    vendor_status TEXT,
    counts_json TEXT,
    errors_json TEXT,
    output_file_id TEXT,
    error_file_id TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    ended_at REAL,
    cancel_requested_at REAL
)"""
_SCHEMA += _BATCHES_TABLE + ";"
_BATCH_INDEX = "CREATE INDEX IF NOT EXISTS attempts_by_batch ON attempts (batch_key)"
_SCHEMA += _BATCH_INDEX + ";"
SCHEMA_VERSION = "1"
# Columns added since schema version 1, all nullable: a ledger written before them is read as
# is (the readers see no such column) and gains them when opened for writing (a resume).
ADDED_ATTEMPT_COLUMNS = {"first_partial_s": "REAL", "final_image_s": "REAL", "batch_key": "TEXT"}
# Tables added since schema version 1, the same way: created when an older ledger is opened
# for writing; readers of an older ledger find none and read it as having no batches.
ADDED_TABLES = (_BATCHES_TABLE, _BATCH_INDEX)


def create_schema(db: sqlite3.Connection) -> None:
    """Create the tables and record the schema version, in one transaction."""
    db.executescript(
        f"BEGIN IMMEDIATE; {_SCHEMA} INSERT INTO meta (key, value) "
        f"VALUES ('schema_version', '{SCHEMA_VERSION}'); COMMIT;"
    )


def add_missing_columns(db: sqlite3.Connection) -> None:
    """Bring a ledger written by an older imgkit up to the current schema: the attempts table's
    new columns, then the new tables (each statement is its own small transaction)."""
    present = {row[1] for row in db.execute("PRAGMA table_info(attempts)")}
    for name, kind in ADDED_ATTEMPT_COLUMNS.items():
        if name not in present:
            db.execute(f"ALTER TABLE attempts ADD COLUMN {name} {kind}")
    for statement in ADDED_TABLES:
        db.execute(statement)


def has_table(db: sqlite3.Connection, name: str) -> bool:
    """Whether the ledger has table ``name`` (a ledger read as written may predate it)."""
    row = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,))
    return row.fetchone() is not None


def connect_writer(path: Path) -> sqlite3.Connection:
    """The connection of the runner that writes the ledger (WAL, every commit fsynced)."""
    # isolation_level=None: we open transactions ourselves, so each one is exactly one
    # durable step of the protocol. check_same_thread=False: the synchronous drill() may
    # run its event loop in a worker thread (notebooks); only one thread uses it at a time.
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("PRAGMA foreign_keys=ON")
    return db


def connect_reader(path: Path) -> tuple[sqlite3.Connection, str | None]:
    """A connection that only reads a ledger, in a folder that may not be writable.

    Where the folder can be written, a normal connection with ``query_only`` set: it can run
    the WAL recovery a killed runner leaves to the next connection (a ``mode=ro`` one cannot,
    and would read the ledger as it was before the kill's last commits). Where it cannot be
    written (an archive, a shared drive), a ledger whose WAL is empty (every run ends with a
    checkpoint) is opened ``immutable``; one whose WAL still holds commits is copied with its
    WAL to a temporary folder and read there, so no commit is lost. Returns the connection
    and that temporary folder (None when there is none), to remove when the ledger closes.
    """
    if os.access(path.parent, os.W_OK) and os.access(path, os.W_OK):
        db = _configured(sqlite3.connect(path, timeout=30, check_same_thread=False))
        db.execute("PRAGMA query_only=1")
        return db, None
    wal = path.with_name(path.name + "-wal")
    if not wal.exists() or wal.stat().st_size == 0:
        return _configured(sqlite3.connect(f"{path.as_uri()}?immutable=1", uri=True)), None
    folder = tempfile.mkdtemp(prefix="imgkit-ledger-")
    copy = Path(folder) / path.name
    shutil.copyfile(path, copy)
    shutil.copyfile(wal, copy.with_name(copy.name + "-wal"))
    return _configured(sqlite3.connect(copy, timeout=30)), folder


def _configured(db: sqlite3.Connection) -> sqlite3.Connection:
    db.isolation_level = None
    db.row_factory = sqlite3.Row
    return db
