"""Data-parallel training on Ray Train: the project's training loops on N workers with DDP.

``run_data_parallel(fn, arg, devices=N)`` starts a ``TorchTrainer`` with N workers; Ray
Train sets up the process group (``gloo`` on CPUs, ``nccl`` on GPUs), ``RANK``,
``WORLD_SIZE`` and ``LOCAL_RANK`` in each, and every worker calls ``fn(arg)``. The training
code then uses :mod:`ankle_core.training.distributed` (``train_device``, ``prepare_model``,
``shard``, ``is_main_process``) through :func:`ankle_core.training.loop.fit`: DDP averages
the gradients, each rank takes its share of the batches, rank 0 alone writes checkpoints and
cards. This is what ``python -m ankle_core.training ... --devices N`` runs.
"""

from __future__ import annotations

import importlib
import logging
import os
import tempfile
from collections.abc import Callable
from typing import Any

__all__ = ["run_data_parallel"]

logger = logging.getLogger(__name__)


def _worker(config: dict[str, Any]) -> None:
    """What each Ray Train worker runs: its threads, then the training function."""
    import torch

    torch.set_num_threads(int(config["threads"]))
    config["fn"](config["arg"])


def run_data_parallel(
    fn: Callable[[Any], object],
    arg: Any,
    *,
    devices: int,
    use_gpu: bool = False,
    threads: int | None = None,
    address: str | None = None,
    storage: str | None = None,
) -> None:
    """Run ``fn(arg)`` on ``devices`` Ray Train workers joined in one DDP process group.

    Args:
        fn: a picklable top-level function (e.g. a training CLI's entry point).
        arg: its picklable argument (e.g. the command line, without ``--devices``).
        devices: workers, one per GPU (or per CPU slot with ``use_gpu=False``).
        use_gpu: one GPU per worker and the NCCL backend; else CPU workers and gloo.
        threads: torch threads per worker (default: the machine's cores // devices).
        address: an existing Ray cluster (``auto``, ``ray://host:10001``); None: the one in
            ``RAY_ADDRESS`` if set, else a new local one (or the Ray session already started
            in this process).
        storage: folder for Ray Train's run records (default: a temporary folder).

    Raises:
        RuntimeError: a worker failed (Ray Train's error, with the worker's traceback).
    """
    ray: Any = importlib.import_module("ray")
    train: Any = importlib.import_module("ray.train")
    torch_train: Any = importlib.import_module("ray.train.torch")
    if threads is None:
        threads = max(1, (os.cpu_count() or 1) // max(1, devices))
    started = False
    if not ray.is_initialized():
        ray.init(
            address=address or os.environ.get("RAY_ADDRESS") or "local",
            include_dashboard=False,
            logging_level=logging.WARNING,
        )
        started = True
    try:
        with tempfile.TemporaryDirectory() as tmp:
            trainer = torch_train.TorchTrainer(
                _worker,
                train_loop_config={"fn": fn, "arg": arg, "threads": threads},
                scaling_config=train.ScalingConfig(
                    num_workers=devices,
                    use_gpu=use_gpu,
                    resources_per_worker={"CPU": threads, **({"GPU": 1} if use_gpu else {})},
                ),
                torch_config=torch_train.TorchConfig(backend="nccl" if use_gpu else "gloo"),
                run_config=train.RunConfig(storage_path=storage or tmp, name="ankle-train"),
            )
            trainer.fit()
    finally:
        if started:
            ray.shutdown()
