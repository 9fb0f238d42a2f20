"""The drill runner: each prompt N times against each arm, fast, without losing or double-paying.

:func:`drill` plans every generation (arm x prompt x repeat), prints the estimated cost, refuses
to start when that passes the budget, then sends the requests and records every attempt in the
run's ledger (see :mod:`imgkit.runs.ledger` for the crash-safety protocol); :func:`resume`
finishes a run that was killed, stopped or cut short by its budget.

The parts, in the order a run meets them:

- :mod:`~imgkit.runner.plan`: what will be sent and what it is estimated to cost;
- :mod:`~imgkit.runner.budget`: the budget check before sending, reservations while sending;
- :mod:`~imgkit.runner.provenance`: what the manifest records about where a run came from;
- :mod:`~imgkit.runner.services`: the providers, and the embedded simulator of a ``sim`` run;
- :mod:`~imgkit.runner.session`: one runner session over the ledger (start or resume);
- :mod:`~imgkit.runner.executor`: the interface every way of sending implements, and
  :mod:`~imgkit.runner.synchronous`, the first: requests to the services' synchronous
  endpoints, concurrently, with :mod:`~imgkit.runner.pacing` (rate limits, retry delays) and
  :mod:`~imgkit.runner.progress` (a bar per arm); and :mod:`~imgkit.runner.batch`, the
  vendors' Batch APIs at half price (:mod:`~imgkit.runner.batching` decides which arms go by
  batch, :mod:`~imgkit.runner.batch_results` reads their results,
  :mod:`~imgkit.runner.batch_control` shows and cancels a run's batches);
- :mod:`~imgkit.runner.start`, :mod:`~imgkit.runner.resuming`: the entry points, and
  :mod:`~imgkit.runner.blocking`, which runs them from synchronous code (Ctrl-C included).

The names below load on first use.
"""

from __future__ import annotations

from imgkit._lazy import lazy_exports

_EXPORTS = {
    "DrillOptions": "imgkit.experiment.options",
    "RetryPolicy": "imgkit.experiment.options",
    "RETRYABLE_KINDS": "imgkit.runner.resuming",
    "adrill": "imgkit.runner.start",
    "aresume": "imgkit.runner.resuming",
    "batch_status": "imgkit.runner.batch_control",
    "cancel_batches": "imgkit.runner.batch_control",
    "drill": "imgkit.runner.start",
    "estimate_plan": "imgkit.runner.plan",
    "resume": "imgkit.runner.resuming",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
