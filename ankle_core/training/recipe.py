"""What every training recipe shares: the radiograph config, the run record, the command.

A recipe is a frozen config dataclass in and a :class:`~ankle_core.models.card.ModelCard`
out (``train_detector``, ``train_classifier``, ``train_ct``); the ``*_cli`` modules only
parse a command line into the config. Nothing here reads ``argparse``.
"""

from __future__ import annotations

import dataclasses
import platform
import shlex
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar

import numpy as np
import torch

from ankle_core.models.card import SYNTHETIC_DISCLAIMER, ModelCard
from ankle_core.training.datasets2d import Sample
from ankle_core.training.splits import Split, split_grouped

__all__ = [
    "RadiographTrainConfig",
    "command_line",
    "deadline",
    "intended_use",
    "run_commands",
    "run_recipe",
    "setup",
    "split_samples",
    "training_record",
]


@dataclass(frozen=True)
class RadiographTrainConfig:
    """The options the detector and classifier recipes share (``--flag`` = field name).

    Attributes:
        data: Folder with images and labels (:mod:`ankle_core.training.datasets2d`).
        out: Model folder to write (``model.safetensors``, ``card.json``, checkpoints).
        name: Model name (default: the ``out`` folder's name).
        version: Version written in the card.
        epochs: Most epochs.
        batch_size: Cases per step.
        lr: Adam learning rate.
        patience: Early-stopping patience, epochs.
        seed: Seed of the split, the initialisation and the batch order.
        val_frac: Share of patients in the validation split.
        test_frac: Share of patients in the test split.
        kfold: K >= 2 also runs K-fold cross-validation (classifier).
        resume: Checkpoint to continue from.
        device: ``auto`` (CUDA, else ``mps``, else CPU), ``cpu``, ``cuda`` or ``mps``;
            under torchrun or Ray Train, ``cuda`` is this rank's GPU (``LOCAL_RANK``).
        threads: Torch CPU threads (0: torch's default).
        devices: Data-parallel workers (DDP through Ray Train; 1: this process only),
            see :func:`run_recipe`.
        loader_workers: ``DataLoader`` worker processes preparing training batches (0: in
            this process, the results of runs before the loaders existed).
        amp: Mixed precision on CUDA (autocast + GradScaler); ignored on the CPU.
        deterministic: Seed Python, numpy and torch and ask torch for deterministic
            kernels (slower; an op without one raises).
        time_limit_min: Stop starting epochs after this many minutes (0: no limit).
        data_kind: ``synthetic`` marks the card as trained on phantoms.
        progress: Show progress bars.
        command: The command line recorded in the card (None: spelled out from the fields).
    """

    data: Path
    out: Path
    name: str | None = None
    version: str = "0.1.0"
    epochs: int = 30
    batch_size: int = 16
    lr: float = 5e-4
    patience: int = 5
    seed: int = 0
    val_frac: float = 0.15
    test_frac: float = 0.15
    kfold: int = 0
    resume: Path | None = None
    device: str = "auto"
    threads: int = 0
    devices: int = 1
    loader_workers: int = 0
    amp: bool = False
    deterministic: bool = False
    time_limit_min: float = 0.0
    data_kind: Literal["site", "synthetic"] = "site"
    progress: bool = True
    command: str | None = None


def command_line(subcommand: str, config: Any) -> str:
    """The command that reproduces a run of ``python -m ankle_core.training <subcommand>``.

    Args:
        subcommand: ``detector``, ``classifier`` or ``ct``.
        config: A recipe's frozen config dataclass.

    Returns:
        ``config.command`` when the CLI recorded the exact command line; otherwise every
        option spelled out from the config's fields (``--no-progress`` for ``progress``
        False; None and False fields left out).

    Example:
        >>> from ankle_core.training.detector import DetectorConfig
        >>> command_line("detector", DetectorConfig(Path("d"), Path("m"), epochs=2))[:59]
        'python -m ankle_core.training detector --backbone mobilenet'
    """
    recorded = getattr(config, "command", None)
    if recorded:
        return str(recorded)
    parts = ["python", "-m", "ankle_core.training", subcommand]
    for key, value in sorted(dataclasses.asdict(config).items()):
        if key == "command" or value is None:
            continue
        if key == "progress":
            parts.extend([] if value else ["--no-progress"])
            continue
        if value is False:
            continue
        flag = "--" + key.replace("_", "-")
        if value is True:
            parts.append(flag)
        elif isinstance(value, (tuple, list)):
            parts.extend([flag, *map(str, value)])
        else:
            parts.extend([flag, str(value)])
    return shlex.join(parts)


def run_commands(config: RadiographTrainConfig, command: str) -> list[str]:
    """Commands of the runs behind this model: earlier ones from the resumed checkpoint.

    Args:
        config: The recipe's config (``resume`` is read once, before training overwrites
            the checkpoint).
        command: This run's command.

    Returns:
        Earlier commands then ``command``.
    """
    earlier: list[str] = []
    if config.resume is not None:
        state = torch.load(str(config.resume), map_location="cpu", weights_only=True)["state"]
        earlier = [str(c) for c in state.get("extra", {}).get("commands", [])]
        if not earlier:
            earlier = [f"(earlier run, command not recorded in {Path(config.resume).name})"]
    return [*earlier, command]


