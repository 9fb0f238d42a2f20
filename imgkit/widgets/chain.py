"""Chain panel: order the providers, make the simulator fail, and watch the fallback work.

The panel runs its own simulator (:func:`imgkit.simulator.serve`) so the fault rates set here
touch nothing else in the notebook, builds an :class:`imgkit.providers.chain.Chain` from the chosen
order, and sends requests through :meth:`~imgkit.providers.chain.Chain.generate` in a background
thread. Each request's attempts appear as a row of the timeline as soon as it ends; the cost of what
was served sits beside the catalog's expected cost for the same fault rates
(:meth:`~imgkit.providers.chain.Chain.expected_cost`).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

import ipywidgets as widgets
import pandas as pd

from imgkit.catalog.models import Catalog, default_catalog
from imgkit.errors import ChainExhaustedError, ImgkitError
from imgkit.providers.chain import DEFAULT_CHAIN, Chain, ChainLink
from imgkit.widgets._common import (
    BackgroundTask,
    escape,
    figure_png,
    frame_html,
    hide_picture,
    model_label,
    new_figure,
    number_problem,
    show_picture,
    simulated_badge,
    table_box,
)

__all__ = ["ChainPanel", "attempt_timeline", "faults_spec"]

#: Fault kinds the panel offers a rate for, with their labels.
# The panel's simulator answers at once, so a client that waits 2 s has met a scripted
# "timeout" fault: the timeline shows it in 2 s rather than after the minutes a live client
# would wait for a stalled service.
CLIENT_TIMEOUT_S = 2.0
FAULT_KINDS: Mapping[str, str] = {"429": "429 rate", "500": "5xx rate", "timeout": "timeout rate"}
#: Timeline colours per attempt outcome.
_OUTCOME_COLOURS = {
    "ok": "#2e7d32",
    "rate_limited": "#f9a825",
    "transient": "#ef6c00",
    "refused": "#6a1b9a",
    "configuration_error": "#c62828",
    "error": "#c62828",
    "skipped": "#9e9e9e",
}
_DEFAULT_RATES = {"gemini": {"429": 0.3}, "leonardo": {"500": 0.1}}
#: The most requests one press of Send makes.
MAX_REQUESTS = 500


def faults_spec(rates: Mapping[str, Mapping[str, float]]) -> str:
    """A simulator fault SPEC from {provider: {kind: probability}}, zero rates left out.

    >>> faults_spec({"gemini": {"429": 0.3, "500": 0.0}, "leonardo": {"500": 0.1}})
    'gemini:429=0.3;leonardo:500=0.1'
    """
    rules = []
    for provider, kinds in rates.items():
        parts = [f"{kind}={rate:g}" for kind, rate in kinds.items() if rate > 0]
        if parts:
            rules.append(f"{provider}:{','.join(parts)}")
    return ";".join(rules)


def attempt_timeline(attempts: pd.DataFrame, ax: Any = None) -> Any:
    """Draw each request as a row of boxes, one per attempt, coloured by outcome; return the Axes.

    ``attempts`` has one row per attempt with ``request``, ``step`` (0-based position within the
    request), ``link_name`` and ``outcome``.
    """
    from matplotlib.patches import Patch
    from matplotlib.ticker import MaxNLocator

    if ax is None:
        _figure, ax = new_figure((7, 0.3 * max(4, attempts["request"].nunique()) + 1))
    for _, row in attempts.iterrows():
        colour = _OUTCOME_COLOURS.get(row["outcome"], "#607d8b")
        ax.barh(row["request"], 0.9, left=row["step"], color=colour, edgecolor="white")
        ax.text(
            row["step"] + 0.45,
            row["request"],
            str(row["link_name"]).split("/")[0],
            ha="center",
            va="center",
            fontsize=7,
            color="white",
        )
    seen = [o for o in _OUTCOME_COLOURS if o in set(attempts["outcome"])]
    ax.legend(
        handles=[Patch(color=_OUTCOME_COLOURS[o], label=o) for o in seen],
        loc="upper center",
        bbox_to_anchor=(0.5, -0.12),
        ncol=max(1, len(seen)),
        fontsize=7,
        frameon=False,
    )
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("attempt within the request")
    ax.set_ylabel("request")
    ax.invert_yaxis()
    ax.set_title("Fallback chain: every attempt of every request (simulated)")
    return ax


class ChainPanel(widgets.VBox):
    """Order the chain, set the simulator's fault rates, send requests, watch every attempt.

    After :meth:`send` (what the Send button does) and :meth:`wait`, :attr:`attempts` holds one
    row per attempt and :attr:`requests` one row per request (served_by, cost_usd, n_attempts).
    """

    def __init__(
        self,
        *,
        links: Sequence[str] | None = None,
        rates: Mapping[str, Mapping[str, float]] | None = None,
        n_requests: int = 20,
        prompt: str = "a lighthouse on a cliff at dusk, watercolour",
        seed: int = 0,
        catalog: Catalog | None = None,
    ) -> None:
        self.catalog = catalog or default_catalog()
        self.seed = seed
        self.task: BackgroundTask | None = None
        self.attempts = pd.DataFrame()
        self.requests = pd.DataFrame()
        self.expected: dict[str, Any] = {}
        self._server: Any = None
        self._lock = threading.Lock()
        #: Why Send is disabled (None when it is not).
        self.blocked: str | None = None
        rates = _DEFAULT_RATES if rates is None else rates

        chosen = list(links) if links is not None else [model for model, _ in DEFAULT_CHAIN]
        self._params = {model: dict(params) for model, params in DEFAULT_CHAIN}
        options = [
            (model_label(spec), spec.name)
            for spec in self.catalog.values()
            if "generate" in spec.endpoints
        ]
        self.order = widgets.Select(
            options=chosen, rows=4, description="Order", layout=widgets.Layout(width="380px")
        )
        self.up = widgets.Button(description="Move up", icon="arrow-up")
        self.down = widgets.Button(description="Move down", icon="arrow-down")
        self.remove = widgets.Button(description="Remove", icon="times")
        self.add_model = widgets.Dropdown(options=options, description="Add")
        self.add = widgets.Button(description="Add to chain", icon="plus")
        self.rates: dict[str, dict[str, widgets.FloatSlider]] = {}
        rate_rows = []
        for provider in ("gemini", "leonardo", "openai"):
            sliders = {}
            for kind, label in FAULT_KINDS.items():
                sliders[kind] = widgets.FloatSlider(
                    value=float(rates.get(provider, {}).get(kind, 0.0)),
                    min=0.0,
                    max=1.0,
                    step=0.05,
                    description=label,
                    readout_format=".2f",
                    continuous_update=False,
                )
            self.rates[provider] = sliders
            rate_rows.append(
                widgets.HBox(
                    [
                        widgets.HTML(f"<b>{escape(provider)}</b>", layout={"width": "80px"}),
                        *sliders.values(),
                    ]
                )
            )
        # Unbounded: a number out of range stays as typed and is refused in words.
        self.n_requests = widgets.IntText(value=n_requests, description="Requests")
        self.prompt = widgets.Text(
            value=prompt, description="Prompt", layout=widgets.Layout(width="560px")
        )
        self.send_button = widgets.Button(description="Send", button_style="primary", icon="play")
        self.stop_button = widgets.Button(description="Stop", icon="stop", disabled=True)
        self.expected_html = widgets.HTML()
        self.status = widgets.HTML()
        self.summary_html = widgets.HTML()
        self.summary_html.add_class("imgkit-chain-summary")
        self.timeline = widgets.Image(format="png", layout=widgets.Layout(max_width="720px"))
        hide_picture(self.timeline)  # until a request has gone down the chain
        self.log_html = table_box()
        super().__init__(
            [
                widgets.HTML("<h3>Fallback chain</h3>" + simulated_badge(True)),
                widgets.HBox([self.order, widgets.VBox([self.up, self.down, self.remove])]),
                widgets.HBox([self.add_model, self.add]),
                widgets.HTML("<b>Simulator fault rates</b> (probability per request)"),
                *rate_rows,
                widgets.HBox([self.n_requests, self.prompt]),
                self.expected_html,
                widgets.HBox([self.send_button, self.stop_button]),
                self.status,
                self.summary_html,
                self.timeline,
                self.log_html,
            ]
        )
        self.add_class("imgkit-chain-panel")
        self.up.on_click(lambda _b: self._move(-1))
        self.down.on_click(lambda _b: self._move(1))
        self.remove.on_click(lambda _b: self._remove())
        self.add.on_click(lambda _b: self._add())
        self.send_button.on_click(lambda _b: self.send())
        self.stop_button.on_click(lambda _b: self.task.stop() if self.task else None)
        for sliders in self.rates.values():
            for slider in sliders.values():
                slider.observe(lambda _c: self.update_expected(), names="value")
        self.order.observe(lambda _c: self.update_expected(), names="options")
        self.n_requests.observe(lambda _c: self.update_expected(), names="value")
        self.update_expected()

    # ---------------------------------------------------------------------------------------
    # Settings

    def faults(self) -> str:
        """The fault SPEC the sliders describe."""
        return faults_spec(
            {p: {k: s.value for k, s in sliders.items()} for p, sliders in self.rates.items()}
        )

    def chain(self, server: Any = None) -> Chain:
        """The chain in the chosen order (links keep the lesson's parameters where known)."""
        links = [ChainLink(model, self._params.get(model, {})) for model in self.order.options]
        return Chain(
            links,
            backend="sim",
            server=server,
            retry_delay_s=0.0,
            alert=None,
            timeout_s=CLIENT_TIMEOUT_S,
        )

    def _move(self, step: int) -> None:
        items = list(self.order.options)
        if self.order.value not in items:
            return
        i = items.index(self.order.value)
        j = min(max(i + step, 0), len(items) - 1)
        items[i], items[j] = items[j], items[i]
        value = self.order.value
        self.order.options = items
        self.order.value = value

    def _remove(self) -> None:
        items = [m for m in self.order.options if m != self.order.value]
        if items:
            self.order.options = items

    def _add(self) -> None:
        if self.add_model.value not in self.order.options:
            self.order.options = [*self.order.options, self.add_model.value]

    def update_expected(self) -> None:
        """Show the catalog's expected cost per request for this order and these fault rates
        (and drop a refusal or failure that was about other settings)."""
        running = self.task is not None and self.task.running
        if not running and self.status.value.startswith(("<b>Cannot send", "<b>Sending failed")):
            self.status.value = ""
        problem = number_problem(
            "Requests", self.n_requests.value, low=1, high=MAX_REQUESTS, whole=True
        )
        self.blocked = problem
        if problem is not None:
            self.expected_html.value = f"<b>Cannot send:</b> {escape(problem)}"
            self.send_button.disabled = True
            return
        try:
            self.expected = self.chain().expected_cost(self.faults() or None)
        except ImgkitError as exc:
            self.blocked = f"cannot build this chain: {exc}"
            self.expected_html.value = f"<b>Cannot build this chain:</b> {escape(exc)}"
            self.send_button.disabled = True
            return
        rows = "".join(
            f"<li>{escape(link['label'])}: ${link['cost_usd']:.4f} a request, fails with "
            f"p = {link['p_fail']:.2f} (after the retry the policy allows), serves "
            f"{served:.0%}</li>"
            for link, served in zip(
                self.expected["links"], self.expected["p_served_by"], strict=True
            )
        )
        self.expected_html.value = (
            f"<b>Expected cost: ${self.expected['expected_usd']:.4f} per request</b>; every link "
            f"fails for {self.expected['p_all_fail']:.2%} of requests.<ul>{rows}</ul>"
            f"<small>Fault SPEC: <code>{escape(self.faults() or 'none')}</code></small>"
        )
        self.send_button.disabled = self.task is not None and self.task.running

    # ---------------------------------------------------------------------------------------
    # Sending

    def _simulator(self) -> Any:
        if self._server is None:
            from imgkit.simulator import serve

            self._server = serve(seed=self.seed).start()
        return self._server

    def close(self) -> None:
        """Stop the panel's simulator and close the widgets."""
        if self._server is not None:
            self._server.stop()
            self._server = None
        super().close()

    def send(self) -> BackgroundTask | None:
        """Send the requests in the background (what Send does); None if already sending."""
        if self.task is not None and self.task.running:
            return None
        self.update_expected()
        if self.blocked is not None:
            self.status.value = f"<b>Cannot send:</b> {escape(self.blocked)}"
            return None
        try:
            server = self._simulator()
            server.configure(faults=self.faults() or None)
            chain = self.chain(server)
        except ImgkitError as exc:
            self.status.value = f"<b>Cannot send:</b> {escape(exc)}"
            return None
        total, prompt = int(self.n_requests.value), self.prompt.value
        self.attempts = pd.DataFrame()
        self.requests = pd.DataFrame()
        self.send_button.disabled = True
        self.stop_button.disabled = False
        self.status.value = f"Sending {total} requests through the simulator..."

        def work(stop_event: threading.Event) -> None:
            attempt_rows: list[dict[str, Any]] = []
            request_rows: list[dict[str, Any]] = []
            try:
                for index in range(total):
                    if stop_event.is_set():
                        break
                    try:
                        result = chain.generate(prompt)
                        attempts, served, cost = result.attempts, result.served_by, result.cost_usd
                    except ChainExhaustedError as exc:
                        attempts, served, cost = exc.attempts, None, 0.0
                    for step, attempt in enumerate(attempts):
                        attempt_rows.append(
                            {
                                "request": index + 1,
                                "step": step,
                                "link_name": f"{attempt.provider}/{attempt.model}",
                                **attempt.to_dict(),
                            }
                        )
                    request_rows.append(
                        {
                            "request": index + 1,
                            "served_by": served,
                            "cost_usd": cost,
                            "n_attempts": len(attempts),
                        }
                    )
                    self._show(attempt_rows, request_rows, total, final=index + 1 == total)
            finally:
                chain.close()
                self._show(attempt_rows, request_rows, total, final=True)

        def done(task: BackgroundTask) -> None:
            self.send_button.disabled = False
            self.stop_button.disabled = True
            if task.error is not None:
                self.status.value = f"<b>Sending failed:</b> {escape(task.error)}"

        self.task = BackgroundTask(work, on_done=done, name="imgkit-chain").start()
        return self.task

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the requests are sent; True when done."""
        return self.task is None or self.task.wait(timeout)

    def _show(
        self,
        attempt_rows: list[dict[str, Any]],
        request_rows: list[dict[str, Any]],
        total: int,
        *,
        final: bool,
    ) -> None:
        with self._lock:
            self.attempts = pd.DataFrame(attempt_rows)
            self.requests = pd.DataFrame(request_rows)
            requests = self.requests
        if requests.empty:
            return
        served = requests["served_by"].fillna("nobody (chain exhausted)").value_counts()
        spent = float(pd.to_numeric(requests["cost_usd"], errors="coerce").fillna(0).sum())
        expected = self.expected.get("expected_usd")
        expected_text = (
            f" The catalog expects ${expected:.4f} a request for these fault rates; this run "
            f"averaged ${spent / len(requests):.4f}."
            if expected is not None
            else ""
        )
        self.status.value = f"{len(requests)} of {total} requests done." + (
            "" if not final else " Finished."
        )
        self.summary_html.value = (
            simulated_badge(True)
            + "<p><b>Served by:</b> "
            + ", ".join(f"{escape(name)}: {count}" for name, count in served.items())
            + f". <b>Cost of what was served:</b> ${spent:.4f} (catalog prices; nothing was "
            f"billed).{escape(expected_text)}</p>"
        )
        # Redrawing the timeline is the slow part; do it every few requests and at the end.
        if final or len(requests) % 5 == 0:
            figure, ax = new_figure((7, 0.28 * max(4, len(requests)) + 1.2))
            attempt_timeline(self.attempts, ax=ax)
            show_picture(self.timeline, figure_png(figure))
            self.log_html.value = frame_html(
                self.attempts,
                columns=[
                    "request",
                    "provider",
                    "model",
                    "try_number",
                    "outcome",
                    "action",
                    "status",
                    "error_kind",
                    "request_id",
                ],
                max_rows=300,
            )
