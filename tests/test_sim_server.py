"""Serving: the Python context manager, the control routes, and the ``imgkit sim`` command."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import httpx
import pytest

from imgkit.errors import ValidationError
from imgkit.simulator import SimServer, check_loopback, serve, shared_server
from imgkit.simulator.state import parse_latency

#: The control routes need a key, as the API routes do (any key works on the simulator).


def test_serve_context_manager_urls_and_shutdown():
    with serve(seed=3) as sim:
        assert sim.base_url.startswith("http://127.0.0.1:")
        assert sim.openai_base_url == sim.base_url + "/v1"
        assert sim.gemini_base_url == sim.base_url
        assert sim.leonardo_base_url == sim.base_url + "/api/rest/v1"
        response = httpx.get(sim.base_url + "/_sim/stats")
        assert response.json()["seed"] == 3 and response.json()["total_requests"] == 0
        assert response.headers["x-imgkit-simulated"] == "1"
        url = sim.base_url
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/_sim/stats")


def test_control_routes(sim):
    # The owner's secret (issue 27): any other key is refused, see test_sim_control_secret.py.
    KEY = {"Authorization": f"Bearer {sim.control_secret}"}
    response = httpx.post(
        sim.base_url + "/_sim/configure", json={"faults": "gemini:500=x1"}, headers=KEY
    )
    assert response.json()["pending_faults"] == {"gemini": ["500"]}
    bad = httpx.post(
        sim.base_url + "/_sim/configure", json={"faults": "gemini:nope=x1"}, headers=KEY
    )
    assert bad.status_code == 400 and bad.json()["param"] == "faults"
    assert (
        httpx.post(sim.base_url + "/_sim/configure", json={"colour": 1}, headers=KEY).status_code
        == 400
    )
    httpx.post(sim.base_url + "/_sim/configure", json={"faults": ""}, headers=KEY)
    assert httpx.post(sim.base_url + "/_sim/reset", headers=KEY).json()["total_requests"] == 0


def test_shared_server_is_one_per_process():
    assert shared_server() is shared_server()
    assert shared_server().running


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.4", "example.com", "::"])
def test_refuses_non_loopback_hosts(host):
    with pytest.raises(ValidationError) as caught:
        SimServer(host=host)
    assert caught.value.param == "host"


def test_loopback_hosts_accepted():
    assert check_loopback("127.0.0.2") == "127.0.0.2"
    assert check_loopback("localhost") == "localhost"
    assert check_loopback("::1") == "::1"


@pytest.mark.parametrize(
    ("value", "expected"), [("0", 0.0), (0.25, 0.25), ("0.1:0.4", (0.1, 0.4)), ((1, 1), 1.0)]
)
def test_parse_latency(value, expected):
    assert parse_latency(value) == expected


@pytest.mark.parametrize("value", ["-1", "2:1", "fast", None])
def test_parse_latency_rejects(value):
    with pytest.raises(ValidationError):
        parse_latency(value)


def test_cli_prints_base_url_first_and_serves():
    with subprocess.Popen(
        [sys.executable, "-m", "imgkit.cli.sim", "--seed", "5", "--latency", "0:0.01"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            first = process.stdout.readline().strip()
            assert first.startswith("http://127.0.0.1:")
            stats = httpx.get(first + "/_sim/stats", timeout=10).json()
            assert stats["seed"] == 5 and stats["latency"] == [0.0, 0.01]
        finally:
            process.terminate()
            process.wait(timeout=10)
    assert process.returncode == 0


def test_cli_refuses_public_host():
    done = subprocess.run(
        [sys.executable, "-m", "imgkit.cli.sim", "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert "imgkit: error: host='0.0.0.0'" in done.stderr


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("--port", "99999"), "--port: expected a port from 0 to 65535, got '99999'"),
        (("--port", "-1"), "--port: expected a port from 0 to 65535"),
        (("--url-ttl", "-5"), "--url-ttl: expected seconds >= 0, got '-5'"),
        (("--timeout-hold", "0"), "timeout_hold=0.0 is not allowed: allowed seconds > 0"),
    ],
)
def test_cli_bad_numbers_exit_2_with_the_message(args, needle):
    done = subprocess.run(
        [sys.executable, "-m", "imgkit.cli.sim", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert needle in done.stderr and "Traceback" not in done.stderr


def test_a_port_in_use_is_named(sim):
    with pytest.raises(
        ValidationError, match=f"port={sim.port} is not allowed: allowed a port free"
    ):
        SimServer(port=sim.port).start()


@pytest.mark.parametrize(("option", "value"), [("url_ttl", -1), ("retry_after", "x")])
def test_bad_timings_are_refused(option, value):
    with pytest.raises(ValidationError, match=f"{option}="):
        SimServer(**{option: value})


def _server_side_of(client_address: tuple, server_address: tuple) -> socket.socket:
    """The socket this process accepted for a client connection, found among its open files."""
    for name in os.listdir("/proc/self/fd"):
        try:
            duplicate = os.dup(int(name))
        except OSError:
            continue  # closed since listed (the listing's own descriptor)
        try:
            candidate = socket.socket(fileno=duplicate)  # family and type read from the socket
        except OSError:
            os.close(duplicate)
            continue  # not a socket
        try:
            if (
                candidate.getsockname()[:2] == server_address[:2]
                and candidate.getpeername()[:2] == client_address[:2]
            ):
                return candidate
        except OSError:
            pass  # not connected, or not an internet socket
        candidate.close()
    raise AssertionError(f"no accepted socket for {client_address} in this process")


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="lists open files via /proc")
@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_accepted_connections_send_small_answers_at_once(host):
    """Every accepted connection has TCP_NODELAY, so a small answer on a kept-alive connection
    is not held back by Nagle's algorithm until the client's delayed ACK (about 40 ms)."""
    if host == "::1" and not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    try:
        server = serve(host=host).start()
    except ValidationError:
        pytest.skip(f"cannot listen on {host}")
    with server, httpx.Client() as client:
        response = client.get(server.base_url + "/_sim/stats")
        stream = response.extensions["network_stream"]
        accepted = _server_side_of(
            stream.get_extra_info("client_addr"), stream.get_extra_info("server_addr")
        )
        with accepted:
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        assert client.get(server.base_url + "/_sim/stats").status_code == 200
