"""Starting a drill: :func:`drill` and its asynchronous form :func:`adrill`."""

from __future__ import annotations

import inspect
import os
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from imgkit.catalog.models import Catalog, default_catalog
from imgkit.errors import RunError, ValidationError
from imgkit.experiment.arms import LESSON_PROMPT, LESSON_REPEATS, Arm, arms_for_models, lesson_arms
from imgkit.experiment.boundary import check_out_path, check_sim_url
from imgkit.experiment.options import DrillOptions, RetryPolicy, check_options, planned_count
from imgkit.experiment.sweep import SWEEP_FILE_NAME, Sweep, sweep_record
from imgkit.runner.batching import batch_routes, synchronous_note
from imgkit.runner.blocking import run_blocking
from imgkit.runner.budget import check_budget
from imgkit.runner.executor import Log
from imgkit.runner.plan import (
    describe_estimate,
    estimate_requests,
    plan_generations,
    plan_requests,
)
from imgkit.runner.provenance import (
    MANIFEST_FORMAT,
    catalog_info,
    describe_running_simulator,
    git_commit,
    new_run_id,
    now_iso,
    package_versions,
    platform_name,
)
from imgkit.runner.services import check_keys, start_preparing
from imgkit.runner.session import run_session
from imgkit.runs.creating import create_run_folder
from imgkit.runs.folder import Run, open_run
from imgkit.runs.location import runs_folder

__all__ = ["adrill", "drill", "info_log", "stderr_log"]


def info_log(message: str) -> None:
    """The default ``log`` of the Python API: a line on standard error, or on standard output
    in a notebook.

    These lines are information (the estimate, where a stopped run can be resumed), not errors
    (those are raised): a script keeps its standard output for its own results, but JupyterLab
    shows standard error as it shows an error, a pink block, so in a notebook they go where
    ``print`` goes.
    """
    from imgkit.runner.progress import in_notebook

    print(message, file=sys.stdout if in_notebook() else sys.stderr, flush=True)


def stderr_log(message: str) -> None:
    """A ``log`` that writes a line on standard error: the command line's, which keeps its
    standard output for results (``--json``, the run summary)."""
    print(message, file=sys.stderr, flush=True)


