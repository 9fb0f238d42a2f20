"""How fast the drill runner is, against the simulator with a fixed latency per image.

Not a test: run it by hand and read the figures::

    .venv/bin/python benchmarks/bench_runner.py            # about three minutes
    .venv/bin/python benchmarks/bench_runner.py --quick    # fewer images, one repeat
    .venv/bin/python benchmarks/bench_runner.py --overhead --repeats 9   # section 4 only

It reports (medians over ``--repeats``):

1. the wall time of M generations at concurrency C against the ideal ceil(M/C) x latency
   (target: within 15% at M=64, C=8, latency 0.5 s), and the same generations sent by bare
   concurrent SDK calls (what the simulator itself allows);
2. the speed-up over the lesson's loop (the same M generations one by one with the SDK);
3. throughput at each concurrency, and its ratio to the runner at concurrency 1;
4. the runner's own overhead per generation (ledger, fsyncs, image store, scheduling) against a
   bare SDK call to the same simulator at zero latency (target: under 5 ms), one by one, and
   at concurrency 8, where the ledger's writes arrive together and share commits;
5. the runner's CPU time per image (user + system, this process's own: the simulator runs in
   another) at zero latency and concurrency 8, against the bare SDK's (target: within 2x), with
   the images per second of each;
6. ``imgkit drill`` as a command (a fresh process, M=64 at C=8, the latency of section 1)
   against the same ideal and against a bare SDK script run as a command (target: within 15%
   of each; the ideal leaves out the interpreter and the SDK's import, which the script pays
   too), with when each one's first request left.

``--cpu`` runs section 5 only, ``--command`` section 6 only (``--imgkit`` names another
``imgkit`` to time, e.g. a wrapper around an older tree). Every section prints the load average.

The simulator runs in its own process (``python -m imgkit.cli.sim``), so that drawing its
images does not compete with the runner for the interpreter lock.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import resource
import shlex
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx
import openai

from imgkit.runner import drill
from imgkit.runs.ledger import Ledger, PlannedGeneration

#: Targets, printed beside the figures they judge.
TARGET_IDEAL = 1.15  # runner (in-process or as a command) / ceil(M/C) x latency
TARGET_CPU = 2.0  # runner CPU per image / bare SDK CPU per image, zero latency, C=8

# The cheapest image the simulator draws (256x256, returned inline), so that its drawing time
# does not hide the runner's: at 1024x1024 by URL the simulator alone spends ~70 ms a request.
# One request for every section, the bare SDK command's included (this folder is on sys.path).
from bare_sdk_command import MODEL, PARAMS, PROMPT  # noqa: E402


@contextmanager
def simulator(latency: float) -> Iterator[str]:
    """A simulator in a child process; yields its base URL."""
    command = [
        sys.executable,
        "-m",
        "imgkit.cli.sim",
        "--latency",
        str(latency),
        "--no-default-block",
        "--log-level",
        "critical",
    ]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        yield child.stdout.readline().strip()
    finally:
        child.terminate()
        child.wait(timeout=10)


def median_time(action: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run_drill(url: str, m: int, c: int, where: str | None = None) -> None:
    with tempfile.TemporaryDirectory(dir=where) as out:
        drill_into(url, m, c, out)


def drill_into(url: str, m: int, c: int, out: str) -> None:
    """The drill of every section, its run folder made in ``out``."""
    run = drill(
        PROMPT,
        [MODEL],
        m,
        out=out,
        concurrency=c,
        sim_url=url,
        progress=False,
        log=None,
        size=PARAMS["size"],
        params={"response_format": PARAMS["response_format"]},
    )
    assert run.summary()["ok"] == m, run.summary()


def lesson_loop(url: str, m: int) -> None:
    """The lesson's loop: one SDK call after another, each image fetched at once."""
    client = openai.OpenAI(base_url=url + "/v1", api_key="sim", max_retries=0)
    with httpx.Client() as http:
        for _ in range(m):
            data = client.images.generate(model=MODEL, prompt=PROMPT, **PARAMS).data[0]
            if data.url:
                http.get(data.url).raise_for_status()
    client.close()


