"""Box-supervised training: boxes from labels.csv, their model-grid masks, the auxiliary loss."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ankle_core.errors import InvalidInputError
from ankle_core.models.cnn3d import build_ct_mobilenet3d
from ankle_core.phantoms.ct import fracture_box, make_volume
from ankle_core.preprocess.volume import CtPreprocessing, preprocess_volume
from ankle_core.training.box_supervision import BoxSupervision
from ankle_core.training.datasets3d import CtCubeDataset, box_mask, load_ct_samples


def test_boxes_are_read_for_positive_rows_only(tmp_path: Path) -> None:
    (tmp_path / "labels.csv").write_text(
        "file,patient_id,label,z0,y0,x0,z1,y1,x1\n"
        "a.nii.gz,p1,1,2,3,4,5,6,7\nb.nii.gz,p1,0,,,,,,\nc.nii.gz,p2,1,,,,,,\n"
    )
    boxes = [s.box for s in load_ct_samples(tmp_path)]
    assert boxes == [(2, 3, 4, 5, 6, 7), None, None]
    (tmp_path / "labels.csv").write_text(
        "file,patient_id,label,z0,y0,x0,z1,y1,x1\na,p,1,5,3,4,5,6,7\n"
    )
    with pytest.raises(InvalidInputError, match="empty box"):
        load_ct_samples(tmp_path)


def test_box_mask_marks_exactly_the_model_voxels_inside_the_original_box() -> None:
    volume = make_volume(4, True, shape=(24, 48, 48), spacing_mm=(4.0, 2.1, 2.1), oblique_deg=6.0)
    box = fracture_box(volume)
    assert box is not None
    prepared = preprocess_volume(volume, CtPreprocessing(spacing_mm=3.0, input_size=32))
    raw = (box.z0, box.y0, box.x0, box.z1, box.y1, box.x1)
    mask = box_mask(prepared.transform, (32, 32, 32), raw)
    assert mask.any() and not mask.all()
    grid = np.argwhere(np.ones((32, 32, 32), dtype=bool))
    orig = prepared.transform.to_original_index(grid)
    lo = np.array([box.z0, box.y0, box.x0]) - 0.5
    hi = np.array([box.z1, box.y1, box.x1]) - 0.5
    expected = np.all((orig >= lo) & (orig < hi), axis=1).reshape(32, 32, 32)
    np.testing.assert_array_equal(mask, expected)


def test_augmentation_moves_the_mask_with_its_cube() -> None:
    cube = np.zeros((1, 16, 16, 16), dtype=np.float16)
    cube[0, 4:8, 4:8, 2:6] = 1.0
    masks = cube > 0.5
    ds = CtCubeDataset(cube, [1], [0], augment=True, seed=3, max_rotation_deg=0.0, masks=masks)
    for _ in range(8):
        x, y, m = ds[0]
        assert y == 1 and m.shape == x.shape
        bright = x[0] > x[0].mean() + 0.3
        assert torch.equal(bright, m[0] > 0.5)


def test_auxiliary_loss_learns_where_boxes_are_and_its_hook_does_not_outlive_it() -> None:
    torch.manual_seed(0)
    net = build_ct_mobilenet3d(width_mult=0.25)
    aux = BoxSupervision(net, 16)
    assert {id(p) for p in aux.parameters()}.isdisjoint(id(p) for p in net.parameters())
    x = torch.randn(4, 1, 16, 16, 16) * 0.05
    masks = torch.zeros(4, 1, 16, 16, 16)
    masks[:2, :, 4:8, 4:8, 8:12] = 1.0
    x[:2, :, 4:8, 4:8, 8:12] += 1.0
    use = torch.tensor([True, True, True, False])
    opt = torch.optim.Adam(list(net.parameters()) + list(aux.parameters()), 1e-2)
    losses = []
    with aux:
        for _ in range(15):
            net(x)
            loss = aux.loss(masks, use)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
        assert len(net.get_submodule(aux.layer_name)._forward_hooks) == 1
    assert losses[-1] < 0.5 * losses[0]
    assert len(net.get_submodule(aux.layer_name)._forward_hooks) == 0
    with pytest.raises(RuntimeError, match="forward pass"):
        aux.loss(masks, use)
