"""One BLAS thread for the analyses' many small matrix products.

The permutation tests and the planner multiply matrices of a few hundred rows, thousands of
times. OpenBLAS splits each product over every core; at that size its threads spend longer
handing work over and waiting for each other than multiplying, the more so on a shared
machine. Measured on this project's 2-core machine (load 7-9, the six-arm sweep's report,
``benchmarks/bench_plan.py``): the planner's stage took 1.55 s of CPU with one BLAS thread
against 7.65 s with two (3.5 s wall against 20.9 s), and the whole report 6.7-7.0 s of CPU
against 14.0 s.

:func:`one_blas_thread` limits the BLAS already loaded (with threadpoolctl, the scikit-learn
project's tool for exactly this), for library callers; the command line sets
``OPENBLAS_NUM_THREADS=1`` before numpy loads (:func:`prefer_one_blas_thread`), unless the user
set it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

__all__ = ["one_blas_thread", "prefer_one_blas_thread"]


@contextlib.contextmanager
def one_blas_thread() -> Iterator[None]:
    """Run the block with one BLAS thread (as it was before, after it)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # a dependency of imgkit; without it products keep their threads
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def prefer_one_blas_thread() -> None:
    """One BLAS thread for a process that has not loaded numpy yet (an ``imgkit`` command),
    unless the environment already says how many."""
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        if name in os.environ:
            return
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
