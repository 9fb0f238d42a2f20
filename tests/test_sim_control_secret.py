"""The simulator's control routes answer only to its owner (issue 27, finding 6).

``/_sim/configure`` and ``/_sim/reset`` take the secret the simulator made when it started
(random per process; ``imgkit sim`` writes it to a 0600 file or takes it from the environment),
and a run records every change of its simulator's settings made while it ran. The tests marked
as such reproduced the finding on 3fbd319.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from imgkit.runner import drill
from imgkit.runs.ledger import Ledger


def _listening_ports() -> set[int]:
    """The TCP ports this process listens on at 127.0.0.1, found as another process on the
    machine would find them (/proc/net/tcp), kept to this process's own sockets so that the
    test never posts a fault to a simulator someone else runs on the machine."""
    own = set()
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/self/fd/{fd}")
            if target.startswith("socket:["):
                own.add(target[8:-1])
    ports = set()
    with open("/proc/net/tcp", encoding="ascii") as handle:
        next(handle)
        for line in handle:
            fields = line.split()
            host, port = fields[1].split(":")
            if fields[3] == "0A" and host == "0100007F" and fields[9] in own:
                ports.add(int(port, 16))
    return ports


def test_control_routes_refuse_any_key_but_the_owners(sim):
    # On 3fbd319 any bearer token was accepted.
    for headers in ({"Authorization": "Bearer anything"}, {"x-goog-api-key": "sim"}, {}):
        assert httpx.post(sim.base_url + "/_sim/reset", headers=headers).status_code == 401
        refused = httpx.post(sim.base_url + "/_sim/configure", json={"faults": ""}, headers=headers)
        assert refused.status_code == 401
        assert "secret" in refused.json()["error"]
    owner = {"Authorization": f"Bearer {sim.control_secret}"}
    assert httpx.post(
        sim.base_url + "/_sim/configure", json={"faults": ""}, headers=owner
    ).is_success
    assert httpx.post(sim.base_url + "/_sim/reset", headers=owner).is_success


def test_each_simulator_has_its_own_secret(sim_factory):
    first, second = sim_factory(), sim_factory()
    assert first.control_secret != second.control_secret
    assert len(first.control_secret) >= 32
    assert first.control_secret not in json.dumps(first.stats())
    other = {"Authorization": f"Bearer {second.control_secret}"}
    assert httpx.post(first.base_url + "/_sim/reset", headers=other).status_code == 401


def test_an_embedded_simulator_cannot_be_steered_by_another_process(tmp_path):
    # On 3fbd319 a fault rule posted mid-drill turned generations into refusals, unrecorded.
    before = _listening_ports()
    results: dict[str, object] = {}

    def run() -> None:
        results["run"] = drill(
            ["a fox", "a hen", "a cat"],
            ["gpt-image-2"],
            4,
            out=tmp_path,
            concurrency=1,
            sim_latency=0.15,
            progress=False,
            log=None,
        )

    thread = threading.Thread(target=run)
    thread.start()
    accepted = []
    deadline = time.monotonic() + 20
    while thread.is_alive() and time.monotonic() < deadline and not accepted:
        for port in _listening_ports() - before:
            try:
                answer = httpx.post(
                    f"http://127.0.0.1:{port}/_sim/configure",
                    json={"faults": "*:policy=1.0"},
                    headers={"Authorization": "Bearer stolen"},
                    timeout=2,
                )
            except httpx.HTTPError:
                continue
            if answer.status_code != 404:
                accepted.append(answer.status_code)
        time.sleep(0.05)
    thread.join(60)
    assert accepted and set(accepted) == {401}, accepted
    frame = results["run"].to_frame()
    assert (frame["status"] == "ok").all(), frame["status"].value_counts()


def test_a_run_records_the_settings_changes_made_while_it_ran(sim_factory, tmp_path):
    server = sim_factory(latency=0.1)
    owner = {"Authorization": f"Bearer {server.control_secret}"}
    results: dict[str, object] = {}

    def run() -> None:
        results["run"] = drill(
            ["a fox", "a hen"],
            ["gpt-image-2"],
            4,
            out=tmp_path,
            concurrency=1,
            sim_url=server.base_url,
            progress=False,
            log=None,
        )

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        folders = [p for p in tmp_path.iterdir() if (p / Ledger.FILENAME).exists()]
        if folders and server.stats()["total_images"] >= 2:
            break
        time.sleep(0.02)
    changed = httpx.post(
        server.base_url + "/_sim/configure", json={"faults": "*:policy=x2"}, headers=owner
    )
    assert changed.is_success
    thread.join(60)
    run = results["run"]
    changes = run.manifest["sessions"][-1]["simulator_changes"]
    assert [c["settings"] for c in changes] == [{"faults": "*:policy=x2"}]
    assert changes[0]["at"]
    assert (run.to_frame()["status"] == "refused").sum() == 2


def test_a_run_without_changes_records_none(sim, tmp_path):
    run = drill(
        "a fox", ["gpt-image-2"], 1, out=tmp_path, sim_url=sim.base_url, progress=False, log=None
    )
    assert run.manifest["sessions"][-1]["simulator_changes"] == []
    embedded = drill("a fox", ["gpt-image-2"], 1, out=tmp_path, progress=False, log=None)
    assert embedded.manifest["sessions"][-1]["simulator_changes"] == []


def test_imgkit_sim_writes_its_secret_to_a_private_file_or_takes_it_from_the_environment(
    tmp_path,
):
    secret_file = tmp_path / "control-secret"
    process = subprocess.Popen(
        [sys.executable, "-m", "imgkit", "sim", "--control-secret-file", str(secret_file)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        base_url = process.stdout.readline().strip()
        secret = secret_file.read_text(encoding="ascii").strip()
        assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
        assert len(secret) >= 32
        owner = {"Authorization": f"Bearer {secret}"}
        assert httpx.post(base_url + "/_sim/reset", headers=owner).is_success
        assert (
            httpx.post(base_url + "/_sim/reset", headers={"Authorization": "Bearer x"}).status_code
            == 401
        )
    finally:
        process.terminate()
        process.wait(10)

    env = {**os.environ, "IMGKIT_SIM_CONTROL_SECRET": "a-secret-the-owner-chose-0123456789abcdef"}
    process = subprocess.Popen(
        [sys.executable, "-m", "imgkit", "sim"], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        base_url = process.stdout.readline().strip()
        owner = {"Authorization": f"Bearer {env['IMGKIT_SIM_CONTROL_SECRET']}"}
        assert httpx.post(base_url + "/_sim/reset", headers=owner).is_success
    finally:
        process.terminate()
        process.wait(10)


@pytest.mark.parametrize("secret", ["short", "   "])
def test_a_weak_secret_from_the_environment_is_refused(secret):
    env = {**os.environ, "IMGKIT_SIM_CONTROL_SECRET": secret}
    done = subprocess.run(
        [sys.executable, "-m", "imgkit", "sim"], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 2 and "IMGKIT_SIM_CONTROL_SECRET" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_the_secret_file_is_not_written_through_a_link(tmp_path):
    target = tmp_path / "elsewhere"
    target.write_text("keep")
    link = tmp_path / "secret"
    link.symlink_to(target)
    done = subprocess.run(
        [sys.executable, "-m", "imgkit", "sim", "--control-secret-file", str(link)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "--control-secret-file" in done.stderr, done.stderr
    assert Path(target).read_text() == "keep"
