"""Fuzzing the command line and sweep files (issue 27): whatever a careless or hostile user
gives, imgkit answers with one ``imgkit: error:`` line and exit 2, or does the work (exit 0, or
1 for a run that stopped short); never a traceback, never a request sent for a sweep or command
it refused, and each case in bounded time and memory.

A seeded generator (no new dependency): valid sweeps and argument vectors, then mutated one
key or one option at a time with hostile values (wrong types, huge numbers, paths that leave
the folder, URLs that are not the simulator, YAML aliases, deep nesting, cut and corrupted
text). ``IMGKIT_FUZZ_CASES`` (default 120 in the suite) and ``IMGKIT_FUZZ_SEED`` set the
size; ``python benchmarks/bench_fuzz.py`` runs a few thousand.
"""

from __future__ import annotations

import contextlib
import io
import os
import random
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from imgkit.cli.main import main as cli_main
from imgkit.experiment.toml_text import toml_dumps

yaml = pytest.importorskip("yaml")

CASES = int(os.environ.get("IMGKIT_FUZZ_CASES", "120"))
SEED = int(os.environ.get("IMGKIT_FUZZ_SEED", "27"))
#: Bounds on one case: seconds of wall time, and growth of the process's peak memory overall.
CASE_SECONDS = 30.0
PEAK_GROWTH_MB = 400

HOSTILE_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    1,
    2**63,
    -(2**63),
    10**30,
    1e308,
    -0.0,
    0.5,
    "",
    " ",
    "x" * 20_000,
    "../../../../etc/passwd",
    "/etc/shadow",
    "~/.ssh/id_rsa",
    "notaurl",
    "ftp://127.0.0.1/",
    "http://remote-sim.invalid:1",
    "http://127.0.0.1:1",
    "nan",
    "inf",
    "\x00",
    "\u202e\u0000evil",
    "gpt-image-2+as_is",
    "gemini-2.5-flash-image+as_is",
    "dall-e-3@responses",
    "nosuchvendor:429=x1",
    "*:policy=1.0",
    [],
    {},
    [[[[[]]]]],
    {"a": {}},
    ["a", 1, None],
    {"model": "gpt-image-2"},
    [{"model": "no-such-model"}],
]

MODELS = ["gpt-image-2", "dall-e-3", "gpt-image-1", "gemini-2.5-flash-image", "leonardo-phoenix"]
SWEEP_KEYS = [
    "description",
    "repeats",
    "backend",
    "budget",
    "concurrency",
    "timeout_s",
    "kinds",
    "out",
    "name",
    "defaults",
    "simulator",
    "rate_limits",
    "retry",
    "prompts",
    "arms",
    "checks",
    "unknown_key",
]


def _valid_sweep(rng: random.Random) -> dict[str, Any]:
    arms = []
    for model in rng.sample(MODELS[:3], rng.randint(1, 2)):
        arm: dict[str, Any] = {"model": model}
        if rng.random() < 0.3:
            arm["name"] = f"{model}-{rng.randint(0, 9)}"
        if model == "gpt-image-2" and rng.random() < 0.3:
            arm["quality"] = rng.choice(["low", "medium", "high"])
        arms.append(arm)
    prompts: Any = rng.sample(["a fox", "a hen", "a red barn", "a lighthouse"], rng.randint(1, 2))
    if rng.random() < 0.2:
        prompts = {"template": "a {animal}", "grid": {"animal": ["cat", "dog"]}}
    sweep: dict[str, Any] = {"repeats": 1, "prompts": prompts, "arms": arms}
    if rng.random() < 0.3:
        sweep["description"] = "fuzz"
    if rng.random() < 0.2:
        sweep["checks"] = {"min_success_rate": 0.5}
    return sweep


