"""Start JupyterLab on the notebooks wherever ``make lab`` is run, and say which URL to open.

JupyterLab stops at once when run as root ("Running as root is not recommended"), which is
the normal user in containers, CI images and many cloud notebooks; it opens a browser that a
container or an SSH session does not have; and inside a container, listening on 127.0.0.1
leaves it out of reach of the host's port mapping. So this script decides:

- as root, ``--allow-root``;
- without a display (no ``$DISPLAY`` or ``$WAYLAND_DISPLAY`` on Linux), or in a container,
  ``--no-browser``;
- in a container, listen on every interface (0.0.0.0, reached through the port mapping),
  elsewhere on 127.0.0.1; ``LAB_IP`` or ``--ip`` chooses;
- the port: ``LAB_PORT`` or ``--port`` (default 8888), or the next free one; JupyterLab is
  told not to move off it, so the printed URL is the right one;
- the access token: ``$JUPYTER_TOKEN`` or a new random one, printed in the URL to open (only
  on the terminal, as JupyterLab itself does; never written to a file).

Usage: ``python tools/lab.py [--port N] [--ip ADDRESS] [--dry-run] [FOLDER]`` (``make lab``
runs it on ``notebooks/``). ``--dry-run`` prints the command instead of running it.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import socket
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

DEFAULT_PORT = 8888
#: Files whose presence means "inside a container" (Docker, Podman).
CONTAINER_MARKERS = ("/.dockerenv", "/run/.containerenv")


def in_container(environ: Mapping[str, str], root: Path = Path("/")) -> bool:
    """Whether this process runs in a container (Docker, Podman, Kubernetes, systemd-nspawn)."""
    if environ.get("container") or environ.get("KUBERNETES_SERVICE_HOST"):
        return True
    return any((root / marker.lstrip("/")).exists() for marker in CONTAINER_MARKERS)


def has_display(environ: Mapping[str, str], platform: str = sys.platform) -> bool:
    """Whether a browser could open a window here."""
    if platform.startswith("linux"):
        return bool(environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"))
    return True  # macOS and Windows always have one


def free_port(ip: str, first: int, tries: int = 50) -> int:
    """``first`` if nothing listens there, else the next free port (up to ``tries`` on)."""
    for port in range(first, first + tries):
        with socket.socket() as probe:
            try:
                probe.bind((ip, port))
            except OSError:
                continue
            return port
    raise SystemExit(f"lab: no free port from {first} to {first + tries - 1}; set LAB_PORT")


def lab_command(
    jupyter: str,
    folder: str,
    *,
    uid: int,
    environ: Mapping[str, str],
    ip: str,
    port: int,
    token: str,
    container: bool,
) -> list[str]:
    """The ``jupyter lab`` command line for this place (see the module docstring)."""
    command = [
        jupyter,
        "lab",
        folder,
        f"--ServerApp.ip={ip}",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
    ]
    if uid == 0:
        command.append("--allow-root")
    if container or not has_display(environ):
        command.append("--no-browser")
    return command


def url_to_open(ip: str, port: int, token: str) -> str:
    # 0.0.0.0 is where the server listens, not an address to browse to.
    host = "127.0.0.1" if ip in ("0.0.0.0", "::", "") else ip
    return f"http://{host}:{port}/lab?token={token}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lab", description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", nargs="?", default="notebooks", help="folder to open")
    parser.add_argument("--port", type=int, help="port (default $LAB_PORT or 8888)")
    parser.add_argument("--ip", help="address to listen on (default $LAB_IP, see above)")
    parser.add_argument("--dry-run", action="store_true", help="print the command only")
    args = parser.parse_args(argv)

    environ = dict(os.environ)
    container = in_container(environ)
    ip = args.ip or environ.get("LAB_IP") or ("0.0.0.0" if container else "127.0.0.1")
    port = free_port(ip, args.port or int(environ.get("LAB_PORT") or DEFAULT_PORT))
    token = environ.get("JUPYTER_TOKEN") or secrets.token_hex(24)
    jupyter = shutil.which("jupyter", path=str(Path(sys.executable).parent)) or "jupyter"
    command = lab_command(
        jupyter,
        args.folder,
        uid=os.getuid() if hasattr(os, "getuid") else 1,
        environ=environ,
        ip=ip,
        port=port,
        token=token,
        container=container,
    )
    print(f"JupyterLab on {args.folder}/: open {url_to_open(ip, port, token)}", flush=True)
    if container:
        print(f"  (in a container: publish the port, e.g. docker run -p {port}:{port} ...)")
    if args.dry_run:
        print(" ".join(command))
        return 0
    sys.stdout.flush()
    os.execvp(command[0], command)  # JupyterLab takes over this process (and Ctrl-C)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
