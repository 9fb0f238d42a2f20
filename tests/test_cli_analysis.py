"""imgkit.cli.analysis: the hash, consistency and report subcommands, end to end."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import imagehash
import pytest
from PIL import Image

from imgkit.analysis.hashing import KINDS, colorhash_binbits
from imgkit.cli.analysis import add_commands

try:
    from analysis_fixtures import HASHING_DATA, make_run
except ImportError:  # tests/ imported as a package
    from tests.analysis_fixtures import HASHING_DATA, make_run

FILES = [HASHING_DATA / name for name in ("astronaut_128.png", "shapes_rgb.png", "noise_rgb.png")]
IMAGEHASH = {
    "ahash": imagehash.average_hash,
    "phash": imagehash.phash,
    "dhash": imagehash.dhash,
    "whash": imagehash.whash,
    "colorhash": lambda image: imagehash.colorhash(image, binbits=colorhash_binbits(8)),
}


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    """Parse ``argv`` with a parser holding only this module's commands; run the handler."""
    parser = argparse.ArgumentParser(prog="imgkit")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args([str(a) for a in argv])
    code = args.func(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_add_commands_registers_the_three_commands():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    add_commands(sub)
    assert {"hash", "consistency", "report"} <= set(sub.choices)


# --------------------------------------------------------------------------------------------
# imgkit hash


def test_hash_json_matches_imagehash_and_its_distances(capsys):
    code, out, err = run_cli(capsys, "hash", *FILES, "--json")
    assert code == 0 and err == ""
    payload = json.loads(out)
    assert payload["hash_size"] == 8
    assert [row["source"] for row in payload["hashes"]] == [str(f) for f in FILES]
    objects = {}
    for row, path in zip(payload["hashes"], FILES, strict=True):
        with Image.open(path) as image:
            for kind, function in IMAGEHASH.items():
                expected = function(image)
                assert row[kind] == str(expected), (path.name, kind)
                objects[path, kind] = expected
    assert set(payload["distances"]) == set(KINDS)
    for kind in KINDS:
        block = payload["distances"][kind]
        assert block["sources"] == [str(f) for f in FILES]
        expected = [[objects[a, kind] - objects[b, kind] for b in FILES] for a in FILES]
        assert block["matrix"] == expected


def test_hash_one_file_prints_no_distances(capsys):
    code, out, _ = run_cli(capsys, "hash", FILES[0], "--json", "--kinds", "phash")
    assert code == 0
    payload = json.loads(out)
    assert payload["distances"] == {}
    assert list(payload["hashes"][0]) == ["source", "phash"]


def test_hash_table_output_with_kinds_and_size(capsys):
    code, out, _ = run_cli(
        capsys, "hash", *FILES[:2], "--kinds", "phash,dhash", "--hash-size", "16"
    )
    assert code == 0
    with Image.open(FILES[0]) as image:
        assert str(imagehash.phash(image, 16)) in out
    assert "phash distances (bits):" in out and "dhash distances (bits):" in out
    assert "whash" not in out
    assert f"[1] {FILES[1]}" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["hash", "missing.png"], "missing.png"),
        (["hash", str(FILES[0]), "--kinds", "nohash"], "nohash"),
        (["hash", str(FILES[0]), "--hash-size", "1"], "hash_size"),
    ],
)
def test_hash_bad_input_exits_2_with_one_line(capsys, argv, message):
    code, out, err = run_cli(capsys, *argv)
    assert code == 2 and out == ""
    assert err.startswith("imgkit: error:") and message in err
    assert "Traceback" not in err


