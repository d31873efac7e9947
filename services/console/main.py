"""Run the console: ``python -m services.console.main --listen HOST:PORT`` (``lethe console``).

Finds the deployment like every command (``--data-dir``/``--key-dir`` or ``LETHE_*``), talks to
its services as ``console``, keeps its state (login token, last verification) in
``<data dir>/console/``, and prints the one-time login link on stderr at start-up.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import sys
from pathlib import Path

import uvicorn

from services.console.app import Console, create_app
from services.console.backend import Backend
from shared.config import load_settings
from shared.keysource import FileKeySource

DEFAULT_LISTEN = "127.0.0.1:8470"


def split_listen(listen: str) -> tuple[str, int]:
    """``HOST:PORT`` (IPv6 in brackets) -> (host, port); raises ValueError."""
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError("--listen must be HOST:PORT")
    return host.strip("[]"), int(port)


def login_url(listen: str, token: str) -> str:
    """The one-time login link for a console listening on ``listen``."""
    host, port = split_listen(listen)
    host = "127.0.0.1" if host in ("0.0.0.0", "") else host
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{port}/login?token={token}"


def state_dir(data_dir: Path, listen: str) -> Path:
    """Where a console on ``listen`` keeps its login token and last verification."""
    return data_dir / "console" / str(split_listen(listen)[1])


def on_loopback(host: str) -> bool:
    """True when ``host`` (an address or ``localhost``) is only reachable from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def serve(data_dir: str | None, key_dir: str | None, listen: str, show_link: bool = False) -> None:
    """Serve until interrupted (SIGTERM/SIGINT end it gracefully).

    The login link is printed on stderr only with ``show_link`` (``lethe console`` on a terminal);
    a console started by ``lethe up`` logs no credential: ``lethe status --json`` gives its link.
    Off loopback the session cookie is ``Secure`` (RFC 6265 §4.1.2.5): such a console is reached
    through a TLS-terminating ingress or proxy (README.md, the console in Kubernetes).
    """
    host, port = split_listen(listen)
    settings = load_settings(data_dir, key_dir)
    backend = Backend(settings, FileKeySource(settings.key_dir))
    console = Console(backend, state_dir(settings.data_dir, listen), secure_cookie=not on_loopback(host))
    link = login_url(listen, console.tokens.current) if show_link else "the url of `lethe status --json`"
    print(f"lethe console on {listen}; sign in once with {link}", file=sys.stderr, flush=True)
    hosts = ["*"] if host in ("0.0.0.0", "::") else sorted({host, "127.0.0.1", "localhost", "::1"})
    try:
        uvicorn.run(create_app(console, hosts), host=host, port=port, access_log=False, log_level="warning")
    finally:
        console.backend.close()


def main(argv: list[str] | None = None) -> None:
    """Command line of the console process."""
    parser = argparse.ArgumentParser(prog="lethe console")
    parser.add_argument("--data-dir")
    parser.add_argument("--key-dir")
    parser.add_argument("--listen", default=DEFAULT_LISTEN)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    serve(args.data_dir, args.key_dir, args.listen)


if __name__ == "__main__":
    main()
