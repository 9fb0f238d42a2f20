"""Every panel as a person sees it: served by Voila, looked at in a real browser.

One notebook, written here, shows each panel in the states that matter: the drill panel fresh,
with a budget below the estimate, and after a four-arm run (each result tab in turn, and a
thumbnail clicked open); the cost planner, the edit panel and the chain panel before anything
ran; and a run's summary card (what a notebook shows for ``run``). Each state is kept as a
screenshot in ``test-artifacts/panels/`` (listed, with what each shows, in ``index.txt``), and
the page is checked for what a person would notice: a broken-image icon, a "None" in a table,
a table wider than its panel, an arm name wrapped over two lines, a thumbnail that does not
open when clicked.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

try:
    from browser_helpers import ARTIFACTS, STARTUP_S, require_browser, voila
except ImportError:  # tests/ imported as a package
    from tests.browser_helpers import ARTIFACTS, STARTUP_S, require_browser, voila

SHOTS = ARTIFACTS / "panels"
ARMS = ["dall-e-3", "dall-e-3+as_is", "gpt-image-1", "gpt-image-2.6-sunburst@responses"]
PROMPT = "A lone astronaut on a red Martian cliff, cinematic photography, golden hour backlighting"

# Each code cell shows one panel, tagged with a class the test finds it by.
CELLS = [
    f"""
%matplotlib inline
import imgkit
from imgkit.widgets import ChainPanel, CostPlanner, DrillPanel, EditPanel, sample_image

ARMS = {ARMS!r}
run = imgkit.drill([{PROMPT!r}], ARMS, n=3, out="runs", progress=False, log=None)
""",
    """
fresh = DrillPanel(out="runs")
fresh.add_class("shot-drill-fresh")
fresh
""",
    """
over_budget = DrillPanel(out="runs", arms=["dall-e-3"], budget=0.001)
over_budget.add_class("shot-drill-budget")
over_budget
""",
    """
results = DrillPanel(out="runs", arms=ARMS, n=3, n_boot=200, n_perm=500)
results.show_run(run)
results.add_class("shot-drill-results")
results
""",
    """
planner = CostPlanner()
planner.add_class("shot-cost-planner")
planner
""",
    """
editor = EditPanel(image=sample_image((512, 512)))
editor.add_class("shot-edit")
editor
""",
    """
chain = ChainPanel(n_requests=5)
chain.add_class("shot-chain")
chain
""",
    """
run
""",
]

#: JavaScript: images shown on the page that have nothing to show (a broken-image icon).
BROKEN_IMAGES = """
() => [...document.querySelectorAll('img')]
    .filter(img => img.offsetParent !== null && !(img.complete && img.naturalWidth > 0))
    .map(img => {
        const panel = img.closest('[class*="shot-"]');
        if (!panel) return 'outside a panel';
        return [...panel.classList].find(c => c.startsWith('shot-'));
    })
