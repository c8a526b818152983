"""A small, dimension-agnostic training loop: epochs, early stopping, checkpoints, progress.

Used by the radiograph trainers (detector, classifier) and meant for the CT trainer too:
nothing here knows about images. The caller supplies

- ``batches(epoch)``: an iterable of batches for one epoch (shuffled and augmented with a
  generator seeded from ``(seed, epoch)``, so a resumed run draws the same batches);
- ``step(batch) -> float``: one optimisation step, returning the loss;
- ``validate() -> dict[str, float]``: validation metrics, one of which is monitored.

Checkpoints are ``torch.save`` files of plain tensors and numbers (model and optimiser
state dicts, epoch, best score, history) and are read back with
``torch.load(weights_only=True)``: nothing is unpickled.

**Data-parallel runs** (torchrun, Ray Train: :mod:`ankle_core.training.distributed`): pass
the network as returned by ``prepare_model`` (DDP); each rank takes its share of every
epoch's batches (``shard``, or a rank-aware sampler with ``per_rank=True``), the epoch loss
is averaged over ranks, every rank validates (the weights are the same on all, so every
rank takes the same early-stopping decision), and only rank 0 writes checkpoints and
prints. ``step`` may return the loss as a tensor: it is summed on the device and read once
per epoch (and every ``_POSTFIX_EVERY`` steps for the progress bar), not with an
``.item()`` per step.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from ankle_core.training.distributed import (
    all_mean,
    is_main_process,
    shard,
    unwrap,
    world_size,
)

__all__ = ["EarlyStopping", "FitResult", "fit", "load_checkpoint", "save_checkpoint"]

logger = logging.getLogger(__name__)

_POSTFIX_EVERY = 20  # steps between progress-bar loss updates (each one syncs the device)


@dataclass
class EarlyStopping:
    """Stop when the monitored metric has not improved for ``patience`` epochs.

    Attributes:
        patience: epochs without improvement before stopping.
        mode: ``"max"`` (AUC, mAP) or ``"min"`` (loss).
        min_delta: smallest change that counts as an improvement.
        best: best value so far.
        best_epoch: epoch of ``best`` (-1 before any).
        bad_epochs: epochs since the last improvement.

    >>> es = EarlyStopping(patience=1)
    >>> [es.update(v, e) for e, v in enumerate([0.5, 0.7, 0.6, 0.6])], es.should_stop
    ([True, True, False, False], True)
    """

    patience: int = 5
    mode: str = "max"
    min_delta: float = 0.0
    best: float = -math.inf
    best_epoch: int = -1
    bad_epochs: int = 0

    def __post_init__(self) -> None:
        if self.mode not in ("max", "min"):
            raise ValueError("mode must be 'max' or 'min'.")
        if self.best_epoch < 0:
            self.best = -math.inf if self.mode == "max" else math.inf

    def update(self, value: float, epoch: int) -> bool:
        """Record one epoch's value; True when it is the new best."""
        better = (
            value > self.best + self.min_delta
            if self.mode == "max"
            else value < self.best - self.min_delta
        )
        if better or self.best_epoch < 0:
            self.best, self.best_epoch, self.bad_epochs = value, epoch, 0
            return True
        self.bad_epochs += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.bad_epochs >= self.patience


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    state: Mapping[str, Any],
) -> None:
    """Write a resumable checkpoint atomically (plain tensors and numbers only)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    torch.save(
        {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "state": dict(state)},
        tmp,
    )
    tmp.replace(out)


def load_checkpoint(
    path: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer | None = None
) -> dict[str, Any]:
    """Restore a checkpoint written by :func:`save_checkpoint`; returns its ``state``."""
    data = torch.load(str(path), map_location="cpu", weights_only=True)
    model.load_state_dict(data["model"])
    if optimizer is not None:
        optimizer.load_state_dict(data["optimizer"])
    state: dict[str, Any] = dict(data["state"])
    return state


@dataclass
class FitResult:
    """Outcome of :func:`fit`.

    Attributes:
        best_state: model state dict at the best validation epoch (CPU copies).
        best_epoch: that epoch (0-based).
        best_score: the monitored metric there.
        history: one dict per epoch (``epoch``, ``loss``, and validation metrics).
        stopped_early: True when early stopping ended the run.
    """

    best_state: dict[str, torch.Tensor]
    best_epoch: int
    best_score: float
    history: list[dict[str, float]] = field(default_factory=list)
    stopped_early: bool = False


def fit(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    *,
    batches: Callable[[int], Iterable[Any]],
    step: Callable[[Any], float | torch.Tensor],
    validate: Callable[[], Mapping[str, float]],
    monitor: str,
    epochs: int,
    patience: int = 5,
    mode: str = "max",
    checkpoint: str | Path | None = None,
    resume: str | Path | None = None,
    progress: bool = True,
    steps_per_epoch: int | None = None,
    extra_state: Mapping[str, Any] | None = None,
    per_rank: bool = False,
) -> FitResult:
    """Train for up to ``epochs`` epochs with early stopping on ``monitor``.

    Args:
        model: the network (put in train mode for steps, eval mode for validation).
        optimizer: its optimiser.
        batches: ``batches(epoch)`` yields that epoch's batches.
        step: one optimisation step on a batch; returns the loss (a float, or a scalar
            tensor, which is not synchronised per step).
        validate: validation metrics after each epoch.
        monitor: the key of ``validate``'s result that early stopping watches.
        epochs: most epochs in total (including those of a resumed run).
        patience: early-stopping patience in epochs.
        mode: ``"max"`` or ``"min"`` for ``monitor``.
        checkpoint: file to write after every epoch (None: no checkpoints).
        resume: a checkpoint to continue from.
        progress: show a tqdm bar with the running loss and the last metrics.
        steps_per_epoch: bar length, when known.
        extra_state: plain values saved in each checkpoint's state under ``"extra"``
            (e.g. the commands of every run that contributed).
        per_rank: ``batches`` already yields only this rank's share (a rank-aware sampler,
            :mod:`ankle_core.training.loaders`), the same number of batches on every rank;
            otherwise every rank iterates the whole epoch and takes every N-th batch.

    Returns:
        A :class:`FitResult`; the model is left with its best weights loaded.
    """
    net = unwrap(model)  # state dicts without DDP's "module." prefix
    main = is_main_process()
    progress = progress and main
    stopper = EarlyStopping(patience=patience, mode=mode)
    history: list[dict[str, float]] = []
    start = 0
    best_state = copy.deepcopy({k: v.detach().cpu() for k, v in net.state_dict().items()})
    if resume is not None:
        state = load_checkpoint(resume, net, optimizer)
        start = int(state["epoch"]) + 1
        history = [dict(h) for h in state.get("history", [])]
        stopper = EarlyStopping(
            patience=patience,
            mode=mode,
            best=float(state["best"]),
            best_epoch=int(state["best_epoch"]),
            bad_epochs=int(state["bad_epochs"]),
        )
        best_path = Path(resume).with_name(Path(resume).stem + "-best.pt")
        if best_path.is_file():
            best_state = torch.load(str(best_path), map_location="cpu", weights_only=True)
        logger.info("resuming at epoch %d (best %s %.4f)", start, monitor, stopper.best)
    stopped = False
    for epoch in range(start, epochs):
        model.train()
        total: float | torch.Tensor = 0.0
        n_steps = 0
        bar = tqdm(
            # an iterator: tqdm.auto calls iter() on what it wraps, and a second iter() of a
            # DataLoader would start a second pass (its workers, its seed draw)
            iter(batches(epoch) if per_rank else shard(batches(epoch))),
            total=steps_per_epoch,
            desc=f"epoch {epoch + 1}/{epochs}",
            disable=not progress,
            leave=False,
        )
        for batch in bar:
            loss = step(batch)
            total = total + (loss.detach() if isinstance(loss, torch.Tensor) else float(loss))
            n_steps += 1
            if progress and n_steps % _POSTFIX_EVERY == 0:
                bar.set_postfix(loss=f"{float(total) / n_steps:.4f}")
        bar.close()
        if n_steps == 0 and epoch > start:
            logger.info("no batches in epoch %d (time limit): stopping", epoch + 1)
            break
        if isinstance(total, torch.Tensor) or world_size() > 1:
            mean = torch.as_tensor(total, dtype=torch.float64) / max(1, n_steps)
            epoch_loss = float(all_mean(mean))  # one device sync per epoch
        else:
            epoch_loss = total / max(1, n_steps)
        model.eval()
        metrics = dict(validate())
        record = {"epoch": float(epoch), "loss": epoch_loss, **metrics}
        history.append(record)
        improved = stopper.update(float(metrics[monitor]), epoch)
        if improved:
            best_state = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
        summary = ", ".join(f"{k} {v:.4f}" for k, v in record.items() if k != "epoch")
        if progress:
            tqdm.write(f"epoch {epoch + 1}/{epochs}: {summary}{' *' if improved else ''}")
        if main:
            logger.info("epoch %d: %s", epoch + 1, summary)
        if checkpoint is not None and main:
            ckpt = Path(checkpoint)
            if improved:
                best_file = ckpt.with_name(ckpt.stem + "-best.pt")
                best_file.parent.mkdir(parents=True, exist_ok=True)
                torch.save(best_state, best_file)
            save_checkpoint(
                ckpt,
                net,
                optimizer,
                {
                    "epoch": epoch,
                    "best": stopper.best,
                    "best_epoch": stopper.best_epoch,
                    "bad_epochs": stopper.bad_epochs,
                    "history": history,
                    "extra": dict(extra_state or {}),
                },
            )
        if stopper.should_stop:
            stopped = True
            break
    net.load_state_dict(best_state)
    return FitResult(
        best_state=best_state,
        best_epoch=stopper.best_epoch,
        best_score=stopper.best,
        history=history,
        stopped_early=stopped,
    )
