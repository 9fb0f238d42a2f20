"""The analyses' small matrix products run on one BLAS thread (imgkit.analysis.blas)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
from threadpoolctl import threadpool_info

from imgkit.analysis import planning
from imgkit.analysis.blas import one_blas_thread, prefer_one_blas_thread


def _blas_threads() -> list[int]:
    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


def test_the_planner_multiplies_on_one_blas_thread_and_gives_the_threads_back(monkeypatch):
    seen = []
    real = planning.power_at

    def counting(*args, **kwargs):
        seen.append(_blas_threads())
        return real(*args, **kwargs)

    before = _blas_threads()
    monkeypatch.setattr(planning, "power_at", counting)
    plan = planning.plan_repeats(similarity=0.8, difference=0.2, kind="phash", n_sims=20)
    assert plan.n_per_arm is not None and seen
    assert all(threads == [1] * len(before) for threads in seen)
    assert _blas_threads() == before
    with one_blas_thread():
        np.ones((4, 4)) @ np.ones((4, 4))
        assert set(_blas_threads()) <= {1}
    assert _blas_threads() == before


def test_the_command_line_asks_for_one_blas_thread_unless_told_otherwise(monkeypatch):
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    prefer_one_blas_thread()
    assert os.environ["OPENBLAS_NUM_THREADS"] == "1"
    monkeypatch.delenv("OPENBLAS_NUM_THREADS")
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    prefer_one_blas_thread()
    assert "OPENBLAS_NUM_THREADS" not in os.environ
    # The console script: numpy's BLAS in an `imgkit` process has one thread (the command
    # itself is replaced by a probe that loads numpy and reports).
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    code = """
import sys
import imgkit.cli.main
cli = sys.modules["imgkit.cli.main"]  # imgkit.cli.main is also the function's name

def probe(argv):
    import numpy  # noqa: F401  (its BLAS, loaded as a command loads it)
    import threadpoolctl
    print([p["num_threads"] for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"])
    return 0

cli._main = probe
raise SystemExit(cli.main())
"""
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[1]"