def test_hash_through_a_python_subprocess():
    # The real process boundary: argv in, JSON on stdout, nothing on stderr.
    code = (
        "import argparse, sys; from imgkit.cli.analysis import add_commands; "
        "p = argparse.ArgumentParser(); add_commands(p.add_subparsers()); "
        "a = p.parse_args(sys.argv[1:]); sys.exit(a.func(a))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, "hash", *map(str, FILES[:2]), "--json", "--kinds", "dhash"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    with Image.open(FILES[0]) as a, Image.open(FILES[1]) as b:
        expected = imagehash.dhash(a) - imagehash.dhash(b)
    assert payload["distances"]["dhash"]["matrix"] == [[0, expected], [expected, 0]]


# --------------------------------------------------------------------------------------------
# imgkit consistency


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("cli")
    # One prompt, so that every pair inside an arm's folder is a pair of repeats.
    make_run(folder / "run", repeats=6, prompts=("a cat on a sofa",))
    return folder / "run"


def test_consistency_json_scores_each_subfolder_as_an_arm(capsys, run_folder):
    code, out, err = run_cli(
        capsys, "consistency", run_folder, "--json", "--kinds", "phash", "--n-boot", "100"
    )
    assert code == 0, err
    rows = json.loads(out)["consistency"]
    by_arm = {row["arm"]: row for row in rows}
    assert set(by_arm) == {f"{run_folder}/steady", f"{run_folder}/wobbly"}
    steady, wobbly = by_arm[f"{run_folder}/steady"], by_arm[f"{run_folder}/wobbly"]
    assert steady["n_images"] == wobbly["n_images"] == 6
    assert steady["n_pairs"] == 15
    assert steady["reference"] == "natural-photographs-v1"
    assert 30 < steady["reference_distance"] < 33
    assert steady["similarity"] > 0.8 > wobbly["similarity"]
    assert steady["ci_low"] <= steady["similarity"] <= steady["ci_high"]
    # The folder itself holds no images: it is no arm.
    assert str(run_folder) not in by_arm


def test_consistency_on_files_matches_imagehash_distances(capsys):
    code, out, _ = run_cli(
        capsys, "consistency", *FILES, "--json", "--kinds", "phash", "--n-boot", "10"
    )
    assert code == 0
    (row,) = json.loads(out)["consistency"]
    images = [Image.open(f) for f in FILES]
    distances = [
        imagehash.phash(images[i]) - imagehash.phash(images[j]) for i, j in [(0, 1), (0, 2), (1, 2)]
    ]
    assert row["arm"] == "files"
    assert row["mean_distance"] == pytest.approx(sum(distances) / 3)
    assert row["median_distance"] == sorted(distances)[1]


def test_consistency_table_output_states_the_scale(capsys, run_folder):
    code, out, _ = run_cli(capsys, "consistency", run_folder / "steady", "--n-boot", "20")
    assert code == 0
    assert "similarity" in out and "phash" in out and "whash" in out
    assert "scale: 0 = unrelated photographs, 1 = identical; per measure:" in out
    assert "phash: unrelated photographs 31.4 bits (natural-photographs-v1)" in out
    assert "efficientnet-lite0: unrelated photographs cosine distance 0.837" in out


def test_consistency_bad_input_exits_2(capsys, tmp_path):
    code, _, err = run_cli(capsys, "consistency", tmp_path)
    assert code == 2 and "no image found" in err
    code, _, err = run_cli(capsys, "consistency", tmp_path / "nowhere")
    assert code == 2 and "not found" in err


# --------------------------------------------------------------------------------------------
# imgkit report (on a run folder: only once the runner's open_run exists, see test_report.py)


def test_report_bad_folder_exits_2(capsys, tmp_path):
    code, out, err = run_cli(capsys, "report", tmp_path / "no-run")
    assert code == 2 and out == ""
    assert err.startswith("imgkit: error:") and "no-run" in err


def test_commands_are_reachable_from_the_imgkit_entry_point(capsys):
    from imgkit.cli import main

    assert main(["hash", str(FILES[0]), str(FILES[1]), "--json", "--kinds", "ahash"]) == 0
    payload = json.loads(capsys.readouterr().out)
    with Image.open(FILES[0]) as a, Image.open(FILES[1]) as b:
        expected = imagehash.average_hash(a) - imagehash.average_hash(b)
    assert payload["distances"]["ahash"]["matrix"][0][1] == expected