def bare_concurrent(url: str, m: int, c: int) -> None:
    """The same generations as bare async SDK calls, at most ``c`` at a time, nothing stored."""

    async def main() -> None:
        client = openai.AsyncOpenAI(base_url=url + "/v1", api_key="sim", max_retries=0)
        limit = asyncio.Semaphore(c)
        async with httpx.AsyncClient() as http:

            async def one() -> None:
                async with limit:
                    data = (
                        await client.images.generate(model=MODEL, prompt=PROMPT, **PARAMS)
                    ).data[0]
                    if data.url:
                        (await http.get(data.url)).raise_for_status()

            await asyncio.gather(*(one() for _ in range(m)))
        await client.close()

    asyncio.run(main())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer images, one repeat")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument(
        "--overhead", action="store_true", help="only the overhead per generation (section 4)"
    )
    parser.add_argument("--cpu", action="store_true", help="only the CPU per image (section 5)")
    parser.add_argument(
        "--command", action="store_true", help="only `imgkit drill` as a command (section 6)"
    )
    parser.add_argument("--imgkit", help="the imgkit command section 6 runs (default: this venv's)")
    args = parser.parse_args(argv)
    repeats = 1 if args.quick else args.repeats
    m, c = (32, 8) if args.quick else (64, 8)
    sweep_m = 16 if args.quick else 32
    latency = args.latency
    imgkit = shlex.split(args.imgkit) if args.imgkit else default_imgkit()

    print(f"load average at start: {load()}")
    if args.overhead or args.cpu or args.command:
        print(f"imgkit drill runner: {MODEL} {PARAMS['size']}")
        if args.overhead:
            print_overhead(args.quick, args.repeats)
        if args.cpu:
            print_cpu(args.quick, args.repeats)
        if args.command:
            print_command(imgkit, 64, 8, latency, args.repeats)
        print(f"\nload average at end: {load()}")
        return
    print(
        f"imgkit drill runner benchmark: {MODEL} {PARAMS['size']}, "
        f"simulator latency {latency} s per image"
    )
    print(f"medians of {repeats} repeat(s)\n")
    with simulator(latency) as url:
        run_drill(url, 4, 4)  # warm up the simulator and the imports
        runner_t = median_time(lambda: run_drill(url, m, c), repeats)
        bare_t = median_time(lambda: bare_concurrent(url, m, c), repeats)
        ideal = math.ceil(m / c) * latency
        print(f"1. M={m} at C={c}:")
        print(f"   runner         {runner_t:7.2f} s   ideal ceil(M/C) x latency = {ideal:.2f} s")
        print(f"   runner / ideal {runner_t / ideal:7.3f}     (target <= {TARGET_IDEAL})")
        ratio = runner_t / bare_t
        print(f"   bare SDK, same concurrency {bare_t:.2f} s (runner / bare = {ratio:.3f})")

        loop_t = median_time(lambda: lesson_loop(url, m), 1)
        print(f"\n2. the lesson's loop, {m} SDK calls one by one: {loop_t:.2f} s")
        print(f"   speed-up of the runner at C={c}: {loop_t / runner_t:.1f}x")

        print(f"\n3. throughput, M={sweep_m}:")
        print("   C    wall s   images/s   vs C=1   vs ideal")
        base = None
        for conc in (1, 2, 4, 8, 16):
            t = median_time(lambda conc=conc: run_drill(url, sweep_m, conc), repeats)
            base = base or t
            ideal_c = math.ceil(sweep_m / conc) * latency
            print(
                f"  {conc:2d}  {t:8.2f}  {sweep_m / t:9.2f}  {base / t:7.2f}x  {t / ideal_c:8.3f}"
            )

    print_overhead(args.quick, repeats)
    print_cpu(args.quick, repeats)
    print_command(imgkit, m, c, latency, repeats)
    print(f"\nload average at end: {load()}")


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.2f} (1 min), {five:.2f} (5 min)"


