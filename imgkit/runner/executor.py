"""The interface between a runner session and a way of sending requests.

A session (:mod:`imgkit.runner.session`) prepares an :class:`ExecutionContext` (the ledger, the
options, the budget, progress, the stop signals) and hands the generations to send to an
:class:`Executor`. Each executor decides how requests reach the services: the synchronous
executor (:mod:`imgkit.runner.synchronous`) sends them one request per generation, concurrently;
the batch executor (:mod:`imgkit.runner.batch`) sends them through the vendors' Batch APIs.
Whatever the executor, every attempt goes through the ledger with the same protocol, so a run
folder reads the same however it was made.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from imgkit.catalog.models import Catalog
from imgkit.experiment.options import DrillOptions
from imgkit.runner.budget import Budget
from imgkit.runner.plan import Planned
from imgkit.runner.progress import Progress
from imgkit.runs.ledger import Ledger

__all__ = ["STOP_REASONS", "ExecutionContext", "Executor", "Log", "image_record"]

Log = Callable[[str], None]

#: Why a session stopped before sending everything: its budget, the user's stop request
#: (``stop`` event), an interruption (Ctrl-C, SIGTERM, the ``interrupt`` event), a write to
#: the run folder that failed (a full disk), or its batches cancelled at the vendor (a second
#: Ctrl-C in batch mode, ``imgkit batch cancel``).
STOP_REASONS = ("budget", "stopped", "interrupted", "storage", "cancelled")


@dataclass
class ExecutionContext:
    """What every executor of a session shares."""

    run_path: Path
    ledger: Ledger
    options: DrillOptions
    catalog: Catalog
    budget: Budget
    progress: Progress
    log: Log
    stop: threading.Event | None = None
    interrupt: threading.Event | None = None
    #: None while sending; else one of :data:`STOP_REASONS`
    stop_reason: str | None = None
    #: requests sent in this session
    sent: int = 0
    #: the write error that stopped the session (stop_reason "storage")
    storage_error: str | None = None
    #: images received (and so probably paid for) that could not be stored, and their cost
    lost_images: int = 0
    lost_usd: float = 0.0

    def stopping(self) -> bool:
        """Whether to send nothing more (checked before every request)."""
        if self.stop_reason is None:
            if self.interrupt is not None and self.interrupt.is_set():
                self.stop_reason = "interrupted"
            elif self.stop is not None and self.stop.is_set():
                self.stop_reason = "stopped"
                self.log("imgkit drill: stop requested; finishing the requests already sent")
        return self.stop_reason is not None

    def storage_failed(self, error: BaseException) -> None:
        """A write to the run folder failed: send nothing more (said once)."""
        if self.storage_error is None:
            self.storage_error = f"{type(error).__name__}: {error}"
            self.log(
                f"imgkit drill: could not write to {self.run_path}: {error}; sending nothing more"
            )
        self.stop_reason = "storage"  # over any other reason: it is the one to act on

    def stop_for_budget(self) -> None:
        """Send nothing more: the next request would pass the budget."""
        if self.stop_reason is None:
            self.stop_reason = "budget"
            budget = self.budget
            self.log(
                f"imgkit drill: budget ${budget.limit:.4f} reached (spent ${budget.spent:.4f}, "
                f"in flight ${budget.reserved:.4f}); sending nothing more"
            )


class Executor(Protocol):
    """Sends planned generations for one session, recording every attempt in the ledger.

    ``run`` returns when every generation is decided or the context says to stop; generations
    it did not send stay pending for a resume. It must leave no attempt ``sending`` that it
    knows the fate of.
    """

    async def run(self, todo: Sequence[Planned], tries_so_far: Mapping[int, int]) -> None: ...


def image_record(
    result: Any,
    image_sha256: str,
    image_file: str,
    *,
    cost_usd: float | None,
    latency_s: float | None,
    ended_at: float,
    simulated: bool,
    metadata: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The fields :meth:`~imgkit.runs.ledger.Ledger.finish_ok` records for an image that is
    stored (and the journal keeps until then), from a provider's ``result``: one shape for
    every executor, so a run folder reads the same however its images were sent. A cost the
    service did not give is the plan's estimate (``cost_basis`` "estimate")."""
    return {
        "image_sha256": image_sha256,
        "image_file": image_file,
        "image_format": result.image_format,
        "width": result.width,
        "height": result.height,
        "revised_prompt": result.revised_prompt,
        "cost_usd": cost_usd,
        "cost_basis": result.cost_basis if cost_usd is not None else "estimate",
        "latency_s": latency_s,
        "ended_at": ended_at,
        "request_id": result.request_id,
        "simulated": simulated,
        "usage": result.usage,
        "metadata": metadata,
        "first_partial_s": getattr(result, "first_partial_s", None),
        "final_image_s": getattr(result, "final_image_s", None),
    }
