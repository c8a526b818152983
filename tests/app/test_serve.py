"""The child-process launcher of the browser tests and the dashboard benchmark (``ui.serve``).

Its success path is what every browser test starts from; here, its failures: a service that
exits, or one that never answers, is stopped and named with its log, never waited on forever.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from ui.serve import ServiceStartError, free_port, running_service, streamlit_command


def test_a_service_that_exits_is_reported_with_its_log(tmp_path: Path) -> None:
    log = tmp_path / "svc.log"
    cmd = [sys.executable, "-c", "import sys; print('bad config'); sys.exit(3)"]
    url = f"http://127.0.0.1:{free_port()}/health"
    with (
        pytest.raises(ServiceStartError, match=r"svc exited with 3; see .*svc\.log"),
        running_service(cmd, health_url=url, log_path=log, what="svc", timeout_s=60),
    ):
        pytest.fail("the block must not run")
    assert "bad config" in log.read_text()


def test_a_service_that_never_answers_is_stopped_after_the_timeout(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    code = f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
    url = f"http://127.0.0.1:{free_port()}/health"
    start = time.monotonic()
    with (
        pytest.raises(ServiceStartError, match="did not answer"),
        running_service(
            [sys.executable, "-c", code],
            health_url=url,
            log_path=tmp_path / "l",
            what="svc",
            timeout_s=2,
        ),
    ):
        pass
    assert time.monotonic() - start < 40  # stopped, not waited for (it sleeps 60 s)
    pid = int(pid_file.read_text())
    assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()


def test_the_dashboard_listens_on_localhost_only() -> None:
    cmd = streamlit_command("app.py", 8765)
    assert cmd[cmd.index("--server.address") + 1] == "127.0.0.1"
    assert cmd[cmd.index("--server.port") + 1] == "8765"
    assert cmd[cmd.index("--browser.gatherUsageStats") + 1] == "false"