def _mutate(rng: random.Random, data: Any, depth: int = 0) -> Any:
    """One hostile change somewhere in ``data``."""
    if isinstance(data, dict) and data and (depth == 0 or rng.random() < 0.7):
        key = rng.choice([*data, *SWEEP_KEYS] if depth == 0 else list(data))
        choice = rng.random()
        if choice < 0.15:
            data.pop(key, None)
        elif choice < 0.7 or key not in data:
            data[key] = rng.choice(HOSTILE_VALUES)
        else:
            data[key] = _mutate(rng, data[key], depth + 1)
        return data
    if isinstance(data, list) and data:
        k = rng.randrange(len(data))
        data[k] = (
            _mutate(rng, data[k], depth + 1) if rng.random() < 0.5 else rng.choice(HOSTILE_VALUES)
        )
        return data
    return rng.choice(HOSTILE_VALUES)


def _render(rng: random.Random, data: dict[str, Any]) -> tuple[str, str]:
    """(suffix, text): TOML or YAML, sometimes hostile YAML, sometimes cut or corrupted."""
    roll = rng.random()
    if roll < 0.1:
        return ".yaml", "a: &a [x, x]\nb: &b [*a, *a, *a]\nc: [*b, *b, *b]\nprompts: *a\n" + (
            "arms: &s [{model: gpt-image-2, s: *s}]\n" if rng.random() < 0.5 else ""
        )
    if roll < 0.15:
        deep = rng.choice(["[", "{a: "]) * rng.randint(100, 20_000)
        return rng.choice([".yaml", ".toml"]), f"prompts = {deep}\n"
    try:
        text = toml_dumps(data) if roll < 0.6 else yaml.safe_dump(data)
        suffix = ".toml" if roll < 0.6 else ".yaml"
    except Exception:  # values TOML cannot hold (None, nested mixes): YAML holds them
        text, suffix = yaml.safe_dump(data), ".yaml"
    if rng.random() < 0.15 and text:
        cut = rng.randrange(len(text))
        text = (
            text[:cut]
            + rng.choice(["", "\x00", '"', "]", "[[", "\n[arms\n", "&x *x"])
            + text[cut + 1 :]
        )
    return suffix, text


def _argv(rng: random.Random, tmp: Path, sim_url: str) -> list[str]:
    """An ``imgkit drill`` (mostly) argument vector with a hostile option or two."""
    options: list[Callable[[], list[str]]] = [
        lambda: ["--concurrency", rng.choice(["0", "1", "3", "1000000", "-5", "x", "1e3"])],
        lambda: ["-n", rng.choice(["1", "0", "-1", "2", "99999999", "one"])],
        lambda: [
            "--models",
            rng.choice(
                [
                    *MODELS,
                    "nope",
                    "",
                    ",",
                    "gpt-image-2+as_is",
                    "gemini-3-pro-image+as_is",
                    "dall-e-3@edit",
                ]
            ),
        ],
        lambda: [
            "--arm",
            rng.choice(
                [
                    "gpt-image-2:quality=ultra",
                    "gpt-image-2:size=1x1",
                    "dall-e-3:style=natural",
                    "gpt-image-2:seed=abc",
                    ":",
                    "x",
                ]
            ),
        ],
        lambda: ["--prompt", rng.choice(["a fox", "", "x" * 40_000, "gore", "a\x00b"])],
        lambda: ["--budget", rng.choice(["0", "-1", "1e400", "nan", "$5", "0.0001"])],
        lambda: [
            "--sim-url",
            rng.choice(
                [
                    "notaurl",
                    "ftp://x",
                    "http://remote-sim.invalid:9",
                    sim_url,
                    "http://127.0.0.1:1",
                    "http://[::1",
                    "http://",
                ]
            ),
        ],
        lambda: [
            "--sim-faults",
            rng.choice(["nosuchvendor:429=x1", "openai:429=x1", "garbage", "*:500=2.0", ";;;"]),
        ],
        lambda: ["--out", rng.choice([str(tmp / "o"), "", str(tmp / "f.txt"), "/proc/nope"])],
        lambda: ["--name", rng.choice(["ok-name", "../up", "", "a/b", ".", "x" * 300])],
        lambda: ["--size", rng.choice(["1024x1024", "0x0", "huge", "99999x99999"])],
        lambda: ["--rate-limit", rng.choice(["gpt-image-2=5", "=", "x=0", "gpt-image-2=-1"])],
        lambda: ["--regenerate-missing"],
        lambda: ["--resume", rng.choice([str(tmp), "/nonexistent", str(tmp / "f.txt")])],
        lambda: ["--backend", rng.choice(["sim", "live", "cloud"])],
        lambda: ["--sim-latency", rng.choice(["0", "-1", "inf", "abc"])],
        lambda: ["--bogus-option"],
    ]
    argv = ["drill", "--no-progress", "-n", "1", "--models", "gpt-image-2"]
    for _ in range(rng.randint(1, 3)):
        argv += rng.choice(options)()
    if "--sim-url" not in argv and rng.random() < 0.9:
        argv += ["--sim-url", sim_url]
    if "--out" not in argv:
        argv += ["--out", str(tmp / "runs")]
    return argv