async def adrill(
    prompts: str | Sequence[str] | None = None,
    models: str | Sequence[str | Arm] | None = None,
    n: int = LESSON_REPEATS,
    *,
    size: str | None = None,
    quality: str | None = None,
    style: str | None = None,
    params: Mapping[str, Any] | None = None,
    backend: str = "sim",
    out: str | os.PathLike[str] | None = None,
    run_name: str | None = None,
    budget: float | None = None,
    concurrency: int = 4,
    arms: Sequence[Arm] | None = None,
    rate_limits: Mapping[str, Mapping[str, float]] | None = None,
    catalog_rate_limits: bool | None = None,
    sim_url: str | None = None,
    sim_seed: int = 0,
    sim_latency: float = 0.0,
    sim_faults: str | None = None,
    retry: RetryPolicy | None = None,
    timeout_s: float | None = None,
    stop_grace_s: float = 3.0,
    progress: bool = True,
    log: Log | None = info_log,
    stop: threading.Event | None = None,
    interrupt: threading.Event | None = None,
    catalog: Catalog | None = None,
    batch: bool = False,
    sim_batch_duration: float | None = None,
    sweep: Sweep | None = None,
    allow_remote_sim: bool = False,
) -> Run:
    """The asynchronous form of :func:`drill` (same arguments), for code already in a loop.

    ``sweep``: the :class:`~imgkit.experiment.sweep.Sweep` these arguments come from; its
    checks, hash kinds and prompt templates go into the run folder's ``sweep.toml`` too."""
    log = log or (lambda _message: None)
    catalog = catalog or default_catalog()
    check_out_path("out", out)
    if sim_url is not None:
        check_sim_url("sim_url", sim_url, allow_remote=allow_remote_sim)
    if prompts is None:
        prompts = [LESSON_PROMPT]
    elif isinstance(prompts, str):
        prompts = [prompts]
    if arms is None:
        arms = lesson_arms() if models is None else arms_for_models(models, catalog)
    elif models is not None:
        raise ValidationError("models", models, "None when arms are given")
    else:
        arms = arms_for_models(arms, catalog)
    options = DrillOptions(
        prompts=list(prompts),
        arms=list(arms),
        n=n,
        size=size,
        quality=quality,
        style=style,
        params=dict(params or {}),
        backend=backend,
        out=str(runs_folder(out)),
        run_name=run_name,
        budget=budget,
        concurrency=concurrency,
        rate_limits={k: dict(v) for k, v in (rate_limits or {}).items()},
        catalog_rate_limits=catalog_rate_limits,
        sim_url=sim_url,
        sim_seed=sim_seed,
        sim_latency=sim_latency,
        sim_faults=sim_faults,
        retry=retry or RetryPolicy(),
        timeout_s=timeout_s,
        stop_grace_s=stop_grace_s,
        batch=batch,
        sim_batch_duration=sim_batch_duration,
    )
    check_options(options)
    if run_name and (Path(options.out) / run_name).exists():
        # Said before the estimate: a run that cannot start has nothing to estimate.
        # (create_run_folder checks again, for a start that takes the name meanwhile.)
        taken = Path(options.out) / run_name
        raise RunError(f"{taken} already exists: choose another run name or resume it")
    requests = plan_requests(options, catalog)
    # Batch mode: which arms go through a Batch API, priced at batch prices (else none).
    routes = batch_routes(options, catalog, requests)
    estimate = estimate_requests(options, requests, catalog, routes)
    for line in describe_estimate(estimate, planned_count(options), "sending", budget):
        log(line)
    for line in synchronous_note(routes):
        log(line)
    check_budget(budget, estimate["total_usd"])
    if backend == "live":
        check_keys(options, catalog)
    # Built only now that the budget allows it (a refused run never takes its memory).
    planned = plan_generations(options, catalog, requests, routes)
    # The SDKs and the simulator load in a worker thread while the run folder is written.
    preparing = start_preparing(options, (p.generation for p in planned))

    run_id = new_run_id(run_name)
    created = now_iso()
    simulator = None
    if backend == "sim" and not sim_url:
        simulator = {
            "url": "embedded",
            "seed": sim_seed,
            "latency_s": sim_latency,
            "faults": sim_faults,
        }
    elif backend == "sim":
        simulator = describe_running_simulator(sim_url)
    manifest = {
        "format": MANIFEST_FORMAT,
        "run_id": run_id,
        "status": "created",
        "created_at": created,
        "started_at": created,
        "ended_at": None,
        "backend": backend,
        "simulated": backend == "sim",
        "parameters": options.to_dict(),
        "simulator": simulator,
        "estimate": estimate,
        "catalog": catalog_info(catalog, options.arms),
        "versions": package_versions(),
        "git": git_commit(Path.cwd()),
        "platform": platform_name(),
        "sessions": [],
    }
    if batch:
        manifest["batch"] = routes.to_manifest(catalog)
    # The folder appears whole (manifest, ledger, the whole plan) or not at all.
    # The sweep beside the manifest: `imgkit drill --config <run>/sweep.toml` repeats the run.
    record = {SWEEP_FILE_NAME: sweep_record(options, run_id, sweep).encode("utf-8")}
    ledger = create_run_folder(
        options.out, run_id, manifest, (p.generation for p in planned), files=record
    )
    run_path = ledger.path.parent
    try:
        await run_session(
            run_path,
            ledger,
            options,
            catalog,
            planned,
            budget=budget,
            progress=progress,
            log=log,
            stop=stop,
            interrupt=interrupt,
            kind="start",
            note={},
            preparing=preparing,
        )
    finally:
        ledger.close()
    return open_run(run_path)


