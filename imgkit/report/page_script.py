"""The one script of the report pages, and the Content-Security-Policy that allows only it.

The script sorts a table by the column whose heading is clicked (or chosen with Enter): by
number where the cells start with one (``0.84 [0.79, 0.89]``, ``$1.23``, ``12%``), else by
text; again to reverse. It also shows the gallery's filter (by arm, by prompt), which stays
hidden where scripts do not run. It is a fixed text: nothing from a run is ever put in it, so
the page's policy names it by its SHA-256 and refuses every other script, inline or not (an
injected ``<script>`` or ``onerror=`` would not run even if escaping failed).
"""

from __future__ import annotations

import base64
import hashlib

from markupsafe import Markup

__all__ = ["PAGE_SCRIPT", "content_security_policy", "script_hash"]

_LINES = """
(function () {
  "use strict";
  function key(cell) {
    var text = cell.textContent.trim();
    var match = text.replace(/[$,%]/g, "").match(/^[+-]?(\\d+(\\.\\d*)?|\\.\\d+)/);
    return match ? { number: parseFloat(match[0]), text: text } : { number: null, text: text };
  }
  function sortBy(table, column, heading) {
    var body = table.tBodies[0];
    if (!body) { return; }
    var descending = heading.getAttribute("aria-sort") === "ascending";
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = a.cells[column] ? key(a.cells[column]) : { number: null, text: "" };
      var y = b.cells[column] ? key(b.cells[column]) : { number: null, text: "" };
      var order;
      if (x.number !== null && y.number !== null) { order = x.number - y.number; }
      else if (x.number !== null) { order = -1; }
      else if (y.number !== null) { order = 1; }
      else { order = x.text.localeCompare(y.text); }
      return descending ? -order : order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
      th.removeAttribute("aria-sort");
    });
    heading.setAttribute("aria-sort", descending ? "descending" : "ascending");
  }
  Array.prototype.forEach.call(document.querySelectorAll("table"), function (table) {
    if (!table.tHead || !table.tHead.rows.length) { return; }
    table.classList.add("sortable");
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, column) {
      th.tabIndex = 0;
      th.title = "sort by this column (again: reverse)";
      th.addEventListener("click", function () { sortBy(table, column, th); });
      th.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") {
          event.preventDefault();
          sortBy(table, column, th);
        }
      });
    });
  });
  var filter = document.getElementById("gallery-filter");
  if (filter) {
    var arm = document.getElementById("filter-arm");
    var prompt = document.getElementById("filter-prompt");
    var apply = function () {
      var shown = 0;
      Array.prototype.forEach.call(document.querySelectorAll(".gallery-group"), function (g) {
        var keep = (!arm.value || g.getAttribute("data-arm") === arm.value) &&
          (!prompt.value || g.getAttribute("data-prompt") === prompt.value);
        g.hidden = !keep;
        if (keep) { shown += 1; }
      });
      document.getElementById("filter-count").textContent =
        shown + (shown === 1 ? " group shown" : " groups shown");
    };
    arm.addEventListener("change", apply);
    prompt.addEventListener("change", apply);
    filter.hidden = false;
    apply();
  }
})();
"""

# One line: a page written where text files end lines with CRLF keeps the very bytes the
# hash was taken of (every statement ends with a semicolon or a brace, so the joins are safe).
_SOURCE = " ".join(line.strip() for line in _LINES.splitlines() if line.strip())

#: The script, as the pages carry it (Markup: the template puts it in as it is).
PAGE_SCRIPT = Markup(_SOURCE)


def script_hash() -> str:
    """The script's CSP source: ``'sha256-<base64 of its SHA-256>'``."""
    digest = hashlib.sha256(_SOURCE.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def content_security_policy(images: str = "data:") -> str:
    """The pages' policy: nothing loads but their own inline style, ``images`` (the report's
    are ``data:`` URIs; the full gallery links the run folder's files) and the one script."""
    return (
        f"default-src 'none'; img-src {images}; style-src 'unsafe-inline'; "
        f"script-src {script_hash()}; base-uri 'none'; form-action 'none'"
    )
