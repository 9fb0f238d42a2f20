"""A run's checks as a person and a CI system read them: a plain text table and JUnit XML.

:func:`checks_text` is what ``imgkit check RUN`` prints: one line per check with the figure
measured, its interval, the threshold and the outcome (an inconclusive one says which way it
leans). :func:`checks_junit` is the ``--junit FILE`` output, which CI systems (GitHub Actions
through a test-report action, GitLab, Jenkins) show as a test suite: one test case per check, a
``<failure>`` for a check that fails the gate, ``<skipped>`` for an inconclusive one that does
not (so it stands out without failing the job), and the figures in each case's ``system-out``.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from typing import Any

from imgkit.analysis.gates import CheckResult, check_names

__all__ = ["checks_junit", "checks_text", "format_figure"]

_HEADERS = ("check", "arm", "prompt", "n", "measured", "interval", "threshold", "outcome")


def format_figure(check: str, value: Any) -> str:
    """A measured figure or threshold as the check shows it (dollars for the cost)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if check == "max_cost_per_image":
        return f"${value:.4f}"
    return f"{value:.3f}" if check == "max_failure_rate" else f"{value:.2f}"


def _outcome(row: Any) -> str:
    if row.outcome == "inconclusive":
        return f"inconclusive (leans {row.leans})"
    return str(row.outcome)


def _cells(row: Any) -> list[str]:
    sign = ">=" if row.check.startswith("min_") else "<="
    has_interval = math.isfinite(row.ci_low) and math.isfinite(row.ci_high)
    interval = (
        f"[{format_figure(row.check, row.ci_low)}, {format_figure(row.check, row.ci_high)}]"
        if has_interval
        else "-"
    )
    if isinstance(row.prompt_id, str):
        prompt = row.prompt_id
    else:
        prompt = row.prompt[:30] if isinstance(row.prompt, str) else "-"
    return [
        row.check,
        row.arm,
        prompt,
        "-" if row.n is None or (isinstance(row.n, float) and math.isnan(row.n)) else str(row.n),
        format_figure(row.check, row.measured),
        interval,
        f"{sign} {format_figure(row.check, row.threshold)}",
        _outcome(row),
    ]


def checks_text(result: CheckResult) -> str:
    """The checks as a plain text table under a one-line verdict."""
    counts = result.counts()
    verdict = "PASS" if result.passed else "FAIL"
    confidence = result.table.attrs.get("confidence", 0.95)
    lines = [
        f"imgkit check {result.run_id}: {verdict} ({counts['pass']} passed, {counts['fail']} "
        f"failed, {counts['inconclusive']} inconclusive; inconclusive counts as "
        f"{result.inconclusive})" + (" [simulated]" if result.simulated else ""),
        f"intervals: {confidence:.0%}; similarity measure: {result.table.attrs.get('kind')}",
    ]
    rows = [list(_HEADERS)] + [_cells(row) for row in result.table.itertuples()]
    widths = [max(len(r[k]) for r in rows) for k in range(len(_HEADERS))]
    for row in rows:
        lines.append(
            "  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        )
    notes = [
        f"  {row.arm}: {row.note}"
        for row in result.table.itertuples()
        if row.outcome == "fail" and isinstance(row.note, str) and "no " in row.note
    ]
    return "\n".join(lines + _prompt_legend(result.table) + notes) + "\n"


def _prompt_legend(table: Any) -> list[str]:
    """Which prompt each id of the table is ("p0: a red bicycle ..."), once each."""
    named = {
        row.prompt_id: row.prompt
        for row in table.itertuples()
        if isinstance(row.prompt_id, str) and isinstance(row.prompt, str)
    }
    return [f"  {prompt_id}: {prompt}" for prompt_id, prompt in named.items()]


def checks_junit(result: CheckResult) -> str:
    """The checks as a JUnit XML document (one test suite, one test case per check)."""
    table = result.table
    failing = set(result.failed.index)
    skipped = [i for i in table.index if table.loc[i, "outcome"] == "inconclusive"]
    skipped = [i for i in skipped if i not in failing]
    suites = ET.Element("testsuites", name="imgkit check")
    suite = ET.SubElement(
        suites,
        "testsuite",
        name=f"imgkit check {result.run_id}",
        tests=str(len(table)),
        failures=str(len(failing)),
        errors="0",
        skipped=str(len(skipped)),
    )
    properties = ET.SubElement(suite, "properties")
    for name, value in (
        ("run", result.path or ""),
        ("simulated", "true" if result.simulated else "false"),
        ("inconclusive_counts_as", result.inconclusive),
    ):
        ET.SubElement(properties, "property", name=name, value=str(value))
    for (index, row), name in zip(table.iterrows(), check_names(table), strict=True):
        case = ET.SubElement(suite, "testcase", classname=f"imgkit.check.{row['check']}", name=name)
        cells = dict(zip(_HEADERS, _cells(_Row(row)), strict=True))
        interval = "" if cells["interval"] == "-" else f" {cells['interval']}"
        summary = (
            f"measured {cells['measured']}{interval}, threshold {cells['threshold']}, "
            f"n = {cells['n']}: {cells['outcome']}"
            + (f" ({row['note']})" if isinstance(row["note"], str) else "")
        )
        if index in failing:
            ET.SubElement(case, "failure", message=summary, type=str(row["outcome"]))
        elif index in skipped:
            ET.SubElement(case, "skipped", message=summary)
        ET.SubElement(case, "system-out").text = summary
    ET.indent(suites)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
    )


class _Row:
    """A table row (a Series) read by attribute, as ``itertuples`` rows are."""

    def __init__(self, series: Any) -> None:
        self.__dict__.update(series.to_dict())