def drill(
    prompts: str | Sequence[str] | Sweep | None = None,
    models: str | Sequence[str | Arm] | None = None,
    n: int = LESSON_REPEATS,
    *,
    size: str | None = None,
    quality: str | None = None,
    style: str | None = None,
    params: Mapping[str, Any] | None = None,
    backend: str = "sim",
    out: str | os.PathLike[str] | None = None,
    run_name: str | None = None,
    budget: float | None = None,
    concurrency: int = 4,
    arms: Sequence[Arm] | None = None,
    rate_limits: Mapping[str, Mapping[str, float]] | None = None,
    catalog_rate_limits: bool | None = None,
    sim_url: str | None = None,
    sim_seed: int = 0,
    sim_latency: float = 0.0,
    sim_faults: str | None = None,
    retry: RetryPolicy | None = None,
    timeout_s: float | None = None,
    stop_grace_s: float = 3.0,
    progress: bool = True,
    log: Log | None = info_log,
    stop: threading.Event | None = None,
    interrupt: threading.Event | None = None,
    catalog: Catalog | None = None,
    batch: bool = False,
    sim_batch_duration: float | None = None,
    sweep: Sweep | None = None,
    allow_remote_sim: bool = False,
) -> Run:
    """Run each prompt ``n`` times against each model (or arm) and return the :class:`Run`.

    With no arguments this is the lesson's drill: the astronaut prompt, dall-e-3 and
    gpt-image-1, five repeats each, on the simulator. ``drill(sweep)`` runs a
    :class:`~imgkit.experiment.sweep.Sweep` (``imgkit.Sweep.from_file("sweep.toml")``); a keyword
    argument given with it that differs from its default wins over the sweep's setting (to set
    one back to its default, use ``sweep.replace(...)``). Keyword arguments (the same as
    :func:`adrill`'s, spelled out so that editors and Shift-Tab show them):

    - ``size``, ``quality``, ``style``, ``params``: request parameters for every arm (an arm's
      own ``params`` win); ``arms``: :class:`~imgkit.experiment.arms.Arm` objects instead of
      ``models``;
    - ``backend``: "sim" (default) or "live"; a live run requires ``budget``;
    - ``out``, ``run_name``: the run folder is ``out/run_name`` (``out`` defaults to the
      ``runs/`` folder at the project's root, see :mod:`imgkit.runs.location`; ``run_name`` to
      a timestamp and a random suffix). The folder keeps the run's ``sweep.toml``;
    - ``budget``: USD. A run whose estimate exceeds it does not start
      (:class:`~imgkit.errors.BudgetExceededError`); a run stops sending before its actual
      spend (plus what is in flight) would pass it, leaving a resumable run;
    - ``concurrency`` (default 4), ``rate_limits`` ({model: {"requests_per_minute": ...,
      "images_per_minute": ...}}), ``catalog_rate_limits`` (default: on live runs only);
    - ``sim_url`` (a simulator already running), else ``sim_seed``, ``sim_latency``,
      ``sim_faults`` for the embedded one;
    - ``retry``: a :class:`~imgkit.experiment.options.RetryPolicy`; ``timeout_s``: each
      request's total deadline (default 180 s);
      ``stop_grace_s``: after Ctrl-C or SIGTERM, the seconds requests in flight get to finish
      (default 3) before they are cut off and recorded as interrupted;
    - ``batch``: send the arms whose provider has a Batch API through it, at its price (half
      the synchronous one), results within its completion window (up to 24 hours); the others
      run synchronously and the run says why (:mod:`imgkit.runner.batch`).
      ``sim_batch_duration``: seconds the embedded simulator takes over a batch;
    - ``progress`` (tqdm bars per arm; plain lines in a log file), ``log`` (where the
      estimate and notices go; default :func:`info_log`: standard error, standard output in a
      notebook; None for silence), ``stop`` (a threading.Event that ends the run cleanly, as
      "stopped"), ``interrupt`` (the same, ending it as "interrupted": what Ctrl-C sets);
    - ``catalog``: the :class:`~imgkit.catalog.models.Catalog` to price and check against
      (default: the built-in one, with ``$IMGKIT_PRICES`` applied).

    Raises :class:`~imgkit.errors.ValidationError` for a request a model would reject (before
    anything is sent) and :class:`~imgkit.errors.BudgetExceededError`. Ctrl-C sends nothing
    more and keeps the images of the requests in flight (a second Ctrl-C abandons them): the
    returned run has status "interrupted" and can be resumed.
    """
    arguments = {
        "size": size,
        "quality": quality,
        "style": style,
        "params": params,
        "backend": backend,
        "out": out,
        "run_name": run_name,
        "budget": budget,
        "concurrency": concurrency,
        "arms": arms,
        "rate_limits": rate_limits,
        "catalog_rate_limits": catalog_rate_limits,
        "sim_url": sim_url,
        "sim_seed": sim_seed,
        "sim_latency": sim_latency,
        "sim_faults": sim_faults,
        "retry": retry,
        "timeout_s": timeout_s,
        "stop_grace_s": stop_grace_s,
        "progress": progress,
        "log": log,
        "catalog": catalog,
        "batch": batch,
        "sim_batch_duration": sim_batch_duration,
        "sweep": sweep,
        "allow_remote_sim": allow_remote_sim,
    }
    if isinstance(prompts, Sweep):
        prompts, models, n, arguments = _from_sweep(prompts, models, n, _changed(arguments))
    return run_blocking(
        lambda event, cut: adrill(prompts, models, n, stop=event, interrupt=cut, **arguments),
        stop,
        interrupt,
    )


def _changed(arguments: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of :func:`drill` that differ from their defaults."""
    defaults = {
        name: parameter.default for name, parameter in inspect.signature(drill).parameters.items()
    }
    return {name: value for name, value in arguments.items() if value != defaults[name]}


def _from_sweep(
    sweep: Sweep, models: Any, n: int, overrides: dict[str, Any]
) -> tuple[list[str], None, int, dict[str, Any]]:
    """``drill(sweep, **overrides)`` as the arguments of ``drill(prompts, None, n, ...)``."""
    if models is not None:
        raise ValidationError("models", models, "None with a sweep (its arms say what to run)")
    if n != LESSON_REPEATS:
        raise ValidationError(
            "n", n, f"{LESSON_REPEATS} (left alone) with a sweep: sweep.replace(repeats={n})"
        )
    arguments = {**sweep.drill_arguments(), **overrides, "sweep": sweep}
    return arguments.pop("prompts"), None, arguments.pop("n"), arguments