def _call(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = cli_main(argv)
        except SystemExit as exit_:  # argparse's errors
            code = int(exit_.code or 0)
    return code, err.getvalue()


def _check(argv: list[str], sim: Any, what: str) -> str:
    sent_before = sim.stats()["total_requests"]
    started = time.monotonic()
    code, err = _call(argv)
    elapsed = time.monotonic() - started
    assert elapsed < CASE_SECONDS, f"{what}: {elapsed:.1f} s"
    assert "Traceback" not in err, f"{what}: {err[-3000:]}"
    assert code in (0, 1, 2), f"{what}: exit {code}: {err[-2000:]}"
    if code == 2:
        assert "imgkit: error:" in err, f"{what}: {err[-2000:]}"
        assert sim.stats()["total_requests"] == sent_before, f"{what}: sent although refused"
        return "refused"
    return "ran"


def test_fuzz_sweep_files(sim, tmp_path):
    rng = random.Random(SEED)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    outcomes = {"refused": 0, "ran": 0}
    secret = tmp_path / "secret.txt"
    secret.write_text("a password hash\n")
    for case in range(CASES):
        folder = tmp_path / f"case{case}"
        folder.mkdir()
        (folder / "prompts.txt").write_text("a fox\n")
        data = _valid_sweep(rng)
        if rng.random() < 0.85:
            for _ in range(rng.randint(1, 2)):
                data = _mutate(rng, data)
        if rng.random() < 0.1:
            data["prompts"] = {"file": rng.choice(["prompts.txt", str(secret), "../secret.txt"])}
        suffix, text = _render(rng, data if isinstance(data, dict) else {"x": data})
        path = folder / f"sweep{suffix}"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        argv = [
            "drill",
            "--config",
            str(path),
            "--no-progress",
            "--sim-url",
            sim.base_url,
            "--out",
            str(folder / "runs"),
        ]
        outcomes[_check(argv, sim, f"case {case} ({path.name}):\n{text[:1500]}")] += 1
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak) / 1024
    assert grown < PEAK_GROWTH_MB, f"peak memory grew {grown:.0f} MB"
    print(f"fuzzed {CASES} sweep files (seed {SEED}): {outcomes}")
    assert outcomes["refused"] and outcomes["ran"]  # the generator reaches both sides


def test_fuzz_command_lines(sim, tmp_path):
    rng = random.Random(SEED + 1)
    (tmp_path / "f.txt").write_text("not a folder")
    outcomes = {"refused": 0, "ran": 0}
    for case in range(CASES):
        argv = _argv(rng, tmp_path, sim.base_url)
        outcomes[_check(argv, sim, f"case {case}: {argv!r}"[:3000])] += 1
    print(f"fuzzed {CASES} command lines (seed {SEED + 1}): {outcomes}")
    assert outcomes["refused"] and outcomes["ran"]
