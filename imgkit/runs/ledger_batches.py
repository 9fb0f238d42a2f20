"""The ledger's record of the batches a run sent through the vendors' Batch APIs.

A batch is paid for once the vendor has created it, so what the ledger knows of it must never
lag behind what the vendor knows in a way that could make a resume create it twice. The
protocol (:mod:`imgkit.runner.batch` follows it):

1. one transaction commits the batch row (status ``preparing``, its key) *and* one ``sending``
   attempt per request, each naming the batch (``attempts.batch_key``); the attempt id is the
   request's ``custom_id``;
2. the input file is uploaded and its id committed (``uploaded``);
3. ``creating`` is committed *before* the vendor is asked to create the batch, tagged with the
   batch key (OpenAI ``metadata``, Gemini display name);
4. the vendor's batch id is committed as soon as the answer arrives (``submitted``), then its
   status and counts whenever they change;
5. once the results are downloaded, each attempt is committed (an image stored durably before
   its attempt is committed ``ok``, as in a synchronous run), then the batch is ``collected``.

A kill between 3 and 4 leaves a batch the vendor may have created with no id on record: a
resume lists the account's recent batches and adopts the one carrying the key before it
creates anything. A batch whose row is ``preparing`` or ``uploaded`` was never created.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from typing import Any

from imgkit.runs.ledger_db import has_table

__all__ = ["BATCH_STATUSES", "OPEN_BATCH_STATUSES", "BatchRecords"]

#: The runner's side of a batch's life (the vendor's own status is ``vendor_status``).
BATCH_STATUSES = ("preparing", "uploaded", "creating", "submitted", "collected", "lost")
#: Batches a resume re-attaches to.
OPEN_BATCH_STATUSES = ("preparing", "uploaded", "creating", "submitted")

_UPDATABLE = (
    "status",
    "input_file_id",
    "batch_id",
    "vendor_status",
    "counts",
    "errors",
    "output_file_id",
    "error_file_id",
    "ended_at",
    "cancel_requested_at",
)


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, default=str, sort_keys=True)


class BatchRecords:
    """The batch half of :class:`imgkit.runs.ledger.Ledger` (mixed into it)."""

    # Provided by Ledger.
    _db: Any
    session: int | None

    def _transaction(self) -> Any:  # pragma: no cover - Ledger's
        raise NotImplementedError

    def begin_batch(
        self,
        batch_key: str,
        *,
        provider: str,
        endpoint: str,
        model: str,
        round_number: int,
        requests: Iterable[tuple[int, int, float | None]],
        estimated_usd: float | None,
    ) -> list[int]:
        """Commit a new batch and a ``sending`` attempt for each of its requests, together.

        ``requests`` holds (gen_id, try number, estimated USD). Returns the attempt ids, in the
        order given: each is its request's ``custom_id`` in the batch."""
        rows = list(requests)
        now = time.time()
        with self._transaction():
            self._db.execute(
                "INSERT INTO batches (batch_key, provider, endpoint, model, session, round, "
                "status, requests, estimated_usd, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, 'preparing', ?, ?, ?, ?)",
                (
                    batch_key,
                    provider,
                    endpoint,
                    model,
                    self.session or 0,
                    round_number,
                    len(rows),
                    estimated_usd,
                    now,
                    now,
                ),
            )
            ids = []
            for gen_id, try_number, estimate in rows:
                cursor = self._db.execute(
                    "INSERT INTO attempts (gen_id, try, session, status, estimated_usd, "
                    "started_at, batch_key) VALUES (?, ?, ?, 'sending', ?, ?, ?)",
                    (gen_id, try_number, self.session or 0, estimate, now, batch_key),
                )
                ids.append(int(cursor.lastrowid or 0))
        return ids

    def update_batch(self, batch_key: str, **fields: Any) -> None:
        """Commit what is now known of a batch (any of status, input_file_id, batch_id,
        vendor_status, counts, errors, output_file_id, error_file_id, ended_at,
        cancel_requested_at)."""
        unknown = sorted(set(fields) - set(_UPDATABLE))
        if unknown:
            raise ValueError(f"update_batch: unknown field(s) {unknown}")
        columns, values = [], []
        for name, value in fields.items():
            if name in ("counts", "errors"):
                columns.append(f"{name}_json = ?")
                values.append(_json(value))
            else:
                columns.append(f"{name} = ?")
                values.append(value)
        columns.append("updated_at = ?")
        values.append(time.time())
        with self._transaction():
            self._db.execute(
                f"UPDATE batches SET {', '.join(columns)} WHERE batch_key = ?",
                (*values, batch_key),
            )

    def batches(self, *, open_only: bool = False) -> list[dict[str, Any]]:
        """Every batch of the run, oldest first (``open_only``: those not yet collected), with
        ``counts`` and ``errors`` decoded. A ledger older than batch mode has none."""
        if not has_table(self._db, "batches"):
            return []
        query = "SELECT * FROM batches"
        if open_only:
            query += " WHERE status IN (" + ", ".join("?" * len(OPEN_BATCH_STATUSES)) + ")"
        rows = self._db.execute(
            query + " ORDER BY created_at, batch_key", OPEN_BATCH_STATUSES if open_only else ()
        ).fetchall()
        out = []
        for row in rows:
            data = dict(row)
            data["counts"] = json.loads(data.pop("counts_json") or "null")
            data["errors"] = json.loads(data.pop("errors_json") or "null")
            out.append(data)
        return out

    def batch_attempts(
        self, batch_key: str, *, pending_only: bool = True, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """The attempts of a batch (``pending_only``: those still ``sending``, i.e. not yet
        recorded from the results), oldest first: attempt_id, gen_id, try, status,
        estimated_usd, arm, model. A batch of 50,000 requests reads them all at once, so the
        requests themselves are left to the plan."""
        query = (
            "SELECT a.attempt_id, a.gen_id, a.try, a.status, a.estimated_usd, g.arm, g.model "
            "FROM attempts a JOIN generations g USING (gen_id) WHERE a.batch_key = ?"
        )
        if pending_only:
            query += " AND a.status = 'sending'"
        query += " ORDER BY a.attempt_id"
        args: tuple[Any, ...] = (batch_key,)
        if limit is not None:
            query += " LIMIT ?"
            args += (limit,)
        return [dict(row) for row in self._db.execute(query, args).fetchall()]

    def batch_counts(self) -> Mapping[str, int]:
        """How many attempts wait in batches not yet collected (for progress and estimates)."""
        if not has_table(self._db, "batches"):
            return {}
        rows = self._db.execute(
            "SELECT a.batch_key, count(*) FROM attempts a WHERE a.status = 'sending' "
            "AND a.batch_key IS NOT NULL GROUP BY a.batch_key"
        ).fetchall()
        return {str(key): int(n) for key, n in rows}