"""


def _notebook(folder: Path) -> Path:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source.strip()) for source in CELLS]
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    path = folder / "panels.ipynb"
    nbformat.write(notebook, path)
    return path


def _table_problems(table, *, columns: str = "all") -> list[str]:
    """What is wrong with an HTML table as shown: a "None" cell, a cell of ``columns`` ("all"
    or "first") wrapped over several lines, a table running past the right edge of its panel."""
    return table.evaluate(
        """(table, columns) => {
        const problems = [];
        const panel = table.closest('[class*="shot-"]');
        const rows = [...table.querySelectorAll('tr')];
        const cells = [...table.querySelectorAll('td')];
        if (cells.some(td => td.innerText.trim() === 'None')) problems.push('a cell says None');
        const checked = columns === 'first'
            ? rows.map(tr => tr.children[0]).filter(Boolean)
            : [...cells, ...table.querySelectorAll('th')];
        const lines = cell => {
            const range = document.createRange();
            range.selectNodeContents(cell);
            return new Set([...range.getClientRects()].map(r => Math.round(r.top))).size;
        };
        const wrapped = checked.filter(cell => lines(cell) > 1).map(cell => cell.innerText);
        if (wrapped.length) problems.push('wrapped over lines: ' + wrapped.slice(0, 3).join(' | '));
        // A wide table may scroll sideways inside a box that stays within the panel; one that
        // runs past the panel, or is clipped by a box that does not scroll, is a problem.
        const outer = panel.getBoundingClientRect();
        const tableBox = table.getBoundingClientRect();
        let clip = null;
        for (let node = table.parentElement; node && node !== panel; node = node.parentElement) {
            if (getComputedStyle(node).overflowX !== 'visible') { clip = node; break; }
        }
        if (clip === null) {
            if (tableBox.right > outer.right + 1) problems.push('wider than its panel');
        } else {
            const scrolls = ['auto', 'scroll'].includes(getComputedStyle(clip).overflowX);
            const clipBox = clip.getBoundingClientRect();
            if (clipBox.right > outer.right + 1) problems.push('wider than its panel');
            if (!scrolls && tableBox.right > clipBox.right + 1) {
                const cut = [...table.querySelectorAll('th')]
                    .filter(th => th.getBoundingClientRect().right > clipBox.right + 1)
                    .map(th => th.innerText);
                problems.push('headers cut: ' + cut.join(', '));
            }
        }
        return problems;
    }""",
        columns,
    )


def test_every_panel_as_a_picture(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    shots: dict[str, str] = {}
    problems: list[str] = []

    def shoot(locator, name: str, what: str) -> None:
        locator.scroll_into_view_if_needed()
        locator.screenshot(path=str(SHOTS / f"{name}.png"))
        shots[name] = what

    with voila(_notebook(tmp_path), "panels-voila.log") as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=require_browser(), headless=True)
        try:
            page = browser.new_page(viewport={"width": 1000, "height": 3200})
            page.goto(url, timeout=STARTUP_S * 1000)
            for name in ("drill-fresh", "drill-budget", "drill-results", "cost-planner"):
                page.locator(f".shot-{name}").wait_for(state="visible", timeout=STARTUP_S * 1000)
            page.locator(".shot-chain").wait_for(state="visible", timeout=STARTUP_S * 1000)
            page.wait_for_timeout(500)  # let the images decode

            broken = page.evaluate(BROKEN_IMAGES)
            if broken:
                problems.append(f"broken-image icons in {sorted(set(broken))}")

            shoot(page.locator(".shot-drill-fresh"), "drill-fresh", "drill panel, nothing run")
            shoot(
                page.locator(".shot-drill-budget"),
                "drill-budget",
                "drill panel, budget $0.001 below the estimate",
            )
            results = page.locator(".shot-drill-results")
            shoot(results, "drill-results", "drill panel after a four-arm run: consistency tab")
            for tab, name in (
                ("Prompt divergence", "drill-divergence"),
                ("Cost", "drill-cost"),
                ("Attempt log", "drill-attempts"),
            ):
                results.locator(".lm-TabBar-tab", has_text=tab).click()
                page.wait_for_timeout(300)
                tabs = results.locator(".widget-tab")
                shoot(tabs, name, f"drill panel after a four-arm run: {tab} tab")
                visible_tables = tabs.locator("table:visible")
                for index in range(visible_tables.count()):
                    table = visible_tables.nth(index)
                    columns = "all" if tab == "Attempt log" else "first"
                    problems += [f"{tab}: {p}" for p in _table_problems(table, columns=columns)]

            # A click on the picture itself opens the detail view.
            detail = results.locator(".imgkit-gallery-detail")
            results.locator(".imgkit-tile").first.locator(".imgkit-thumb").first.click()
            try:
                detail.wait_for(state="visible", timeout=5000)
            except Exception:
                problems.append("clicking a thumbnail does not open the detail view")
            shoot(
                results.locator(".imgkit-gallery").locator("xpath=.."),
                "drill-gallery-detail",
                "drill panel gallery, first thumbnail clicked",
            )

            shoot(page.locator(".shot-cost-planner"), "cost-planner", "cost planner, defaults")
            shoot(page.locator(".shot-edit"), "edit", "edit panel, nothing run")
            shoot(page.locator(".shot-chain"), "chain", "chain panel, nothing sent")
            card = page.locator(".imgkit-run-card")
            if card.count():
                shoot(card.first, "run-card", "what a notebook shows for `run`")
            else:
                problems.append("a Run shows no summary card in a notebook")
        finally:
            browser.close()

    (SHOTS / "index.txt").write_text(
        "".join(f"{name}.png: {what}\n" for name, what in shots.items()), encoding="utf-8"
    )
    (SHOTS / "problems.txt").write_text("".join(f"{p}\n" for p in problems), encoding="utf-8")
    assert not problems, "\n".join(problems)


@pytest.fixture(autouse=True)
def _artifacts_folder() -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
