"""The drill panel's result tabs: consistency and verdicts, prompt divergence, cost, attempts.

:class:`DrillResults` is the tab set under the drill panel (:mod:`imgkit.widgets.drill`). It
knows nothing about running a drill: :meth:`DrillResults.show` takes a finished (or reopened)
run and its frame and fills each tab from the library's own functions
(:func:`imgkit.analysis.consistency.compare_arms` writes the verdicts). Everything shown from a
simulated run carries the simulated badge; text from a run is escaped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ipywidgets as widgets
import pandas as pd

from imgkit.errors import ImgkitError
from imgkit.widgets._common import (
    SCROLL_SIDEWAYS,
    TABLE_STYLE,
    escape,
    figure_png,
    frame_html,
    hide_picture,
    new_figure,
    show_picture,
    simulated_badge,
    table_box,
    usd,
)

__all__ = ["DrillResults", "batch_status_html", "done_html"]

_TITLES = ("Consistency", "Prompt divergence", "Cost", "Attempt log")
# The divergence tab lists at most this many generations (the plot shows them all).
_DIVERGENCE_ROWS = 20
_ONE_LINE = "white-space: nowrap"


class DrillResults(widgets.Tab):
    """The result tabs. After :meth:`show`, :attr:`comparison` holds the
    :class:`~imgkit.analysis.sweep.SweepComparison` of the run and :attr:`verdicts` its
    :class:`~imgkit.analysis.comparison.ArmComparison` of each pair of arms. ``kinds``: the
    measures shown, the first giving the verdict (the learned measure, then the hashes)."""

    def __init__(self, kinds: tuple[str, ...] | None = None) -> None:
        from imgkit.analysis.consistency import DEFAULT_KINDS

        self.kinds = tuple(kinds or DEFAULT_KINDS)
        self.verdicts: list[Any] = []
        self.comparison: Any = None
        self.verdict = widgets.HTML()
        self.verdict.add_class("imgkit-verdict")
        self.quality = widgets.HTML()  # people's blind ratings: imgkit.widgets.rating
        self.consistency_html = table_box()
        self.consistency_plot = widgets.Image(
            format="png", layout=widgets.Layout(max_width="760px")
        )
        self.divergence_html = table_box()
        self.divergence_plot = widgets.Image(format="png", layout=widgets.Layout(max_width="760px"))
        self.cost_html = table_box()
        self.attempts_html = table_box()
        super().__init__(
            [
                widgets.VBox(
                    [self.verdict, self.quality, self.consistency_html, self.consistency_plot]
                ),
                widgets.VBox([self.divergence_html, self.divergence_plot]),
                self.cost_html,
                self.attempts_html,
            ]
        )
        for index, title in enumerate(_TITLES):
            self.set_title(index, title)
        self.clear()

    def clear(self) -> None:
        """Empty every tab (nothing has run yet)."""
        self.verdicts = []
        self.comparison = None
        for target in (
            self.verdict,
            self.quality,
            self.consistency_html,
            self.divergence_html,
            self.cost_html,
            self.attempts_html,
        ):
            target.value = ""
        self.consistency_html.value = "<p><i>The results appear here once a drill has run.</i></p>"
        hide_picture(self.consistency_plot)
        hide_picture(self.divergence_plot)

    def show(self, run: Any, frame: pd.DataFrame, *, n_boot: int, n_perm: int) -> None:
        """Fill every tab from ``run`` and its generations ``frame``."""
        simulated = bool(frame.get("simulated", pd.Series([False])).fillna(False).any())
        self.verdicts = []
        self.comparison = None
        self._show_consistency(frame, simulated, n_boot=n_boot, n_perm=n_perm)
        self._show_divergence(frame, simulated)
        manifest = getattr(run, "manifest", None) or {}
        batched = set((manifest.get("batch") or {}).get("arms") or ())
        self._show_cost(frame, simulated, batched, manifest)
        self._show_attempts(run)
        if getattr(run, "path", None) is not None:
            from imgkit.widgets.rating import quality_html

            self.quality.value = quality_html(run)

    # ---------------------------------------------------------------------------------------
    # Consistency and the verdicts

    def _show_consistency(
        self, frame: pd.DataFrame, simulated: bool, *, n_boot: int, n_perm: int
    ) -> None:
        from imgkit.analysis.consistency import consistency_table
        from imgkit.report.plots import consistency_intervals

        try:
            table = consistency_table(frame, kinds=self.kinds, n_boot=n_boot)
        except ImgkitError as exc:
            self.consistency_html.value = f"<i>No consistency table: {escape(exc)}</i>"
            return
        shown = _consistency_by_measure(table)
        self.consistency_html.value = frame_html(shown)
        if len(table):
            figure, ax = new_figure((6.4, 3.6))
            consistency_intervals(table, ax=ax)
            show_picture(self.consistency_plot, figure_png(figure))
        self.verdict.value = self._verdict_html(frame, simulated, n_boot=n_boot, n_perm=n_perm)

    def _verdict_html(
        self, frame: pd.DataFrame, simulated: bool, *, n_boot: int, n_perm: int
    ) -> str:
        """Every pair of arms compared as one family (Holm-corrected), with the ranking."""
        from imgkit.analysis.sweep import compare_all

        head = "<h4>Verdict</h4>" + simulated_badge(simulated)
        if frame["arm"].nunique() < 2:
            return head + "<ul><li>Pick at least two arms to compare their consistency.</li></ul>"
        try:
            result = compare_all(frame, self.kinds[0], n_perm=n_perm, n_boot=n_boot)
        except ImgkitError as exc:
            return head + f"<ul><li>No verdict: {escape(exc)}</li></ul>"
        self.comparison = result
        self.verdicts = list(result.comparisons)
        lines = "".join(f"<li>{escape(c.verdict)}</li>" for c in result.comparisons)
        summary = "".join(f"<p>{escape(line)}</p>" for line in result.summary())
        ranking = ""
        if result.ranking["arm"].nunique() >= 2:
            ranks = result.ranking
            ranking = frame_html(
                pd.DataFrame(
                    {
                        "rank": ranks["rank"].map(lambda r: f"{r:g}"),  # ties: 1.5
                        "arm": ranks["arm"],
                        f"{result.measure} similarity (95% interval)": [
                            _with_interval(v, lo, hi)
                            for v, lo, hi in zip(
                                ranks["similarity"], ranks["ci_low"], ranks["ci_high"], strict=True
                            )
                        ],
                        "rank interval": [
                            f"{lo:g}" if lo == hi else f"{lo:g}-{hi:g}"
                            for lo, hi in zip(ranks["rank_low"], ranks["rank_high"], strict=True)
                        ],
                    }
                )
            )
        note = (
            "<p><small>Similarity is on a fixed scale (0 = as far apart as unrelated "
            "photographs, 1 = identical). Every pair is tested, and the p-values are corrected "
            "together (Holm): a winner is named only when the corrected p is below 0.05.</small>"
            "</p>"
        )
        return head + summary + ranking + f"<ul>{lines}</ul>" + note

    # ---------------------------------------------------------------------------------------
    # Prompt divergence

    def _show_divergence(self, frame: pd.DataFrame, simulated: bool) -> None:
        from imgkit.analysis.divergence import divergence_table, html_diff
        from imgkit.report.plots import prompt_divergence

        table = divergence_table(frame)
        arms = [str(a) for a in dict.fromkeys(frame["arm"])] if "arm" in frame.columns else []
        silent = [a for a in arms if a not in set(table["arm"])]
        silent_note = (
            "<p>No revised prompt from "
            + ", ".join(f"<b>{escape(a)}</b>" for a in silent)
            + ": drawn as written.</p>"
            if silent
            else ""
        )
        if table.empty:
            self.divergence_html.value = (
                "<p>No arm reported a revised prompt: these services draw the prompt as "
                "written.</p>"
            )
            hide_picture(self.divergence_plot)
            return
        # One reference for the number and the diff: the prompt as written. An AS-IS arm sends
        # it behind a prefix; that prefix is imgkit's doing, not the model's, so it is said
        # once here rather than shown as words the model dropped.
        prefixed = []
        if "sent_prompt" in frame.columns:
            sent = frame.loc[table.index, "sent_prompt"]
            prefixed = list(dict.fromkeys(table.loc[sent.ne(table["prompt"]), "arm"]))
        prefix_note = (
            "<p><small>"
            + ", ".join(escape(a) for a in prefixed)
            + " sent your prompt behind the AS-IS prefix; the prefix is not counted.</small></p>"
            if prefixed
            else ""
        )
        rows = []
        for _index, row in table.head(_DIVERGENCE_ROWS).iterrows():
            rows.append(
                f"<tr><td style='{_ONE_LINE}'>{escape(row.get('arm'))} "
                f"#{escape(row.get('repeat'))}</td>"
                f"<td>{row['edit_distance']:.2f}</td>"
                f"<td>{html_diff(str(row['prompt']), row['revised_prompt'])}</td></tr>"
            )
        more = len(table) - _DIVERGENCE_ROWS
        self.divergence_html.value = (
            simulated_badge(simulated)
            + silent_note
            + prefix_note
            + f"<div class='imgkit-table-wrap' style='{SCROLL_SIDEWAYS}'>"
            f"<style>{TABLE_STYLE}</style>"
            "<table class='imgkit-table'><tr><th>image</th><th>edit distance from your prompt"
            "</th><th>revised prompt against your prompt (struck: dropped, underlined: added)"
            f"</th></tr>{''.join(rows)}</table></div>"
            + (f"<p><i>{more} more in the plot below.</i></p>" if more > 0 else "")
        )
        figure, ax = new_figure((6.4, 3.6))
        prompt_divergence(table, ax=ax, arms=arms)
        show_picture(self.divergence_plot, figure_png(figure))

    # ---------------------------------------------------------------------------------------
    # Cost and attempts

    def _show_cost(
        self, frame: pd.DataFrame, simulated: bool, batched: set[str], manifest: Any = None
    ) -> None:
        """Cost per arm, what the batch saved, and time to answer; ``batched``: the arms sent
        through a Batch API (``manifest``'s batch section says at what price)."""
        if "cost_usd" not in frame.columns:
            self.cost_html.value = "<i>The run recorded no costs.</i>"
            return
        per_arm = (
            frame.assign(cost_usd=pd.to_numeric(frame["cost_usd"], errors="coerce"))
            .groupby("arm", sort=False)
            .agg(
                images=("status", lambda s: int((s == "ok").sum())),
                cost_usd=("cost_usd", "sum"),
                priced=("cost_usd", lambda s: int(s.notna().sum())),
                basis=("cost_basis", lambda s: ", ".join(sorted({str(b) for b in s.dropna()}))),
            )
            .reset_index()
        )
        total = float(per_arm["cost_usd"].sum())
        unpriced = int((per_arm["images"] - per_arm["priced"]).clip(lower=0).sum())
        note = (
            "Simulated run: these are the prices the real services would charge, computed "
            "from the catalog; nothing was billed."
            if simulated
            else "Live run: what the services billed (from their usage) or the catalog's price."
        )
        missing = f" {unpriced} image(s) have no known cost." if unpriced else ""
        if batched:
            missing += f" {', '.join(sorted(batched))}: at the Batch API's price."
        shown = per_arm.assign(cost_usd=per_arm["cost_usd"].map(lambda v: usd(float(v), 4)))
        shown = shown.rename(columns={"cost_usd": "cost", "priced": "with a price"})
        self.cost_html.value = (
            simulated_badge(simulated)
            + f"<p><b>Total: {usd(total, 4)}</b>.{escape(missing)} {escape(note)}</p>"
            + _batch_savings_html(frame, manifest or {})
            + frame_html(shown)
            + _latency_html(frame, simulated, batched)
        )

    def _show_attempts(self, run: Any) -> None:
        try:
            attempts = run.attempts_frame()
        except (AttributeError, ImgkitError) as exc:
            self.attempts_html.value = f"<i>No attempt log: {escape(exc)}</i>"
            return
        if "started_at" in attempts.columns:
            # The clock time is what tells attempts apart; the date is the run's.
            attempts = attempts.assign(
                started_at=attempts["started_at"].map(
                    lambda t: t.strftime("%H:%M:%S.%f")[:-3] if hasattr(t, "strftime") else t
                )
            ).rename(columns={"started_at": "started (UTC)"})
        self.attempts_html.value = frame_html(
            attempts,
            columns=[
                "arm",
                "repeat",
                "try",
                "status",
                "started (UTC)",
                "latency_s",
                "cost_usd",
                "cost_basis",
                "error_kind",
                "error_message",
                "request_id",
            ],
            max_rows=200,
            drop_empty=True,
        )


def _with_interval(value: float, low: float, high: float) -> str:
    """ "0.81 [0.75, 0.87]": a figure with its interval, as the report writes it."""
    return f"{value:.2f} [{low:.2f}, {high:.2f}]"


def _latency_html(frame: pd.DataFrame, simulated: bool, batched: set[str]) -> str:
    """Time to answer per arm, with time to first partial image and to final image for arms
    that streamed (:func:`imgkit.analysis.latency.latency_table`); arms sent through a Batch
    API (``batched``) have no time per request, and say so."""
    from imgkit.analysis.latency import latency_table
    from imgkit.report.table_rows import seconds  # the report's format, the same figures

    table = latency_table(frame)
    if table.empty or table["latency_median_s"].isna().all():
        return ""

    shown = pd.DataFrame(
        {
            "arm": table["arm"],
            "images": table["n"],
            "median": [
                seconds(v) or ("by batch" if arm in batched else "")
                for arm, v in zip(table["arm"], table["latency_median_s"], strict=True)
            ],
            "90th percentile": table["latency_p90_s"].map(seconds),
            # As the report says it: how many streamed, or "no".
            "streamed": table["streamed"].map(lambda n: str(int(n)) if n else "no"),
            "first partial image": table["first_partial_median_s"].map(seconds),
            "final image": table["final_image_median_s"].map(seconds),
        }
    )
    where = " (the simulator's own latency)" if simulated else ""
    return (
        f"<h4>Time to answer{escape(where)}</h4>"
        "<p>Medians over each arm's images; for streamed arms, also the time from sending to "
        "the first partial image and to the final image.</p>" + frame_html(shown)
    )


def _batch_savings_html(frame: pd.DataFrame, manifest: Any) -> str:
    """What a batch drill's batch arms cost, and what the same images would have cost
    synchronously (the report's figures, :func:`imgkit.report.costs.batch_summary`)."""
    from imgkit.report.costs import batch_summary

    batch = batch_summary(frame, manifest)
    if not batch:
        return ""
    line = (
        f"{len(batch['arms'])} arm(s) went through the vendors' Batch APIs: "
        f"{usd(batch['batch_usd'], 4)} there, {usd(batch['synchronous_usd'], 4)} synchronously "
        f"(saved {usd(batch['saved_usd'], 4)})."
    )
    alone = "; ".join(f"{arm}: {why}" for arm, why in batch["synchronous_arms"].items())
    if alone:
        line += f" Run synchronously: {alone}."
    return f"<p>{escape(line)}</p>"


def done_html(run: Any, frame: pd.DataFrame, stopped: bool, simulated: bool) -> str:
    """The panel's last word on a run: the images made, the requests that ended without one,
    and what is still to come (waiting in a vendor's batch, or never sent) with how to get it."""
    from imgkit.runs.ledger import Ledger

    counts = frame["status"].value_counts().to_dict() if "status" in frame.columns else {}
    with Ledger.open(run.path) as ledger:
        waiting = sum(ledger.batch_counts().values())
    unended = sum(n for status, n in counts.items() if status not in ("ok", "failed", "refused"))
    without = counts.get("failed", 0) + counts.get("refused", 0)
    parts = [f"{counts.get('ok', 0)} image(s)", f"{without} without an image"]
    if waiting:
        parts.append(f"{waiting} sent in batches, not yet collected")
    if unended > waiting:
        parts.append(f"{unended - waiting} not sent")
    text = f"Done{' (stopped)' if stopped else ''}: {', '.join(parts)}."
    if unended:
        text += f" imgkit.open_run({str(run.path)!r}).resume() finishes the run."
    return escape(text) + " " + simulated_badge(simulated)


def batch_status_html(run_path: Path) -> str:
    """Each batch of a run, its status and counts as the runner last heard them from the
    vendor (an empty string for a run without batches)."""
    from imgkit.runs.ledger import Ledger

    with Ledger.open(run_path) as ledger:
        rows = ledger.batches()
    lines = []
    for row in rows:
        counts = row.get("counts") or {}
        done = (
            ""
            if counts.get("total") is None
            else (
                f": {counts.get('completed') or 0} made, {counts.get('failed') or 0} failed of "
                f"{counts['total']}"
            )
        )
        lines.append(
            f"<li>{escape(row['model'])} batch: {escape(row['vendor_status'] or row['status'])}"
            f"{escape(done)}</li>"
        )
    return f"<ul>{''.join(lines)}</ul>" if lines else ""


def _consistency_by_measure(table: pd.DataFrame) -> pd.DataFrame:
    """One row per arm and prompt, a column per measure: the learned measure (what a person
    sees) first, the hashes (near-duplicates) beside it, as the report's first screen."""
    from imgkit.analysis.measures import parse_measure

    prompts = list(dict.fromkeys(table["prompt"]))
    columns: dict[str, list[Any]] = {"arm": []}
    if len(prompts) > 1:
        columns["prompt"] = []
    order = list(dict.fromkeys(table["kind"]))
    headings = {}
    for kind in order:
        measure = parse_measure(kind)
        headings[kind] = f"{measure.title} (95% interval)" if measure.learned else f"{kind}"
        columns[headings[kind]] = []
    columns["images"] = []
    for (arm, prompt), rows in table.groupby(["arm", "prompt"], sort=False):
        columns["arm"].append(arm)
        if "prompt" in columns:
            columns["prompt"].append(f"#{prompts.index(prompt) + 1}")
        by_kind = rows.set_index("kind")
        for kind in order:
            r = by_kind.loc[kind]
            columns[headings[kind]].append(
                _with_interval(r["similarity"], r["ci_low"], r["ci_high"])
            )
        columns["images"].append(int(rows["n_images"].iloc[0]))
    return pd.DataFrame(columns)
