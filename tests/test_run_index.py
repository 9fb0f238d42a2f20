"""The run index: `imgkit runs [DIR]` and `imgkit.run_index(DIR)` list run folders from their
manifests and ledger summaries, and say what is wrong with a folder they cannot read."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
from test_cli_startup import heavy_in, imported_by

import imgkit
from imgkit.cli.main import main as cli_main
from imgkit.errors import RunError
from imgkit.runs.index import INDEX_COLUMNS, index_entries
from imgkit.runs.manifest import read_manifest, write_manifest


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("index")
    quiet = {"out": out, "progress": False, "log": None}
    imgkit.drill("a cat", ["dall-e-3", "gpt-image-2"], 2, run_name="b-second", **quiet)
    imgkit.drill(["a dog", "a fox"], ["dall-e-3+as_is"], 1, run_name="a-third", **quiet)
    # A run that was killed mid-way: its manifest still says "running" and no runner holds it.
    crashed = out / "c-crashed"
    shutil.copytree(out / "b-second", crashed)
    manifest = read_manifest(crashed)
    manifest.update(status="running", run_id="c-crashed", created_at="2026-01-01T00:00:00+00:00")
    write_manifest(crashed, manifest)
    # Not runs: a start in progress (hidden), a folder without a manifest, a stray file.
    (out / ".x.abc.starting").mkdir()
    (out / "notes").mkdir()
    (out / "readme.txt").write_text("hello", encoding="utf-8")
    # A run folder whose manifest is damaged.
    damaged = out / "d-damaged"
    damaged.mkdir()
    (damaged / "manifest.json").write_text("{ not json", encoding="utf-8")
    return out


def test_the_index_lists_runs_oldest_first_with_their_summaries(folder):
    entries = {e["run_id"]: e for e in index_entries(folder)}
    assert set(entries) == {"b-second", "a-third", "c-crashed", "d-damaged"}
    second = entries["b-second"]
    assert (second["arms"], second["prompts"], second["repeats"]) == (2, 1, 2)
    assert (second["planned"], second["images"], second["failed"]) == (4, 4, 0)
    assert second["backend"] == "sim" and second["simulated"] is True
    assert second["status"] == "complete" and second["spent_usd"] > 0
    assert second["arm_names"] == ["dall-e-3", "gpt-image-2"]
    assert entries["c-crashed"]["status"] == "crashed"
    assert entries["d-damaged"]["status"] == "unreadable"
    assert "manifest.json" in entries["d-damaged"]["problem"]
    order = [e["run_id"] for e in index_entries(folder)]
    assert order.index("c-crashed") < order.index("b-second") < order.index("a-third")


def test_run_index_is_a_dataframe(folder):
    frame = imgkit.run_index(folder)
    assert list(frame.columns) == list(INDEX_COLUMNS) and len(frame) == 4
    assert isinstance(frame["created_at"].dtype, pd.DatetimeTZDtype)
    third = frame.set_index("run_id").loc["a-third"]
    assert third["images"] == 2 and third["arm_names"] == ["dall-e-3+as_is"]


def test_the_command_prints_a_table_and_json(folder, capsys):
    assert cli_main(["runs", str(folder)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"4 run(s) in {folder}")
    line = next(line for line in out.splitlines() if line.strip().startswith("b-second"))
    assert "sim (simulated)" in line and "4/4" in line and "complete" in line
    assert cli_main(["runs", str(folder), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert {e["run_id"] for e in payload} == {"b-second", "a-third", "c-crashed", "d-damaged"}


def test_a_folder_that_is_not_there(tmp_path, capsys):
    with pytest.raises(RunError):
        index_entries(tmp_path / "nope")
    assert cli_main(["runs", str(tmp_path / "nope")]) == 2
    assert "not a folder of runs" in capsys.readouterr().err


def test_an_empty_folder(tmp_path, capsys):
    assert cli_main(["runs", str(tmp_path)]) == 0
    assert "no run folders" in capsys.readouterr().out


def test_listing_runs_imports_neither_pandas_nor_the_runner(folder):
    modules = imported_by("runs", str(folder))
    assert "imgkit.runs.index" in modules
    assert heavy_in(modules) == []
