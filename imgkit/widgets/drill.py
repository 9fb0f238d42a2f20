"""The drill panel: the lesson's consistency drill in a few clicks.

Pick arms, a prompt and a number of repeats, see what it will cost, press Run. The run goes on
in a background thread through :func:`imgkit.runner.drill` (the same function the command line
and the notebooks call), so the notebook stays responsive; progress bars and the gallery fill as
images arrive. When the run ends, the result tabs (:mod:`imgkit.widgets.drill_results`) show its
consistency (:func:`imgkit.analysis.sweep.compare_all` writes the verdict: every pair of arms,
corrected together for multiple comparisons, with a ranking), how far each arm rewrote the
prompt, what it cost and every attempt made.

The panel refuses what the runner would refuse, before Run is pressed and in words: repeats out
of range, a negative budget, an estimate above the budget, a live run without one. Run is then
disabled, with the reason beside it and in its tooltip.

Long because one widget holds the settings' state (a budget that follows the estimate until one
is typed, the arms' list and what is chosen), the run in the background with its progress, and
the run's export; the result tabs are in :mod:`imgkit.widgets.drill_results` and the gallery in
:mod:`imgkit.widgets.gallery`.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import pandas as pd

from imgkit.analysis.resampling import DEFAULT_N_BOOT, DEFAULT_N_PERM
from imgkit.catalog.batch import batch_terms, estimate_batch_cost
from imgkit.catalog.costs import basis_words, estimate_cost
from imgkit.catalog.models import Catalog, default_catalog
from imgkit.errors import ImgkitError
from imgkit.experiment.arms import LESSON_MODELS, LESSON_PROMPT, LESSON_REPEATS, Arm
from imgkit.runs.location import runs_folder
from imgkit.widgets._common import (
    BackgroundTask,
    escape,
    has_live_key,
    model_label,
    number_problem,
    simulated_badge,
    usd,
)
from imgkit.widgets.drill_results import DrillResults, batch_status_html, done_html
from imgkit.widgets.gallery import Gallery, GalleryItem

__all__ = ["DEFAULT_ARMS", "DrillPanel", "arm_choices"]

#: The lesson's two arms, chosen when the panel opens.
DEFAULT_ARMS: tuple[str, ...] = LESSON_MODELS
_DEFAULT = "(each model's default)"
# How often the panel looks at the run folder while a drill runs, in seconds.
_POLL_S = 0.25
# Generation statuses that mean "this one is over" (see imgkit.runs.folder.GENERATION_STATUSES).
_ENDED = ("ok", "failed", "refused")
_SIM, _LIVE = "Simulator", "Live"
#: The most repeats the panel offers (the command line takes any number).
MAX_REPEATS = 50


def arm_choices(
    catalog: Catalog | None = None, *, live: bool = False, today: dt.date | None = None
) -> list[tuple[str, str]]:
    """(label, arm spec) pairs the panel offers: the models a request can reach today first,
    then the deprecated ones, then the retired ones (the lesson's first among them).

    Every model with the Images endpoint, the AS-IS control for models that rewrite prompts, and
    the Responses-API arm for models that have it. Retired models are labelled "simulator only";
    with ``live=True`` they are left out.
    """
    catalog = catalog or default_catalog()
    rank = {"active": 0, "deprecated": 1, "retired": 2}
    order = sorted(
        catalog.values(), key=lambda s: (rank.get(s.status(today), 0), s.name not in LESSON_MODELS)
    )
    choices = []
    for spec in order:
        if live and spec.status(today) == "retired":
            continue
        label = model_label(spec, today)
        if "generate" in spec.endpoints:
            choices.append((label, spec.name))
            if spec.returns_revised_prompt("generate"):
                choices.append((f"{label} + AS-IS prefix (rewrite control)", f"{spec.name}+as_is"))
        if "responses" in spec.endpoints:
            choices.append((f"{label} via the Responses API", f"{spec.name}@responses"))
    return choices


def _batchable(request: Any, catalog: Catalog) -> bool:
    """Whether a request of this arm would go by batch (see imgkit.runner.batching)."""
    terms = batch_terms(request.spec.provider, catalog)
    return terms is not None and request.endpoint in terms.endpoints and not request.stream


def _common(options: Iterable[Sequence[str]]) -> list[str]:
    """Values every sequence shares, in the first one's order."""
    options = [list(o) for o in options]
    if not options:
        return []
    rest = [set(o) for o in options[1:]]
    return [v for v in options[0] if all(v in r for r in rest)]


class DrillPanel(widgets.VBox):
    """The drill as a panel. ``run_drill()`` is what the Run button does; ``wait()`` awaits it.

    Everything shown about a simulated run is labelled simulated. After a run, :attr:`run` holds
    the :class:`imgkit.runs.folder.Run`, :attr:`frame` its generations, :attr:`comparison` the
    :class:`~imgkit.analysis.sweep.SweepComparison` and :attr:`verdicts` its
    :class:`~imgkit.analysis.comparison.ArmComparison` of each pair of arms.
    """

    def __init__(
        self,
        *,
        prompt: str = LESSON_PROMPT,
        arms: Sequence[str] = DEFAULT_ARMS,
        n: int = LESSON_REPEATS,
        out: str | Path | None = None,
        budget: float | None = None,
        backend: str = "sim",
        catalog: Catalog | None = None,
        concurrency: int = 4,
        sim_url: str | None = None,
        n_boot: int = DEFAULT_N_BOOT,
        n_perm: int = DEFAULT_N_PERM,
    ) -> None:
        self.catalog = catalog or default_catalog()
        # None: the project's runs/ folder, where the command line writes too.
        self.out = runs_folder(out)
        self.concurrency = concurrency
        self.sim_url = sim_url
        self.n_boot = n_boot
        self.n_perm = n_perm
        self.run: Any = None
        self.frame = pd.DataFrame()
        self.task: BackgroundTask | None = None
        self._seen: set[Any] = set()
        self._failed: dict[str, int] = {}
        self.bars: dict[str, tuple[widgets.IntProgress, widgets.HTML]] = {}
        self._lock = threading.Lock()

        self.live_available = has_live_key("openai")
        self.backend = widgets.ToggleButtons(
            options=[_SIM, _LIVE],
            value=_SIM,
            description="Backend",
            disabled=not self.live_available,
            tooltips=[
                "imgkit's offline simulator: free, labelled simulated",
                "the real services (needs OPENAI_API_KEY)",
            ],
        )
        self.backend_note = widgets.HTML(
            ""
            if self.live_available
            else "<small>Live is disabled: set OPENAI_API_KEY (and restart the kernel) to send "
            "requests to the real services.</small>"
        )
        self.prompt = widgets.Textarea(
            value=prompt,
            description="Prompt",
            layout=widgets.Layout(width="95%", height="4.5em"),
        )
        choices = arm_choices(self.catalog)
        known = {value for _, value in choices}
        self.arms = widgets.SelectMultiple(
            options=choices,
            value=tuple(a for a in arms if a in known),
            rows=10,
            description="Arms",
            layout=widgets.Layout(width="95%", max_width="760px"),
        )
        self.arms.add_class("imgkit-arms")
        self.arms_hint = widgets.HTML(
            "<small>Pick several: Ctrl-click (Cmd-click on a Mac) adds or removes one arm, "
            "Shift-click a range. Live models first; retired ones run on the simulator only."
            "</small>"
        )
        self.arms_chosen = widgets.HTML()
        self.arms_chosen.add_class("imgkit-arms-chosen")
        # The browser's own highlight of a chosen option is a pale grey once the list loses
        # focus: paint chosen options so they stay plain to see.
        self.css = widgets.HTML(
            "<style>.imgkit-arms select option:checked {background: #1d4ed8 "
            "linear-gradient(0deg, #1d4ed8 0%, #1d4ed8 100%); color: #ffffff; "
            "font-weight: 600} .imgkit-arms select:focus option:checked {background: #1d4ed8 "
            "linear-gradient(0deg, #1d4ed8 0%, #1d4ed8 100%)}</style>",
            layout=widgets.Layout(display="none"),
        )
        # Unbounded boxes: a value out of range stays as typed and is refused in words (see
        # update_estimate), rather than silently clamped.
        self.n = widgets.IntText(value=n, description="Repeats")
        self.size = widgets.Dropdown(options=[_DEFAULT], value=_DEFAULT, description="Size")
        self.quality = widgets.Dropdown(options=[_DEFAULT], value=_DEFAULT, description="Quality")
        self.style = widgets.Dropdown(options=[_DEFAULT], value=_DEFAULT, description="Style")
        self.budget = widgets.FloatText(
            value=budget or 0.0,
            step=0.01,
            description="Budget $",
            tooltip="a run whose estimate exceeds this does not start (0: no limit; live runs "
            "need one)",
        )
        # No budget given: the box offers the estimate rounded up to the next whole dollar (a
        # cap the run shown fits under) and follows it, until a budget is typed.
        self._budget_follows = budget is None
        self._setting_budget = False
        # Batch mode (imgkit.runner.batch): half price, results within the vendor's 24 hours.
        self.batch = widgets.Checkbox(
            value=False, description="Batch API (half price, up to 24 h)", indent=False
        )
        self.batch.add_class("imgkit-batch")
        self.batch_status = widgets.HTML()
        self.estimate = widgets.HTML()
        self.estimate.add_class("imgkit-estimate")
        self.run_button = widgets.Button(description="Run", button_style="primary", icon="play")
        self.run_button.add_class("imgkit-run")
        self.stop_button = widgets.Button(description="Stop", icon="stop", disabled=True)
        self.stop_button.add_class("imgkit-stop")
        self.status = widgets.HTML()
        self.status.add_class("imgkit-status")
        self.progress_box = widgets.VBox()
        self.gallery = Gallery()
        self.run_path = widgets.HTML()
        self.run_path.add_class("imgkit-run-path")
        # The run's frame as a file for a spreadsheet or pandas, written into the run folder.
        self.export_csv = widgets.Button(description="Save as CSV", icon="download")
        self.export_parquet = widgets.Button(description="Save as Parquet", icon="download")
        self.export_csv.on_click(lambda _b: self.export("csv"))
        self.export_parquet.on_click(lambda _b: self.export("parquet"))
        self.export_status = widgets.HTML()
        self.export_box = widgets.HBox([self.export_csv, self.export_parquet, self.export_status])
        self.export_box.add_class("imgkit-export")
        self.export_box.layout.display = "none"
        self.results = DrillResults()
        self.tabs = self.results
        # The result widgets, under the names the panel has always had.
        self.verdict = self.results.verdict
        self.consistency_html = self.results.consistency_html
        self.consistency_plot = self.results.consistency_plot
        self.divergence_html = self.results.divergence_html
        self.divergence_plot = self.results.divergence_plot
        self.cost_html = self.results.cost_html
        self.attempts_html = self.results.attempts_html
        self.blocked: str | None = None

        settings = widgets.VBox(
            [
                widgets.HBox([self.backend, self.backend_note]),
                self.prompt,
                self.css,
                self.arms,
                self.arms_hint,
                self.arms_chosen,
                widgets.HBox([self.n, self.budget, self.batch]),
                widgets.HBox([self.size, self.quality, self.style]),
                self.estimate,
                widgets.HBox([self.run_button, self.stop_button]),
            ]
        )
        super().__init__(
            [
                widgets.HTML("<h3>Consistency drill</h3>"),
                settings,
                self.status,
                self.progress_box,
                self.batch_status,
                self.gallery,
                self.run_path,
                self.export_box,
                self.tabs,
            ]
        )
        self.add_class("imgkit-drill-panel")
        self.run_button.on_click(lambda _b: self.run_drill())
        self.stop_button.on_click(lambda _b: self.stop())
        # First: a typed budget stops the box following the estimate before it is re-priced.
        self.budget.observe(self._budget_typed, names="value")
        for control in (
            self.prompt,
            self.n,
            self.size,
            self.quality,
            self.style,
            self.budget,
            self.batch,
        ):
            control.observe(lambda _c: self._inputs_changed(), names="value")
        self.arms.observe(lambda _c: self._inputs_changed(self._arms_changed), names="value")
        self.backend.observe(lambda _c: self._inputs_changed(self._backend_changed), names="value")
        if backend == "live" and self.live_available:
            self.backend.value = _LIVE
        self._arms_changed()

    @property
    def verdicts(self) -> list[Any]:
        """The :class:`~imgkit.analysis.comparison.ArmComparison` of each pair of arms."""
        return self.results.verdicts

    @property
    def comparison(self) -> Any:
        """The :class:`~imgkit.analysis.sweep.SweepComparison` of the last run, or None."""
        return self.results.comparison

    # ---------------------------------------------------------------------------------------
    # Settings

    def _inputs_changed(self, then: Any = None) -> None:
        # A message about the last run (a failure, "Done") no longer describes these inputs.
        if not self.running:
            self.status.value = ""
        if then is not None:
            then()
        else:
            self.update_estimate()

    @property
    def backend_name(self) -> str:
        """ "sim" or "live"."""
        return "live" if self.backend.value == _LIVE else "sim"

    def selected_arms(self) -> list[Arm]:
        """The chosen arms, with the chosen style on the models that take one."""
        arms = []
        for spec_text in self.arms.value:
            arm = Arm.parse(spec_text)
            spec = self.catalog.get_model(arm.model)
            if self.style.value != _DEFAULT and self.style.value in spec.styles:
                arm = Arm.parse(spec_text, style=self.style.value)
            arms.append(arm)
        return arms

    def defaults(self) -> dict[str, Any]:
        """Drill-wide request parameters: the chosen size and quality, if any."""
        chosen = {"size": self.size.value, "quality": self.quality.value}
        return {k: v for k, v in chosen.items() if v != _DEFAULT}

    def _arms_changed(self) -> None:
        specs = [self.catalog.get_model(Arm.parse(a).model) for a in self.arms.value]
        # Offer only what every chosen model accepts, so the Run button never sends a request
        # that one arm's service would refuse.
        for dropdown, values in (
            (self.size, _common(s.allowed_sizes() for s in specs)),
            (self.quality, _common(s.qualities for s in specs)),
            (self.style, _common(s.styles for s in specs if s.styles)),
        ):
            options = [_DEFAULT, *values]
            keep = dropdown.value if dropdown.value in options else _DEFAULT
            dropdown.options = options
            dropdown.value = keep
        self.style.layout.display = "flex" if any(s.styles for s in specs) else "none"
        self._show_chosen()
        self.update_estimate()

    def _set_budget(self, value: float) -> None:
        """Put ``value`` in the budget box as the panel's suggestion, not as typed."""
        if self.budget.value == value:
            return
        self._setting_budget = True
        try:
            self.budget.value = value
        finally:
            self._setting_budget = False

    def _budget_typed(self, _change: Any) -> None:
        # A budget typed (or set from code) is kept: the box stops following the estimate.
        if not self._setting_budget:
            self._budget_follows = False

    def _show_chosen(self) -> None:
        chosen = list(self.arms.value)
        self.arms_chosen.value = (
            f"<b>Chosen ({len(chosen)}):</b> " + ", ".join(escape(a) for a in chosen)
            if chosen
            else "<b>No arm chosen.</b>"
        )

    def _backend_changed(self) -> None:
        live = self.backend_name == "live"
        chosen = self.arms.value
        choices = arm_choices(self.catalog, live=live)
        known = {value for _, value in choices}
        self.arms.options = choices
        self.arms.value = tuple(a for a in chosen if a in known)
        self._arms_changed()

    def requests(self) -> list[tuple[Arm, Any]]:
        """(arm, validated request) for each chosen arm; raises ValidationError when invalid."""
        prompt = self.prompt.value
        return [
            (
                arm,
                arm.request(
                    prompt,
                    backend=self.backend_name,
                    defaults=self.defaults(),
                    catalog=self.catalog,
                ),
            )
            for arm in self.selected_arms()
        ]

    def _block(self, reason: str | None) -> None:
        """Enable Run, or disable it saying why (the reason is also Run's tooltip)."""
        self.blocked = reason
        self.run_button.tooltip = reason or ""
        self.run_button.disabled = reason is not None or self.running

    def update_estimate(self) -> None:
        """Check the inputs and re-price the planned run with
        :func:`imgkit.catalog.costs.estimate_cost`; disable Run, saying why, when the run would
        be refused."""
        if not self.arms.value:
            self.estimate.value = "<b>Pick at least one arm.</b>"
            self._block("no arm is chosen")
            return
        problems = [
            number_problem("Repeats", self.n.value, low=1, high=MAX_REPEATS, whole=True),
            number_problem(
                "Budget", self.budget.value, low=0, noun="a dollar amount", note=" (0: no limit)"
            ),
        ]
        problem = next((p for p in problems if p), None)
        if problem is not None:
            self.estimate.value = f"<b>Cannot run this:</b> {escape(problem)}"
            self._block(problem)
            return
        try:
            planned = self.requests()
        except ImgkitError as exc:
            self.estimate.value = f"<b>Cannot run this:</b> {escape(exc)}"
            self._block(str(exc))
            return
        n = int(self.n.value)
        rows, total, unknown = [], 0.0, []
        for arm, request in planned:
            batched = self.batch.value and _batchable(request, self.catalog)
            cost = (estimate_batch_cost if batched else estimate_cost)(request, self.catalog)
            if cost.per_image is None:
                unknown.append(arm.name)
                rows.append(f"<li>{escape(arm.name)}: price unknown ({escape(cost.note)})</li>")
                continue
            total += cost.per_image * n
            rows.append(
                f"<li>{escape(arm.name)}: {n} x {usd(cost.per_image, 4)} = "
                f"{usd(cost.per_image * n, 4)}{' in a batch' if batched else ''} "
                f"<small>({escape(basis_words(cost.basis))})</small></li>"
            )
        live = self.backend_name == "live"
        suggested = float(max(1, math.ceil(round(total, 6))))
        if self._budget_follows and not unknown:
            # On the simulator the box offers a cap the run shown fits under; a live run spends
            # real money, so its budget is typed by the person who pays (the estimate is said).
            self._set_budget(0.0 if live else suggested)
        head = (
            f"<b>Estimated cost: {usd(total, 4)}</b>"
            + (" plus arms without a price" if unknown else "")
            + (
                " (what it would cost live; the simulator charges nothing) " + simulated_badge(True)
                if not live
                else " (live: this is real money)"
            )
        )
        budget = float(self.budget.value or 0)
        warn, reason = "", None
        if budget and total > budget:
            reason = (
                f"the estimate {usd(total, 4)} is above the budget {usd(budget)}: lower the "
                "repeats or raise the budget"
            )
            warn = f"<br><b>Over budget:</b> {escape(reason)}. Run is disabled."
        elif live and not budget:
            reason = "live runs spend real money and need a budget"
            warn = (
                f"<br><b>Set a budget:</b> {escape(reason)} (the estimate rounded up is "
                f"{usd(suggested, 2)}). Run is disabled."
            )
        self.estimate.value = f"{head}<ul>{''.join(rows)}</ul>{warn}"
        self._block(reason)

    # ---------------------------------------------------------------------------------------
    # Running

    @property
    def running(self) -> bool:
        return self.task is not None and self.task.running

    def run_drill(self) -> BackgroundTask | None:
        """Start the drill in the background (what Run does); returns the task, or None.

        Returns None, with the reason in the status line, when the settings are invalid or a
        run is already going on.
        """
        if self.running:
            return None
        self.update_estimate()
        if self.blocked is not None:
            self.status.value = f"<b>Cannot run:</b> {escape(self.blocked)}"
            return None
        try:
            arms = [arm for arm, _request in self.requests()]
        except ImgkitError as exc:  # pragma: no cover - update_estimate has said it already
            self.status.value = f"<b>Cannot run:</b> {escape(exc)}"
            return None
        prompt = self.prompt.value
        n = int(self.n.value)
        backend = self.backend_name
        budget = float(self.budget.value) or None
        batch = bool(self.batch.value)
        defaults = self.defaults()
        self._reset_outputs(arms, n)
        self.run_button.disabled = True
        self.stop_button.disabled = False
        self.status.value = (
            f"Running {len(arms)} arm{'s' if len(arms) != 1 else ''} x {n} repeats "
            f"{'on the simulator' if backend == 'sim' else 'LIVE'}... "
            + simulated_badge(backend == "sim")
        )

        # The panel names the run folder itself, so it can watch the folder's ledger fill while
        # the drill runs and show each image as soon as it is stored.
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
        run_name = f"{stamp}-panel-{uuid.uuid4().hex[:6]}"
        run_path = (self.out / run_name).resolve()

        def work(stop_event: threading.Event) -> Any:
            from imgkit.runner import drill

            finished = threading.Event()
            watcher = threading.Thread(
                target=self._watch,
                args=(run_path, finished),
                name="imgkit-drill-watch",
                daemon=True,
            )
            watcher.start()
            try:
                return drill(
                    [prompt],
                    arms=arms,
                    n=n,
                    backend=backend,
                    out=str(self.out),
                    run_name=run_name,
                    budget=budget,
                    concurrency=self.concurrency,
                    sim_url=self.sim_url,
                    progress=False,
                    log=None,
                    stop=stop_event,
                    batch=batch,
                    **defaults,
                )
            finally:
                finished.set()
                watcher.join()

        self.task = BackgroundTask(work, on_done=self._finished, name="imgkit-drill").start()
        return self.task

    def stop(self) -> None:
        """Ask the run to stop: requests in flight finish, no new ones are sent."""
        if self.task is not None:
            self.task.stop()
            self.status.value = "Stopping: waiting for the requests in flight..."

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the run and its analysis are done; True when they are."""
        return self.task is None or self.task.wait(timeout)

    def _reset_outputs(self, arms: Sequence[Arm], n: int) -> None:
        self.run = None
        self.frame = pd.DataFrame()
        self._seen = set()
        self._failed = {}
        self.gallery.clear()
        self.gallery.set_arms(arm.name for arm in arms)
        self.bars = {}
        for arm in arms:
            bar = widgets.IntProgress(value=0, min=0, max=n, description=arm.name[:20])
            bar.add_class("imgkit-progress")
            label = widgets.HTML(f"0 / {n}")
            self.bars[arm.name] = (bar, label)
        self.progress_box.children = [widgets.HBox(pair) for pair in self.bars.values()]
        self.run_path.value = ""
        self.export_box.layout.display = "none"
        self.export_status.value = ""
        self.batch_status.value = ""
        self.results.clear()

    def _watch(self, run_path: Path, finished: threading.Event) -> None:
        """Poll the run folder while the drill runs; show each generation as it ends."""
        from imgkit.runs.folder import Run

        while not finished.wait(_POLL_S):
            if not (run_path / "ledger.sqlite").exists():
                continue
            try:
                frame = Run(run_path).to_frame()
                self._show_batches(run_path)
            except Exception:  # a folder still being written: the next poll will read it
                continue
            self._absorb(frame)

    def _show_batches(self, run_path: Path) -> None:
        self.batch_status.value = batch_status_html(run_path)

    def _absorb(self, frame: pd.DataFrame) -> None:
        """Count and show the generations of ``frame`` that ended since the last call."""
        ended = frame[frame["status"].isin(_ENDED)] if "status" in frame.columns else frame
        for _, row in ended.iterrows():
            key = (row.get("arm"), row.get("prompt_id"), row.get("repeat"))
            with self._lock:
                if key in self._seen:
                    continue
                self._seen.add(key)
            arm = row.get("arm")
            if arm in self.bars:
                bar, label = self.bars[arm]
                bar.value = min(bar.max, bar.value + 1)
                if row.get("status") != "ok":
                    bar.bar_style = "warning"
                    self._failed[arm] = self._failed.get(arm, 0) + 1
                missing = self._failed.get(arm, 0)
                label.value = f"{bar.value} / {bar.max}" + (
                    f" ({missing} without an image)" if missing else ""
                )
            if row.get("status") == "ok" and row.get("image_path"):
                self.gallery.add(GalleryItem.from_row(row))

    def _finished(self, task: BackgroundTask) -> None:
        self.stop_button.disabled = True
        # Called from the worker thread, still alive: Run's state is the inputs' alone.
        self.run_button.disabled = self.blocked is not None
        if task.error is not None:
            self.status.value = (
                f"<b>The drill did not complete:</b> {escape(task.error)}"
                f"<details><summary>details</summary><pre>{escape(task.error_text)}</pre></details>"
            )
            return
        self.show_run(task.result)

    # ---------------------------------------------------------------------------------------
    # Results

    def show_run(self, run: Any) -> None:
        """Fill the gallery and tabs from a finished (or reopened) run."""
        self.run = run
        frame = run.to_frame()
        self.frame = frame
        self._absorb(frame)
        self._show_batches(run.path)
        simulated = bool(frame.get("simulated", pd.Series([False])).fillna(False).any())
        stopped = self.task is not None and self.task.stop_event.is_set()
        self.status.value = done_html(run, frame, stopped, simulated)
        self.run_path.value = (
            f"<p>Run folder: <code>{escape(run.path)}</code>. Reopen it any time with "
            f"<code>imgkit.open_run({escape(repr(str(run.path)))})</code>.</p>"
        )
        self.export_box.layout.display = "flex"
        self.results.show(run, frame, n_boot=self.n_boot, n_perm=self.n_perm)

    def export(self, format: str = "csv") -> Path | None:
        """Write the run's frame into its folder as ``format`` ("csv" or "parquet", see
        :func:`imgkit.runs.export.export_frame`); say where, or why not. Returns the path."""
        from imgkit.runs.export import export_frame

        if self.run is None:
            self.export_status.value = "<i>Run a drill first.</i>"
            return None
        try:
            path = export_frame(self.run, format=format)
        except ImgkitError as exc:
            self.export_status.value = f"<b>Not saved:</b> {escape(exc)}"
            return None
        self.export_status.value = f"Saved <code>{escape(path)}</code>"
        return path
