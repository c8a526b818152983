"""CT training pieces: labels, datasets and augmentation, folds, BatchNorm recalibration."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ankle_core.errors import InvalidInputError
from ankle_core.models.cnn3d import build_ct_mobilenet3d
from ankle_core.training.ct import recalibrate_batchnorm, split_folds
from ankle_core.training.datasets3d import CtCubeDataset, load_ct_samples, parse_label


def test_labels_csv_is_read_and_non_ct_rows_skipped(tmp_path: Path) -> None:
    (tmp_path / "labels.csv").write_text(
        "file,patient_id,label,kind\na.nii.gz,p1,fracture,ct\nb.png,p2,lmaf,radiograph\n"
        "c.nii.gz,p3,no fracture,ct\n"
    )
    samples = load_ct_samples(tmp_path)
    assert [(s.path.name, s.label, s.group) for s in samples] == [
        ("a.nii.gz", 1, "p1"),
        ("c.nii.gz", 0, "p3"),
    ]
    with pytest.raises(InvalidInputError, match=r"labels\.csv"):
        load_ct_samples(tmp_path / "missing")
    with pytest.raises(InvalidInputError, match="Unknown CT label"):
        parse_label("maybe")


def test_dataset_items_and_augmentation_keep_shape() -> None:
    cubes = np.random.default_rng(0).normal(size=(4, 16, 16, 16)).astype(np.float16)
    plain = CtCubeDataset(cubes, [0, 1, 0, 1], [1, 3])
    x, y = plain[1]
    assert x.shape == (1, 16, 16, 16) and x.dtype == torch.float32 and y == 1
    np.testing.assert_allclose(x[0].numpy(), cubes[3].astype(np.float32))
    augmented = CtCubeDataset(cubes, [0, 1, 0, 1], [0, 1, 2, 3], augment=True, seed=1)
    outs = [augmented[0][0] for _ in range(6)]
    assert all(o.shape == (1, 16, 16, 16) and type(o) is torch.Tensor for o in outs)
    assert any(not torch.equal(outs[0], o) for o in outs[1:])


def test_kfold_holds_out_a_grouped_test_set() -> None:
    labels = np.array([0, 1] * 20)
    groups = [f"p{i // 2}" for i in range(40)]  # two volumes per patient
    folds, test = split_folds(labels, groups, kfold=3, seed=0)
    assert len(folds) == 3
    test_groups = {groups[i] for i in test}
    for train, val in folds:
        assert not set(train) & set(val) and not (set(train) | set(val)) & set(test)
        assert not {groups[i] for i in train} & {groups[i] for i in val}
        assert not {groups[i] for i in val} & test_groups


def test_batchnorm_recalibration_makes_eval_outputs_informative() -> None:
    torch.manual_seed(0)
    net = build_ct_mobilenet3d(width_mult=0.25)
    cubes = np.random.default_rng(0).normal(0, 0.05, (16, 16, 16, 16)).astype(np.float32)
    cubes[8:, 4:12, 4:12, 4:12] += 0.5
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    x = torch.from_numpy(cubes)[:, None]
    y = torch.tensor([0] * 8 + [1] * 8)
    for _ in range(5):
        net.train()
        loss = torch.nn.functional.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    bn = net.features[0][1]
    with torch.no_grad():
        train_mode_var = net.features[0][0](x).var(dim=(0, 2, 3, 4))
    assert float((bn.running_var / train_mode_var).min()) > 5.0  # lagging far behind
    recalibrate_batchnorm(net, cubes, list(range(16)), torch.device("cpu"))
    assert not net.training
    assert bn.momentum == 0.1 and int(bn.num_batches_tracked) == 2
    # the average of two batches' variances: close to the whole set's
    torch.testing.assert_close(bn.running_var, train_mode_var, rtol=0.2, atol=1e-6)
