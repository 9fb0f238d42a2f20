"""A run folder: what a drill wrote, read back offline by :func:`open_run`.

A run folder holds::

    manifest.json      every parameter, backend, simulator seed, versions, price table, times
    ledger.sqlite      the plan and every attempt (see imgkit.runs.ledger)
    images/            the images, named <sha256>.<ext> in the format the service returned
    run.lock           held by the runner writing the folder, if any

- :mod:`imgkit.runs.folder`: :class:`Run` and :func:`open_run`;
- :mod:`imgkit.runs.manifest`, :mod:`imgkit.runs.ledger`, :mod:`imgkit.runs.storage`: the
  three kinds of file and how each is written safely;
- :mod:`imgkit.runs.ledger_writer`: the ledger's writes during a drill, committed in groups;
- :mod:`imgkit.runs.index`: every run folder under a folder, one line each (``imgkit runs``);
- :mod:`imgkit.runs.location`: where run folders go by default (the project's ``runs/``).

The names below load on first use (``pandas`` comes with :class:`Run`). Nothing here imports
the runner: reading a run never depends on the code that writes one.
"""

from __future__ import annotations

from imgkit._lazy import lazy_exports

_EXPORTS = {
    "ATTEMPT_COLUMNS": "imgkit.runs.folder",
    "FRAME_COLUMNS": "imgkit.runs.folder",
    "GENERATION_STATUSES": "imgkit.runs.folder",
    "Run": "imgkit.runs.folder",
    "open_run": "imgkit.runs.folder",
    "MANIFEST_NAME": "imgkit.runs.manifest",
    "read_manifest": "imgkit.runs.manifest",
    "write_manifest": "imgkit.runs.manifest",
    "IMAGES_DIR": "imgkit.runs.storage",
    "INDEX_COLUMNS": "imgkit.runs.index",
    "index_entries": "imgkit.runs.index",
    "run_index": "imgkit.runs.index",
    "default_runs_folder": "imgkit.runs.location",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
