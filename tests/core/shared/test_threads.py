"""Thread choice: ``configure_threads`` runs before torch loads and its settings take effect."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ankle_core.device import (
    available_cores,
    configure_threads,
    configure_threads_for_cli,
    current_thread_plan,
)
from ankle_core.errors import InvalidInputError

REPO = Path(__file__).resolve().parents[3]

_CHILD = """
import json, os, sys
from ankle_core.device import configure_threads
before = "torch" in sys.modules
plan = configure_threads(workers=1, threads=1)
import torch
from ankle_core.device import apply_torch_threads
apply_torch_threads()
print(json.dumps({
    "torch_before": before,
    "policy": os.environ.get("OMP_WAIT_POLICY"),
    "omp": os.environ.get("OMP_NUM_THREADS"),
    "intra": torch.get_num_threads(),
    "interop": torch.get_num_interop_threads(),
    "passive": plan.passive,
}))
"""


def _child_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "ANKLE_THREADS", "ANKLE_THREAD_PLAN")
    }
    env["PYTHONPATH"] = str(REPO)
    env.update(extra)
    return env


@pytest.mark.slow
def test_fresh_interpreter_configures_before_torch() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD],
        env=_child_env(),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["torch_before"] is False
    assert got["policy"] == "PASSIVE"
    assert got["passive"] is True
    assert got["omp"] == "1"
    assert got["intra"] == 1
    assert got["interop"] == 1


def test_user_wait_policy_and_threads_win() -> None:
    env = {"OMP_WAIT_POLICY": "active", "OMP_NUM_THREADS": "3"}
    plan = configure_threads(environ=env)
    assert env["OMP_WAIT_POLICY"] == "active"
    assert plan.passive is False
    assert plan.intra_op == 3


def test_workers_share_the_cores() -> None:
    env: dict[str, str] = {}
    plan = configure_threads(workers=2, environ=env)
    assert plan.intra_op == max(1, available_cores() // 2)
    assert env["OMP_WAIT_POLICY"] == "PASSIVE"
    # our own earlier choice is not mistaken for the user's on a second call
    again = configure_threads(workers=1, environ=env)
    assert again.intra_op == available_cores()
    assert current_thread_plan(env).intra_op == available_cores()


def test_bad_worker_count_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="workers"):
        configure_threads(workers=0, environ={})


def test_cli_peek_reads_threads() -> None:
    saved = {
        k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "ANKLE_THREAD_PLAN")
    }
    try:
        assert configure_threads_for_cli(["radiograph", "x", "--threads", "1"]).intra_op == 1
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        configure_threads()


@pytest.mark.parametrize(
    "module", ["ankle_core.inference", "ankle_core.models", "ui.resources", "ui.localiser_panel"]
)
def test_entry_modules_do_not_import_torch(module: str) -> None:
    code = f"import sys, {module}; print('torch' in sys.modules, 'monai' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=_child_env(),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    assert out.stdout.split() == ["False", "False"]


def test_app_configures_threads_before_its_imports() -> None:
    tree = ast.parse((REPO / "app.py").read_text(encoding="utf-8"))
    body = tree.body
    calls = [
        i
        for i, n in enumerate(body)
        if isinstance(n, ast.Expr)
        and isinstance(n.value, ast.Call)
        and getattr(n.value.func, "id", "") == "configure_threads_once"
    ]
    assert calls, "app.py must call configure_threads_once"
    first_other_import = next(
        i
        for i, n in enumerate(body)
        if isinstance(n, ast.Import | ast.ImportFrom)
        and not (isinstance(n, ast.ImportFrom) and n.module in ("__future__", "ankle_core.device"))
    )
    assert calls[0] < first_other_import


_ONCE_CHILD = """
import json, os
from ankle_core import device
first = device.configure_threads_once()
calls = []
device.configure_threads = lambda *a, **k: calls.append(1)  # a second choice would call it
second = device.configure_threads_once()
print(json.dumps({"same": first is second, "again": len(calls),
                  "omp": os.environ["OMP_NUM_THREADS"], "intra": first.intra_op}))
"""


def test_the_app_chooses_its_threads_once_per_process() -> None:
    """app.py runs on every interaction: only the first run samples the cores and applies."""
    out = subprocess.run(
        [sys.executable, "-c", _ONCE_CHILD],
        env=_child_env(),
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    got = json.loads(out.stdout)
    assert got["same"] and got["again"] == 0
    assert got["omp"] == str(got["intra"])


_UNPLANNED_CHILD = """
import json
import torch
torch.set_num_threads(1)
from ankle_core.device import apply_torch_threads
apply_torch_threads()
print(json.dumps({"intra": torch.get_num_threads()}))
"""


@pytest.mark.slow
def test_without_a_plan_the_callers_own_torch_threads_stand() -> None:
    # a library user (or a benchmark's unconfigured run) set torch's threads itself; loading a
    # model must not reset them to the core count
    out = subprocess.run(
        [sys.executable, "-c", _UNPLANNED_CHILD],
        env=_child_env(OMP_NUM_THREADS="2"),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    assert json.loads(out.stdout.strip().splitlines()[-1])["intra"] == 1