class RunConfig(Protocol):
    """What :func:`setup` and :func:`run_recipe` read of any recipe's frozen config."""

    @property
    def out(self) -> Path: ...
    @property
    def seed(self) -> int: ...
    @property
    def device(self) -> str: ...
    @property
    def threads(self) -> int: ...
    @property
    def devices(self) -> int: ...
    @property
    def deterministic(self) -> bool: ...


ConfigT = TypeVar("ConfigT", bound=RunConfig)


def run_recipe(train: Callable[[ConfigT], ModelCard], config: ConfigT) -> ModelCard:
    """Run a recipe here, or on ``config.devices`` Ray Train workers joined by DDP.

    With ``devices`` > 1 every worker runs ``train`` on the same config (with ``devices=1``,
    so no worker starts workers of its own); the loops shard each epoch across ranks and
    rank 0 alone writes checkpoints and the model folder (:mod:`.distributed`). Workers get
    one GPU each when ``device`` is ``cuda`` (or ``auto`` with CUDA here), NCCL; otherwise
    CPU workers with gloo and ``threads`` torch threads each (0: cores // devices).

    Args:
        train: a top-level recipe (``train_detector``, ``train_classifier``, ``train_ct``).
        config: its frozen config.

    Returns:
        The card the recipe wrote to ``<config.out>/card.json``.
    """
    devices = int(config.devices)
    if devices <= 1:
        return train(config)
    from ankle_core.models.card import read_card
    from ankle_core.scale.train import run_data_parallel

    spec = str(config.device).strip().lower()
    use_gpu = spec.startswith("cuda") or (spec == "auto" and torch.cuda.is_available())
    one = dataclasses.replace(config, devices=1)  # type: ignore[type-var]
    run_data_parallel(
        train, one, devices=devices, use_gpu=use_gpu, threads=int(config.threads) or None
    )
    return read_card(Path(config.out))


def split_samples(samples: Sequence[Sample], config: RadiographTrainConfig) -> Split:
    """Patient-grouped, label-stratified train/validation/test split of ``samples``."""
    val, test = float(config.val_frac), float(config.test_frac)
    return split_grouped(
        [s.label for s in samples],
        [s.patient_id for s in samples],
        fractions=(1.0 - val - test, val, test),
        seed=int(config.seed),
    )


def setup(config: RunConfig) -> torch.device:
    """Seed torch (and, when deterministic, Python, numpy and the kernels), set its CPU
    threads and pick this rank's device."""
    from ankle_core.training.distributed import train_device

    torch.manual_seed(int(config.seed))
    if config.deterministic:
        import os
        import random

        random.seed(int(config.seed))
        np.random.seed(int(config.seed))  # legacy global state some libraries still use
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
    if config.threads > 0:
        torch.set_num_threads(int(config.threads))
    return train_device(config.device)


def deadline(config: RadiographTrainConfig) -> float:
    """``time.monotonic()`` after which no new epoch starts (inf without a limit)."""
    if config.time_limit_min > 0:
        return time.monotonic() + 60.0 * config.time_limit_min
    return float(np.inf)


def intended_use(config: RadiographTrainConfig) -> str:
    """The card's intended-use sentence for the kind of training data."""
    if config.data_kind == "synthetic":
        return SYNTHETIC_DISCLAIMER
    return "Research use on the training site's data; not a medical device."


def training_record(
    config: RadiographTrainConfig,
    command: str,
    commands: list[str],
    device: torch.device,
    samples: Sequence[Sample],
    split: Split,
    result: Any,
    wall_s: float,
) -> dict[str, Any]:
    """The card's ``training`` section of a radiograph recipe.

    Args:
        config: The recipe's config.
        command: This run's command.
        commands: Every run's command (:func:`run_commands`).
        device: Where it trained.
        samples: Every sample the split indexes.
        split: The split.
        result: The :class:`~ankle_core.training.loop.FitResult`.
        wall_s: Wall time of the run, seconds.

    Returns:
        A JSON-ready dict.
    """

    def count(idx: Any) -> dict[str, int]:
        chosen = [samples[int(i)] for i in idx]
        return {"cases": len(chosen), "patients": len({s.patient_id for s in chosen})}

    from ankle_core.training.distributed import world_size

    return {
        "data": "synthetic phantoms" if config.data_kind == "synthetic" else "site data",
        "data_folder": Path(config.data).name,
        "command": command,
        "commands": commands,
        "seed": int(config.seed),
        "device": f"{device.type} ({platform.processor() or platform.machine()})",
        "torch_threads": torch.get_num_threads(),
        "torch_version": torch.__version__,
        "epochs_max": int(config.epochs),
        "epochs_run": len(result.history),
        "best_epoch": int(result.best_epoch) + 1,
        "stopped_early": bool(result.stopped_early),
        "optimizer": f"Adam lr {config.lr}",
        "batch_size": int(config.batch_size),
        "data_parallel_workers": world_size(),
        "loader_workers": int(config.loader_workers),
        "amp": bool(config.amp and device.type == "cuda"),
        "deterministic": bool(config.deterministic),
        "splits": {"train": count(split.train), "val": count(split.val), "test": count(split.test)},
        "history": [{k: round(float(v), 4) for k, v in h.items()} for h in result.history],
        "wall_time_s": round(wall_s, 1),
    }
