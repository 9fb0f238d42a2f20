"""A run's frame as a file another tool opens: CSV (any spreadsheet) or Parquet (pandas, R,
DuckDB, Spark; types kept).

:func:`export_frame` writes ``run.to_frame()``, one row per planned generation, the columns of
:data:`imgkit.runs.folder.FRAME_COLUMNS`, image paths absolute. Parquet needs pyarrow, which the
``export`` extra installs (``pip install 'imgkit[export]'``); without it a
:class:`~imgkit.errors.ExportError` says so before anything is written. The file appears whole
or not at all (written beside its place, then renamed).
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

from imgkit.errors import ExportError, check_argument
from imgkit.runs.storage import write_atomic

__all__ = ["EXPORT_FORMATS", "export_frame", "parquet_available"]

#: The formats :func:`export_frame` writes, each with its file suffix.
EXPORT_FORMATS = {"csv": ".csv", "parquet": ".parquet"}
#: The name of an exported frame in a run folder (``generations.csv``, ...).
EXPORT_STEM = "generations"


def parquet_available() -> bool:
    """Whether Parquet can be written here (pyarrow is installed)."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


def _plain(frame: Any) -> Any:
    """``frame`` with values a file format can hold: a list or dict (a feature vector, request
    parameters) as its JSON text, a missing value as missing."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object:
            out[column] = out[column].map(_plain_value)
    return out


def _plain_value(value: Any) -> Any:
    if hasattr(value, "tolist") and not isinstance(value, str):  # a numpy array
        value = value.tolist()
    if isinstance(value, list | dict | tuple):
        return json.dumps(value, default=str)
    return value


def export_frame(
    run_or_frame: Any,
    path: str | os.PathLike[str] | None = None,
    *,
    format: str = "csv",
) -> Path:
    """Write a run's frame (a run folder, ``Run`` or a frame already made) as ``format`` ("csv"
    or "parquet") to ``path``; return the path written.

    ``path`` defaults to ``generations.<suffix>`` in the run folder; a folder puts that name in
    it. :class:`~imgkit.errors.ExportError` when Parquet is asked for without pyarrow;
    :class:`~imgkit.errors.ValidationError` for an unknown format.
    """
    import pandas as pd

    check_argument("format", format, list(EXPORT_FORMATS))
    if format == "parquet" and not parquet_available():
        raise ExportError(
            "Parquet needs pyarrow, which is not installed: pip install 'imgkit[export]' "
            "(or export as CSV, which needs nothing)"
        )
    folder: Path | None = None
    if isinstance(run_or_frame, pd.DataFrame):
        frame = run_or_frame
    else:
        from imgkit.runs.folder import Run, open_run

        run = run_or_frame if isinstance(run_or_frame, Run) else open_run(run_or_frame)
        frame, folder = run.to_frame(), Path(run.path)
    name = EXPORT_STEM + EXPORT_FORMATS[format]
    if path is None:
        if folder is None:
            raise ExportError("a frame has no run folder: give the path to write to")
        target = folder / name
    else:
        target = Path(path)
        if target.is_dir():
            target = target / name
    frame = _plain(frame)
    buffer = io.BytesIO()
    if format == "csv":
        buffer.write(frame.to_csv(index=False).encode("utf-8"))
    else:
        frame.to_parquet(buffer, index=False)
    try:
        write_atomic(target, buffer.getvalue())
    except OSError as exc:  # a missing folder, a full disk, no permission: said, nothing left
        raise ExportError(f"cannot write {target}: {exc.strerror or exc}") from None
    return target
