"""Choosing the torch device, and the CPU threads every runtime uses.

**Threads are chosen, not defaulted.** torch's OpenMP threads spin while they wait; on a
shared CPU they fight the other work for the cores (measured here: 1.7 s per radiograph with
2 spinning threads against 0.1 s with a passive wait policy). :func:`configure_threads` is
the one place that decides, from the cores this process may use
(``os.sched_getaffinity``), how many of them are idle when it starts (a 0.1 s sample of
``/proc/stat``; a core kept busy by another process is not counted, because a thread placed
on it makes every parallel operator wait for it: measured here, 2 threads took 1.37 x the time
of 1 thread while another process kept one of the 2 cores busy) and how many workers share
them:

- ``OMP_WAIT_POLICY=PASSIVE`` (unless the user set it): idle threads sleep instead of spin;
- ``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS``: intra-op threads per worker;
- torch's intra-op and inter-op threads (applied at once when torch is already imported,
  otherwise taken from the environment when torch loads and by :func:`apply_torch_threads`);
- ONNX Runtime's threads and spinning (:func:`onnx_session_options`).

Every entry point (``app.py``, each ``python -m ankle_core...`` CLI, the benchmarks, the
tests) calls it **before importing torch**: OpenMP reads its wait policy once, when torch
loads.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ankle_core.errors import InvalidInputError

if TYPE_CHECKING:
    import torch

__all__ = [
    "ThreadPlan",
    "apply_torch_threads",
    "available_cores",
    "choose_threads",
    "configure_threads",
    "configure_threads_for_cli",
    "configure_threads_once",
    "current_thread_plan",
    "idle_cores",
    "onnx_session_options",
    "resolve_device",
    "resolve_runtime",
]

logger = logging.getLogger(__name__)

#: Runtimes a pipeline can run its networks in (``"auto"``: ONNX Runtime on the CPU).
RUNTIMES: tuple[str, ...] = ("auto", "onnx", "torch")

#: Environment variable overriding the threads per worker.
THREADS_ENV = "ANKLE_THREADS"
#: Where :func:`configure_threads` records its choice (inherited by worker processes).
_PLAN_ENV = "ANKLE_THREAD_PLAN"


@dataclass(frozen=True)
class ThreadPlan:
    """How many threads one worker uses, and how idle threads wait.

    Attributes:
        cores: CPU cores this process may run on.
        workers: processes (or pool workers) sharing those cores.
        intra_op: threads inside one operator (torch intra-op, ONNX Runtime intra-op).
        inter_op: threads running independent operators at once (1: none in parallel).
        passive: idle OpenMP/ONNX Runtime threads sleep instead of spin-wait.
    """

    cores: int
    workers: int
    intra_op: int
    inter_op: int
    passive: bool


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity; ``os.cpu_count()`` as a fallback)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def _cpu_times(cpus: set[int]) -> tuple[float, float] | None:
    """(idle, total) jiffies summed over ``cpus`` from ``/proc/stat``; None where unreadable."""
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return None
    idle = total = 0.0
    seen = 0
    for line in lines:
        name, _, rest = line.partition(" ")
        if not name.startswith("cpu") or name == "cpu" or int(name[3:]) not in cpus:
            continue
        values = [float(v) for v in rest.split()]
        # user nice system idle iowait irq softirq steal ...: idle and iowait are free time
        idle += values[3] + (values[4] if len(values) > 4 else 0.0)
        total += sum(values[:8])
        seen += 1
    return (idle, total) if seen else None


def idle_cores(sample_s: float = 0.1) -> float | None:
    """How many of this process's cores were idle over a short sample (None: unknown).

    Time given to other processes counts as busy whatever their priority: a low-priority
    process still shares the core's caches and, on hyper-threads, its execution units.

    Args:
        sample_s: sampling time, seconds.

    Returns:
        Idle cores (0 to the cores this process may use), or None off Linux.
    """
    import time

    try:
        cpus = set(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None
    first = _cpu_times(cpus)
    time.sleep(sample_s)
    second = _cpu_times(cpus)
    if first is None or second is None or second[1] <= first[1]:
        return None
    fraction = (second[0] - first[0]) / (second[1] - first[1])
    return max(0.0, min(1.0, fraction)) * len(cpus)


def choose_threads(cores: int, workers: int = 1, idle: float | None = None) -> int:
    """Intra-op threads per worker: the idle cores (or all) shared by the workers, at least 1.

    A core counts as idle when at least three quarters of it was (``idle`` rounded down
    after adding 0.25), so a core another process keeps busy gets no thread of ours.

    Args:
        cores: cores this process may use.
        workers: processes sharing them.
        idle: idle cores measured now (None: unknown, all are taken as usable).

    >>> choose_threads(2), choose_threads(2, idle=1.0), choose_threads(2, idle=1.9)
    (2, 1, 2)
    >>> choose_threads(8, workers=2, idle=6.0), choose_threads(2, idle=0.1)
    (3, 1)
    """
    usable = cores if idle is None else min(cores, int(idle + 0.25))
    return max(1, usable // max(1, workers))


def _positive_int(text: str | None) -> int | None:
    if text is None or not text.strip():
        return None
    try:
        value = int(text)
    except ValueError:
        return None
    return value if value > 0 else None


def configure_threads(
    workers: int = 1,
    *,
    threads: int | None = None,
    environ: MutableMapping[str, str] | None = None,
) -> ThreadPlan:
    """Choose and apply the thread settings of this process (call before importing torch).

    The threads per worker are, in order: ``threads``; ``ANKLE_THREADS``; the user's own
    ``OMP_NUM_THREADS``; else :func:`choose_threads` from the cores this process may use, the
    cores idle now (:func:`idle_cores`, a 0.1 s sample; not sampled when a test passes its
    own ``environ``) and ``workers``. Inter-op parallelism is off (1 thread): the pipelines
    run one model at a time.

    Args:
        workers: processes sharing this process's cores (e.g. a pool's size; 1 alone).
        threads: threads per worker, overriding everything else.
        environ: the environment to read and write (default ``os.environ``; tests pass a
            dict, in which case torch is left alone).

    Returns:
        The plan applied.

    >>> env = {"OMP_WAIT_POLICY": "ACTIVE"}
    >>> plan = configure_threads(1, threads=3, environ=env)
    >>> (plan.intra_op, env["OMP_NUM_THREADS"], env["OMP_WAIT_POLICY"], plan.passive)
    (3, '3', 'ACTIVE', False)
    """
    env = os.environ if environ is None else environ
    if workers < 1:
        raise InvalidInputError(f"workers must be at least 1, got {workers}.")
    cores = available_cores()
    user_omp = env.get("OMP_NUM_THREADS")
    if user_omp is not None and user_omp == env.get(_PLAN_ENV):
        user_omp = None  # our own earlier choice, not the user's
    chosen = (
        threads
        if threads is not None and threads > 0
        else _positive_int(env.get(THREADS_ENV)) or _positive_int(user_omp)
    )
    if chosen is None:
        chosen = choose_threads(cores, workers, idle_cores() if environ is None else None)
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", _PLAN_ENV):
        env[name] = str(chosen)
    plan = ThreadPlan(
        cores=cores,
        workers=workers,
        intra_op=chosen,
        inter_op=1,
        passive=env["OMP_WAIT_POLICY"].strip().upper() == "PASSIVE",
    )
    if environ is None and "torch" in sys.modules:
        apply_torch_threads(plan)
    logger.debug("thread plan: %s", plan)
    return plan


_PROCESS_PLAN: ThreadPlan | None = None
_PROCESS_LOCK = threading.Lock()


def configure_threads_once(workers: int = 1) -> ThreadPlan:
    """:func:`configure_threads` for a process that runs its entry script again and again.

    Streamlit executes ``app.py`` on every interaction (an upload, a click, a slider step).
    The first call here chooses and applies the plan; later calls return it at no cost: no
    second 0.1 s idle-core sample on each rerun (it was a tenth of a second of every
    interaction in the dashboard benchmark), and torch's threads never change under a
    running session because the machine happened to be busy at that moment.

    Args:
        workers: processes sharing this process's cores (used by the first call only).

    Returns:
        The plan applied by the first call in this process.
    """
    global _PROCESS_PLAN
    with _PROCESS_LOCK:
        if _PROCESS_PLAN is None:
            _PROCESS_PLAN = configure_threads(workers)
        return _PROCESS_PLAN


def configure_threads_for_cli(argv: Sequence[str]) -> ThreadPlan:
    """:func:`configure_threads` from a command line's ``--workers N`` and ``--threads N``.

    Called by each ``python -m ankle_core...`` entry point before it imports torch; the
    options are only peeked at here (the CLI's own parser still owns them). ``--threads 0``
    means "choose".
    """
    peek = argparse.ArgumentParser(add_help=False)
    peek.add_argument("--workers", type=int, default=1)
    peek.add_argument("--threads", type=int, default=0)
    try:
        known, _ = peek.parse_known_args(list(argv))
    except SystemExit:  # a malformed value: the real parser will say so
        return configure_threads()
    return configure_threads(max(1, known.workers), threads=known.threads or None)


def current_thread_plan(environ: MutableMapping[str, str] | None = None) -> ThreadPlan:
    """The plan :func:`configure_threads` left in the environment (defaults if it did not run)."""
    env = os.environ if environ is None else environ
    cores = available_cores()
    intra = _positive_int(env.get(_PLAN_ENV)) or _positive_int(env.get("OMP_NUM_THREADS"))
    policy = env.get("OMP_WAIT_POLICY", "")
    return ThreadPlan(
        cores=cores,
        workers=1,
        intra_op=intra or cores,
        inter_op=1,
        passive=policy.strip().upper() == "PASSIVE",
    )


def apply_torch_threads(plan: ThreadPlan | None = None) -> None:
    """Set torch's intra-op and inter-op threads from ``plan``.

    Without ``plan``, the plan :func:`configure_threads` left in the environment is applied;
    when it never ran, torch is left as the caller set it (a library user's own
    ``torch.set_num_threads`` is not overridden). Imports torch. The inter-op count can only
    be set before torch's first parallel work; later calls leave it as it is.
    """
    if plan is None and _PLAN_ENV not in os.environ:
        return
    import torch

    plan = plan or current_thread_plan()
    if torch.get_num_threads() != plan.intra_op:
        torch.set_num_threads(plan.intra_op)
    if torch.get_num_interop_threads() != plan.inter_op:
        try:
            torch.set_num_interop_threads(plan.inter_op)
        except RuntimeError:  # already started: torch allows setting it only once
            logger.debug("torch inter-op threads already fixed")


def onnx_session_options(plan: ThreadPlan | None = None, *, threads: int = 0) -> Any:
    """ONNX Runtime session options for ``plan`` (default: the environment's).

    Args:
        plan: the thread plan (default :func:`current_thread_plan`).
        threads: intra-op threads overriding the plan's (0: the plan's).

    Returns:
        An ``onnxruntime.SessionOptions`` with the intra-op and inter-op threads set, and
        spinning off when the plan is passive (ONNX Runtime's threads spin by default too).
    """
    import onnxruntime as ort

    plan = plan or current_thread_plan()
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads if threads > 0 else plan.intra_op
    options.inter_op_num_threads = plan.inter_op
    spin = "0" if plan.passive else "1"
    options.add_session_config_entry("session.intra_op.allow_spinning", spin)
    options.add_session_config_entry("session.inter_op.allow_spinning", spin)
    return options


def resolve_device(spec: str | torch.device = "auto") -> torch.device:
    """Turn ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` into a ``torch.device``.

    Args:
        spec: ``"auto"`` picks CUDA when ``torch.cuda.is_available()``, else the CPU.

    Returns:
        The device to run on.

    Raises:
        InvalidInputError: CUDA was asked for but is not available, or the spec is unknown.

    >>> resolve_device("cpu").type
    'cpu'
    """
    import torch

    if isinstance(spec, torch.device):
        return spec
    text = spec.strip().lower()
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if text == "cpu":
        return torch.device("cpu")
    if text.startswith("cuda"):
        if not torch.cuda.is_available():
            raise InvalidInputError("CUDA was requested but no CUDA GPU is available here.")
        return torch.device(text)
    raise InvalidInputError(f"Unknown device {spec!r}: use 'auto', 'cpu' or 'cuda'.")


def resolve_runtime(runtime: str, device: str | torch.device = "auto") -> str:
    """Turn a runtime choice into ``"onnx"`` or ``"torch"``.

    ``"auto"`` picks ONNX Runtime when the models run on the CPU (measured here 2 to 9 times
    faster than torch for the same networks, see ``docs/performance.md``) and torch on a GPU.

    Args:
        runtime: ``"auto"``, ``"onnx"`` or ``"torch"``.
        device: where the torch models live (see :func:`resolve_device`).

    Returns:
        ``"onnx"`` or ``"torch"``.

    Raises:
        InvalidInputError: the runtime is unknown.

    >>> resolve_runtime("auto", "cpu"), resolve_runtime("torch", "cpu")
    ('onnx', 'torch')
    """
    text = runtime.strip().lower()
    if text not in RUNTIMES:
        raise InvalidInputError(f"Unknown runtime {runtime!r}: use one of {', '.join(RUNTIMES)}.")
    if text != "auto":
        return text
    return "onnx" if resolve_device(device).type == "cpu" else "torch"
