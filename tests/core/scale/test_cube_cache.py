"""The on-disk cache of preprocessed CT cubes: the same cubes and training items as the
in-memory path, read from disk in every epoch, and a second run reads no volume."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch

from ankle_core.preprocess.volume import CtPreprocessing
from ankle_core.training.datasets3d import (
    CtCubeDataset,
    CubeStore,
    load_ct_samples,
    prepare_cubes,
    prepare_cubes_and_masks,
)

SMALL = {"shape": (16, 32, 32), "spacing_mm": (4.0, 3.2, 3.2)}
PREP = CtPreprocessing(spacing_mm=8.0, input_size=16)


@pytest.fixture(scope="module")
def ct_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Eight tiny CT phantoms (four fractured, with boxes) and labels.csv."""
    from ankle_core.phantoms.ct import make_volume
    from ankle_core.phantoms.writers import write_ct_nifti

    data = tmp_path_factory.mktemp("ct")
    rows = []
    for seed in range(8):
        name = f"v{seed}.nii.gz"
        volume = make_volume(seed, seed % 2 == 0, **SMALL)  # type: ignore[arg-type]
        write_ct_nifti(data / name, volume)
        box = volume.metadata["fracture_box"] or ("",) * 6
        rows.append(
            {
                "file": name,
                "patient_id": f"p{seed // 2}",
                "label": "fracture" if seed % 2 == 0 else "no fracture",
                **dict(zip(("z0", "y0", "x0", "z1", "y1", "x1"), box, strict=True)),
            }
        )
    with (data / "labels.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return data


def test_cached_cubes_equal_the_in_memory_ones_and_a_rerun_reads_no_volume(
    ct_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    samples = load_ct_samples(ct_folder)
    in_ram, ram_masks = prepare_cubes_and_masks(samples, PREP, progress=False)
    cubes, masks = prepare_cubes_and_masks(samples, PREP, progress=False, cache_dir=tmp_path)
    assert isinstance(cubes, CubeStore) and isinstance(masks, CubeStore)
    assert cubes.shape == in_ram.shape == (8, 16, 16, 16)
    assert isinstance(cubes[0], np.memmap)  # read memory-mapped, not loaded
    assert np.array_equal(cubes[list(range(8))], in_ram)
    assert np.array_equal(masks[list(range(8))], ram_masks) and ram_masks.any()

    import ankle_core.io

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a cached cube was read and preprocessed again")

    monkeypatch.setattr(ankle_core.io, "read_volume", refuse)
    again = prepare_cubes(samples, PREP, progress=False, cache_dir=tmp_path)
    assert isinstance(again, CubeStore) and again.files == cubes.files
    # other preprocessing settings are other keys: those cubes are not there yet
    with pytest.raises(AssertionError, match="read and preprocessed again"):
        prepare_cubes(samples, CtPreprocessing(spacing_mm=4.0, input_size=16), cache_dir=tmp_path)


def test_every_epoch_reads_its_items_from_disk(ct_folder: Path, tmp_path: Path) -> None:
    samples = load_ct_samples(ct_folder)
    labels = np.asarray([s.label for s in samples])
    in_ram = prepare_cubes(samples, PREP, progress=False)
    store = prepare_cubes(samples, PREP, progress=False, cache_dir=tmp_path)
    assert isinstance(store, CubeStore)
    rows = np.arange(1, 7)
    ram_ds = CtCubeDataset(in_ram, labels, rows, augment=True, seed=3)  # type: ignore[arg-type]
    disk_ds = CtCubeDataset(store, labels, rows, augment=True, seed=3)

    def epoch(ds: CtCubeDataset, e: int) -> list[torch.Tensor]:
        ds.transform.set_random_state(seed=e)  # type: ignore[union-attr]
        return [ds[(i, e)][0] for i in range(len(ds))]

    for e in range(2):  # the same augmented items as the in-memory path
        pairs = zip(epoch(ram_ds, e), epoch(disk_ds, e), strict=True)
        assert all(torch.equal(a, b) for a, b in pairs)
    # the dataset keeps no copy: a cube changed on disk is what the next epoch sees
    np.save(store.files[rows[0]], np.zeros((16, 16, 16), np.float16))
    plain = CtCubeDataset(store, labels, rows)
    assert float(plain[0][0].abs().sum()) == 0.0
    assert float(plain[1][0].abs().sum()) > 0.0


def test_training_from_the_cache_gives_the_same_model(ct_folder: Path, tmp_path: Path) -> None:
    from ankle_core.training.ct import CtTrainConfig, train_ct

    def weights(out: Path, cache: Path | None) -> str:
        config = CtTrainConfig(
            data=ct_folder, out=out, width_mult=0.25, input_size=16, spacing=8.0, epochs=1,
            batch_size=2, seed=1, synthetic=True, progress=False, device="cpu",
            cube_cache=cache,
        )  # fmt: skip
        card = train_ct(config)
        assert card.training["cubes"] == ("in memory" if cache is None else
                                          "memory-mapped .npy cache")  # fmt: skip
        return hashlib.sha256((out / "model.safetensors").read_bytes()).hexdigest()

    assert weights(tmp_path / "ram", None) == weights(tmp_path / "disk", tmp_path / "cache")
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 8
