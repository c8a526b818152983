"""Run the dashboard (or another local service) as a child process on 127.0.0.1.

For the browser tests and the dashboard benchmark: a free port, a start that waits for the
service's health URL (and fails early, naming its log, if the process exits), and a stop
that terminates it and kills it if it does not go. Nothing here imports Streamlit: the
dashboard runs in its own process with ``python -m streamlit run``.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

__all__ = [
    "ServiceStartError",
    "free_port",
    "running_dashboard",
    "running_service",
    "streamlit_command",
]


class ServiceStartError(RuntimeError):
    """The service exited, or did not answer its health URL in time."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _healthy(url: str, body: bytes | None) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return bool(resp.status == 200 and (body is None or resp.read().strip() == body))
    except OSError:
        return False


@contextmanager
def running_service(
    cmd: Sequence[str],
    *,
    health_url: str,
    log_path: Path,
    what: str,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    body: bytes | None = None,
    timeout_s: float = 120.0,
) -> Iterator[None]:
    """Run ``cmd`` (output to ``log_path``) until the block ends, once ``health_url`` answers.

    Args:
        cmd: the command line.
        health_url: answers HTTP 200 (with ``body``, if given) once the service is up.
        log_path: the service's stdout and stderr.
        what: the service's name in error messages.
        cwd: working folder of the process.
        env: its environment (None: this process's).
        body: the health URL's expected body, stripped (None: any).
        timeout_s: how long to wait for the health URL.

    Raises:
        ServiceStartError: the process exited, or the URL did not answer in time.
    """
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            list(cmd),
            cwd=cwd,
            env=None if env is None else dict(env),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + timeout_s
            while not _healthy(health_url, body):
                if proc.poll() is not None:
                    raise ServiceStartError(f"{what} exited with {proc.returncode}; see {log_path}")
                if time.monotonic() > deadline:
                    raise ServiceStartError(
                        f"{what} did not answer {health_url} within {timeout_s:.0f} s; "
                        f"see {log_path}"
                    )
                time.sleep(0.2)
            yield
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def streamlit_command(app: Path | str, port: int) -> list[str]:
    """``python -m streamlit run app`` headless on 127.0.0.1:``port``, no usage statistics."""
    return [
        sys.executable, "-m", "streamlit", "run", str(app),
        "--server.headless", "true", "--server.address", "127.0.0.1",
        "--server.port", str(port), "--browser.gatherUsageStats", "false",
    ]  # fmt: skip


@contextmanager
def running_dashboard(
    app: Path | str,
    *,
    log_path: Path,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    port: int | None = None,
    timeout_s: float = 120.0,
) -> Iterator[str]:
    """``streamlit run app`` on 127.0.0.1 until the block ends; yields its base URL.

    Args:
        app: the script (``app.py``), relative to ``cwd`` or absolute.
        log_path: the server's output.
        cwd: working folder (Streamlit reads ``.streamlit/`` from there).
        env: the server's environment (None: this process's).
        port: the port (None: a free one).
        timeout_s: how long to wait for ``/_stcore/health``.

    Raises:
        ServiceStartError: Streamlit exited or did not answer in time.
    """
    port = free_port() if port is None else port
    url = f"http://127.0.0.1:{port}"
    with running_service(
        streamlit_command(app, port),
        health_url=f"{url}/_stcore/health",
        log_path=log_path,
        what="streamlit",
        cwd=cwd,
        env=env,
        body=b"ok",
        timeout_s=timeout_s,
    ):
        yield url