def cpu_seconds() -> tuple[float, float]:
    """(user, system) CPU seconds of this process so far, every thread included."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime, usage.ru_stime


def cpu_and_wall(action: Callable[[], object]) -> tuple[float, float, float]:
    """(user s, system s, wall s) that ``action()`` took in this process."""
    user, system = cpu_seconds()
    start = time.perf_counter()
    action()
    wall = time.perf_counter() - start
    user_after, system_after = cpu_seconds()
    return user_after - user, system_after - system, wall


def print_cpu(quick: bool, repeats: int) -> None:
    """Section 5: CPU time per image at zero latency and concurrency 8, runner against bare SDK.

    The marginal cost: the difference between a long and a short run of each, so that what a
    run pays once (its folder, manifest and clients; the bare loop's client) is left out. The
    run folders are deleted only once the section is over: deleting is the benchmark's, not the
    runner's (0.1-0.2 ms an image on ext4), and a file made within seconds of hundreds deleted
    costs more (ext4 skips the inodes it has just freed), which a user's drill does not meet."""
    small, large = (16, 96) if quick else (16, 256)
    conc = 8
    with simulator(0.0) as url, tempfile.TemporaryDirectory() as out:
        run_drill(url, 8, conc)
        bare_concurrent(url, 8, conc)
        rows: dict[str, list[tuple[float, float, float]]] = {"runner": [], "bare SDK": []}
        for _ in range(max(repeats, 3)):
            for name, action in (
                ("runner", lambda m: drill_into(url, m, conc, out)),
                ("bare SDK", lambda m: bare_concurrent(url, m, conc)),
            ):
                u0, s0, w0 = cpu_and_wall(lambda action=action: action(small))
                u1, s1, w1 = cpu_and_wall(lambda action=action: action(large))
                n = large - small
                rows[name].append(((u1 - u0) / n, (s1 - s0) / n, (w1 - w0) / n))
    print(f"\n5. CPU per image at zero latency, C={conc} ({small} vs {large} images, "
          f"medians of {max(repeats, 3)}):")  # fmt: skip
    print(f"   {'':10s} {'user ms':>8s} {'sys ms':>7s} {'CPU ms':>7s} {'images/s':>9s}")
    per_image = {}
    for name, values in rows.items():
        user = statistics.median(v[0] for v in values) * 1000
        system = statistics.median(v[1] for v in values) * 1000
        total = statistics.median(v[0] + v[1] for v in values) * 1000
        rate = 1 / statistics.median(v[2] for v in values)
        per_image[name] = total
        print(f"   {name:10s} {user:8.2f} {system:7.2f} {total:7.2f} {rate:9.0f}")
    ratio = per_image["runner"] / per_image["bare SDK"]
    verdict = "met" if ratio <= TARGET_CPU else "NOT met"
    print(f"   runner / bare SDK CPU per image {ratio:.2f}x (target <= {TARGET_CPU}x): {verdict}")


def default_imgkit() -> list[str]:
    script = os.path.join(os.path.dirname(sys.executable), "imgkit")
    return [script] if os.path.exists(script) else [sys.executable, "-m", "imgkit"]


def print_command(imgkit: list[str], m: int, c: int, latency: float, repeats: int) -> None:
    """Section 6: ``imgkit drill`` as a user runs it, a fresh process each time, against the
    ideal ceil(M/C) x latency, and against the same generations sent by a bare SDK script run
    as a fresh process too (``bare_sdk_command.py``), timed in alternation with it; the
    in-process runner beside them.

    The bare script is the fair anchor for a command: the ideal leaves out the interpreter and
    openai's import (about 0.45 s quiet), which any program that sends through the SDK pays
    before its first request. The commands' environment drops PYTHONDONTWRITEBYTECODE, so that
    they read compiled modules as an installed imgkit does (the untimed first runs write them).
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    arm = f"{MODEL}:size={PARAMS['size']},response_format={PARAMS['response_format']}"
    bare_script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bare_sdk_command.py")
    rows, bare_rows = [], []
    with simulator(latency) as url, tempfile.TemporaryDirectory() as out:
        run_drill(url, 4, 4)
        in_process = median_time(lambda: run_drill(url, m, c), repeats)
        for i in range(repeats + 1):
            argv = [
                *imgkit, "drill", "--prompt", PROMPT, "--arm", arm, "-n", str(m),
                "--concurrency", str(c), "--sim-url", url, "--out", out, "--name", f"c{i}",
                "--no-progress",
            ]  # fmt: skip
            started = time.time()
            start = time.perf_counter()
            subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, check=True)
            wall = time.perf_counter() - start
            ended = time.time()
            bare_started = time.time()
            bare_start = time.perf_counter()
            first = subprocess.run(
                [sys.executable, bare_script, url, str(m), str(c)],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            bare_wall = time.perf_counter() - bare_start
            if i == 0:
                continue  # untimed: the file cache warms, compiled modules are written
            with sqlite3.connect(os.path.join(out, f"c{i}", "ledger.sqlite")) as db:
                sent, last = db.execute(
                    "SELECT min(started_at), max(ended_at) FROM attempts"
                ).fetchone()
            rows.append((wall, sent - started, ended - last))
            bare_rows.append((bare_wall, float(first) - bare_started))
    ideal = math.ceil(m / c) * latency
    wall = statistics.median(r[0] for r in rows)
    bare = statistics.median(r[0] for r in bare_rows)
    verdict = "met" if wall / ideal <= TARGET_IDEAL else "NOT met"
    bare_verdict = "met" if wall / bare <= TARGET_IDEAL else "NOT met"
    print(f"\n6. `imgkit drill` as a command, M={m} at C={c}, {latency} s latency "
          f"(medians of {repeats}, alternating with the bare SDK script):")  # fmt: skip
    print(f"   command           {wall:6.2f} s   ideal {ideal:.2f} s")
    print(f"   command / ideal   {wall / ideal:6.3f}     (target <= {TARGET_IDEAL}): {verdict}")
    print(f"   bare SDK command  {bare:6.2f} s   ({bare / ideal:.3f} x ideal)")
    print(f"   command / bare SDK command {wall / bare:.3f} (target <= {TARGET_IDEAL}): "
          f"{bare_verdict}")  # fmt: skip
    print(f"   in this process   {in_process:6.2f} s   ({in_process / ideal:.3f} x ideal)")
    print(f"   process start -> first request sent  {statistics.median(r[1] for r in rows):.3f} s"
          f" (bare SDK command {statistics.median(r[1] for r in bare_rows):.3f} s)")  # fmt: skip
    print(f"   last answer -> process exit          {statistics.median(r[2] for r in rows):.3f} s")


def print_overhead(quick: bool, repeats: int) -> None:
    """Section 4: the runner's own cost per generation, on disk and on tmpfs."""
    with simulator(0.0) as url:
        # Marginal cost: the difference between a long and a short run, so the fixed cost of
        # a run (folder, manifest, git and version look-ups, clients) is reported apart.
        small, large = (10, 60) if quick else (10, 110)
        run_drill(url, 4, 1)
        lesson_loop(url, 4)
        print(f"\n4. overhead, generations one by one at zero latency ({small} vs {large}):")
        places = [(None, "run folder on disk")]
        if os.path.isdir("/dev/shm"):
            places.append(("/dev/shm", "run folder on tmpfs (fsync free: the code's own cost)"))
        for where, label in places:
            per_gen, fixed = overhead(url, small, large, max(repeats, 5), where)
            print(f"   {label}:")
            print(f"     runner - bare SDK call = {per_gen:.2f} ms per generation (target < 5 ms)")
            print(f"     fixed cost of a run (folder, manifest, clients): {fixed:.3f} s")
        small, large = (16, 64) if quick else (16, 128)
        per_gen, _ = overhead(url, small, large, max(repeats, 5), None, concurrency=8)
        print(f"   run folder on disk, at concurrency 8 ({small} vs {large}):")
        print(f"     runner - bare SDK calls = {per_gen:.2f} ms per generation")
        commit_ms = statistics.median(fsync_ms() for _ in range(5))
        print(f"   one fsync'd commit of the ledger here: {commit_ms:.2f} ms (median of 5 x 50)")


def overhead(
    url: str, small: int, large: int, repeats: int, where: str | None, concurrency: int = 1
) -> tuple:
    """(median ms per generation, median fixed s per run) of the runner over the bare SDK."""

    def bare(m: int) -> None:
        if concurrency == 1:
            lesson_loop(url, m)
        else:
            bare_concurrent(url, m, concurrency)

    per_gen, fixed = [], []
    for _ in range(repeats):
        r_small = median_time(lambda: run_drill(url, small, concurrency, where), 1)
        r_large = median_time(lambda: run_drill(url, large, concurrency, where), 1)
        b_small = median_time(lambda: bare(small), 1)
        b_large = median_time(lambda: bare(large), 1)
        runner_slope = (r_large - r_small) / (large - small)
        bare_slope = (b_large - b_small) / (large - small)
        per_gen.append(runner_slope - bare_slope)
        fixed.append(r_small - small * runner_slope - (b_small - small * bare_slope))
    return statistics.median(per_gen) * 1000, statistics.median(fixed)


def fsync_ms(count: int = 50) -> float:
    """Milliseconds per durable ledger commit on this machine's disk."""
    with tempfile.TemporaryDirectory() as folder:
        ledger = Ledger.create(folder)
        ledger.add_plan(
            [PlannedGeneration(0, "a", MODEL, "openai", "generate", "p0", "x", "x", 0, {}, None)]
        )
        ledger.begin_session("start")
        start = time.perf_counter()
        for _ in range(count):
            ledger.begin_attempt(0, 1, estimated_usd=None)
        elapsed = time.perf_counter() - start
        ledger.close()
    return elapsed / count * 1000


if __name__ == "__main__":
    main()
