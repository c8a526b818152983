"""Data-parallel training through Ray Train: 2 CPU workers (gloo) running the project's
training loop with DDP on a tiny problem."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from torch import nn

pytest.importorskip("ray.train")

pytestmark = [pytest.mark.ray, pytest.mark.timeout(300)]

N, BATCH, EPOCHS = 64, 8, 3


def _train_toy(out: str) -> None:
    """What each worker runs: a linear regression fitted with ``fit``."""
    from ankle_core.training.distributed import (
        is_main_process,
        prepare_model,
        rank,
        train_device,
        world_size,
    )
    from ankle_core.training.loop import fit

    torch.manual_seed(rank())  # different starts: DDP must broadcast rank 0's weights
    net = nn.Linear(4, 1)
    model = prepare_model(net, train_device("cpu"))
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(N, 4, generator=gen)
    y = x @ torch.tensor([1.0, -2.0, 0.5, 3.0])
    seen: list[int] = []

    def batches(epoch: int) -> Iterator[torch.Tensor]:
        order = torch.randperm(N, generator=torch.Generator().manual_seed(epoch))
        yield from order.split(BATCH)

    def step(idx: torch.Tensor) -> torch.Tensor:
        seen.extend(idx.tolist())
        opt.zero_grad()
        loss = ((model(x[idx]).squeeze(1) - y[idx]) ** 2).mean()
        loss.backward()
        opt.step()
        return loss.detach()

    def validate() -> dict[str, float]:
        with torch.no_grad():
            return {"mse": float(((net(x).squeeze(1) - y) ** 2).mean())}

    result = fit(
        model, opt, batches=batches, step=step, validate=validate, monitor="mse", mode="min",
        epochs=EPOCHS, checkpoint=f"{out}/ckpt-rank{rank()}.pt", progress=False,
    )  # fmt: skip
    torch.save(
        {
            "weight": net.weight.detach().clone(),
            "world": world_size(),
            "main": is_main_process(),
            "seen": torch.tensor(seen),
            "losses": torch.tensor([h["loss"] for h in result.history]),
            "mse": torch.tensor([h["mse"] for h in result.history]),
        },
        f"{out}/rank{rank()}.pt",
    )


def test_two_gloo_workers_train_one_model_on_disjoint_batches(
    tmp_path: Path, ray_cluster: None
) -> None:
    from ankle_core.scale.train import run_data_parallel

    run_data_parallel(_train_toy, str(tmp_path), devices=2, threads=1)
    r0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    r1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert r0["world"] == r1["world"] == 2 and r0["main"] and not r1["main"]
    assert torch.equal(r0["weight"], r1["weight"])  # gradients averaged: one model
    # each rank saw half of every epoch, and the halves are disjoint
    assert len(r0["seen"]) == len(r1["seen"]) == N * EPOCHS // 2
    first0, first1 = set(r0["seen"][: N // 2].tolist()), set(r1["seen"][: N // 2].tolist())
    assert not first0 & first1 and len(first0 | first1) == N
    assert torch.equal(r0["losses"], r1["losses"])  # the epoch loss is averaged over ranks
    assert r0["mse"][-1] < r0["mse"][0]
    assert (tmp_path / "ckpt-rank0.pt").is_file() and not (tmp_path / "ckpt-rank1.pt").exists()
