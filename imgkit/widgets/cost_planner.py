"""Cost planner: what a volume of images costs a month, model against model.

Every figure comes from :func:`imgkit.catalog.costs.projection_table` (the catalog's prices, each
with its source and date) and the plot from :func:`imgkit.report.plots.cost_projection`; the panel
only collects the inputs and shows the results.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import ipywidgets as widgets
import pandas as pd

from imgkit.catalog.costs import basis_words, projection_table
from imgkit.catalog.models import Catalog, default_catalog
from imgkit.errors import ImgkitError
from imgkit.widgets._common import (
    escape,
    figure_png,
    frame_html,
    hide_picture,
    new_figure,
    number_problem,
    show_picture,
    table_box,
)

__all__ = ["PRESETS", "CostPlanner", "price_options"]

#: The lesson's scenarios: (label, images a day, options to compare).
PRESETS: dict[str, tuple[int, tuple[str, ...]]] = {
    "Blog autopilot: 1 hero image a day": (1, ("dall-e-3:standard",)),
    "Social pipeline: 20 images a day": (
        20,
        ("dall-e-3:standard", "dall-e-3:hd", "leonardo-phoenix:auto"),
    ),
    "High volume: 500 images a day": (
        500,
        ("dall-e-3:standard", "dall-e-3:hd", "gpt-image-2:medium", "leonardo-phoenix:auto"),
    ),
}
_CUSTOM = "Custom"
#: Volumes always drawn in the projection, so the chosen one is seen against the lesson's.
_PLOT_VOLUMES = (1, 20, 50, 500)


def price_options(
    catalog: Catalog | None = None, today: dt.date | None = None
) -> list[tuple[str, str]]:
    """(label, "model:quality") for every model and quality the catalog prices.

    "auto" is offered only for models where it is the one quality (Gemini, Leonardo); elsewhere it
    would be priced at its dearest choice, which the explicit qualities already show.
    """
    catalog = catalog or default_catalog()
    options = []
    for spec in catalog.values():
        qualities = [q for q in spec.qualities if q != "auto"] or list(spec.qualities)
        for quality in qualities:
            status = spec.status(today)
            suffix = "" if status == "active" else f" ({status})"
            options.append((f"{spec.name} {quality}{suffix}", f"{spec.name}:{quality}"))
    return options


class CostPlanner(widgets.VBox):
    """Images a day, days and models in; a monthly cost table and projection plot out.

    The outputs update whenever an input changes. ``table`` holds the last projection frame
    (one row per option at the chosen volume).
    """

    def __init__(
        self,
        *,
        catalog: Catalog | None = None,
        preset: str = "Social pipeline: 20 images a day",
        draw_plot: bool = True,
    ) -> None:
        self.catalog = catalog or default_catalog()
        self.draw_plot = draw_plot
        self.table = pd.DataFrame()
        self.projection = pd.DataFrame()
        #: The last projection's matplotlib Figure (None before one is drawn).
        self.figure: Any = None
        options = price_options(self.catalog)
        self._known = {value for _, value in options}
        self.preset = widgets.Dropdown(
            options=[*PRESETS, _CUSTOM], value=_CUSTOM, description="Scenario"
        )
        # Unbounded boxes: a number out of range stays as typed and is refused in words.
        self.images_per_day = widgets.IntText(value=20, description="Images/day")
        self.days = widgets.IntText(value=30, description="Days")
        self.models = widgets.SelectMultiple(
            options=options,
            value=("dall-e-3:standard", "dall-e-3:hd"),
            rows=10,
            description="Compare",
            layout=widgets.Layout(width="420px"),
        )
        self.use_custom = widgets.Checkbox(value=False, description="Add a custom price")
        self.custom_label = widgets.Text(value="my contract", description="Label")
        self.custom_price = widgets.FloatText(value=0.02, step=0.001, description="USD/image")
        self.output_table = table_box()
        self.output_table.add_class("imgkit-cost-table")
        self.plot = widgets.Image(format="png", layout=widgets.Layout(max_width="760px"))
        hide_picture(self.plot)
        self.message = widgets.HTML()
        inputs = widgets.VBox(
            [
                self.preset,
                widgets.HBox([self.images_per_day, self.days]),
                self.models,
                widgets.HBox([self.use_custom, self.custom_label, self.custom_price]),
            ]
        )
        super().__init__(
            [
                widgets.HTML("<h3>Cost planner</h3>"),
                inputs,
                self.message,
                self.output_table,
                self.plot,
            ]
        )
        self._applying_preset = False
        for control in (
            self.images_per_day,
            self.days,
            self.models,
            self.use_custom,
            self.custom_label,
            self.custom_price,
        ):
            control.observe(self._changed, names="value")
        self.preset.observe(self._preset_changed, names="value")
        if preset != _CUSTOM:
            self.preset.value = preset
        else:
            self.update()

    def _preset_changed(self, change: dict[str, Any]) -> None:
        self.apply_preset(change["new"])

    def apply_preset(self, name: str) -> None:
        """Set volume and models to one of :data:`PRESETS` (the lesson's scenarios)."""
        if name == _CUSTOM:
            return
        per_day, chosen = PRESETS[name]
        self._applying_preset = True
        try:
            self.images_per_day.value = per_day
            self.models.value = tuple(c for c in chosen if c in self._known)
        finally:
            self._applying_preset = False
        if self.preset.value != name:
            self.preset.value = name
        self.update()

    def _changed(self, _change: dict[str, Any]) -> None:
        if self._applying_preset:
            return
        # A hand-made change leaves the preset; say so rather than show a stale scenario name.
        if self.preset.value != _CUSTOM:
            per_day, chosen = PRESETS[self.preset.value]
            if self.images_per_day.value != per_day or set(self.models.value) != set(chosen):
                self.preset.unobserve(self._preset_changed, names="value")
                self.preset.value = _CUSTOM
                self.preset.observe(self._preset_changed, names="value")
        self.update()

    def options(self) -> list[Any]:
        """What is compared: the chosen "model:quality" strings and the custom price, if any."""
        chosen: list[Any] = list(self.models.value)
        if self.use_custom.value:
            chosen.append((self.custom_label.value or "custom price", self.custom_price.value))
        return chosen

    def update(self) -> None:
        """Recompute the table and the plot from the current inputs."""
        chosen = self.options()
        problems = [
            number_problem(
                "Images/day", self.images_per_day.value, low=1, high=10_000_000, whole=True
            ),
            number_problem("Days", self.days.value, low=1, high=366, whole=True),
        ]
        if self.use_custom.value:
            problems.append(
                number_problem("USD/image", self.custom_price.value, low=0, noun="a dollar amount")
            )
        problem = next((p for p in problems if p), None)
        if problem is not None or not chosen:
            self.table = pd.DataFrame()
            self.output_table.value = ""
            hide_picture(self.plot)
            self.message.value = (
                f"<b>Cannot price that:</b> {escape(problem)}"
                if problem
                else "<i>Pick at least one model (or add a custom price).</i>"
            )
            return
        per_day = int(self.images_per_day.value)
        days = int(self.days.value)
        volumes: Sequence[int] = sorted({*_PLOT_VOLUMES, per_day})
        try:
            projection = projection_table(chosen, per_day=volumes, days=days, catalog=self.catalog)
        except ImgkitError as exc:
            self.message.value = f"<b>Cannot price that:</b> {escape(exc)}"
            return
        self.projection = projection
        self.table = projection[projection["images_per_day"] == per_day].reset_index(drop=True)
        self.message.value = (
            f"<p>Cost of <b>{per_day:,}</b> image{'s' if per_day != 1 else ''} a day for "
            f"<b>{days}</b> days. Prices are the catalog's, each with its source and date; "
            "override them with a price file (IMGKIT_PRICES).</p>"
        )
        self.output_table.value = planner_table_html(self.table)
        if self.draw_plot:
            self.figure = _projection_figure(projection)
            show_picture(self.plot, figure_png(self.figure))


def planner_table_html(table: pd.DataFrame) -> str:
    """The planner's table in words, one line a row: the option, its price per image, the
    month's cost and how it was priced, with each price's source (a sentence and a date) as a
    numbered note under the table rather than a column that wraps every row over lines. The
    volume and days are said above the table, once."""
    sources = list(dict.fromkeys(str(s) for s in table["source"]))
    shown = pd.DataFrame(
        {
            "option": table["label"],
            "per image": table["price_per_image"].map(_money(3)),
            "a month": table["monthly_usd"].map(_money(2)),
            "priced by": table["basis"].map(lambda b: basis_words(str(b))),
            "source": [f"[{sources.index(str(s)) + 1}]" for s in table["source"]],
        }
    )
    notes = "".join(f"<li>{escape(source)}</li>" for source in sources)
    sources_html = f'<p><small>Sources:</small></p><ol style="font-size: 0.85em">{notes}</ol>'
    return frame_html(shown) + sources_html


def _money(places: int) -> Any:
    def fmt(value: Any) -> str:
        return "no price" if value is None else f"${float(value):,.{places}f}"

    return fmt


def _projection_figure(projection: pd.DataFrame) -> Any:
    from imgkit.report.plots import cost_projection

    known = projection[projection["monthly_usd"].notna()].copy()
    known["monthly_usd"] = known["monthly_usd"].astype(float)
    figure, ax = new_figure((6.4, 4.0))
    # The volumes run from 1 to 500 a day and more: log on both axes keeps every volume
    # readable and every cost a straight line.
    cost_projection(known, ax=ax, scale="log")
    return figure
