"""CT pipeline benchmark, runnable by hand: ``python benchmarks/ct.py [--quick]``.

Prints, from one run on this machine:

1. the stage times of one ``CtPipeline.run`` on one phantom volume (48 x 128 x 128,
   2.0 x 0.8 x 0.8 mm): preprocessing, forward pass, Grad-CAM (with the card's explanation
   settings), spline upsampling to the original grid, the body mask in the field of view,
   boxes (the median of a few runs on the same volume);
2. this project's Grad-CAM (``ankle_core.explain.gradcam.grad_cam``, Captum ``LayerGradCam``
   under the per-model lock) against MONAI's ``monai.visualize.GradCAM`` on the same model,
   layer, class and input, as a time ratio; both are followed by their upsampling to the
   input grid (``upsample_cam`` here, MONAI's own inside its call) and the two maps'
   correlation is printed as a check that they agree (MONAI's default normaliser maps the
   hottest voxel to 0, so its map is compared as ``1 - map``);
3. in a fresh subprocess, a 512 x 512 x 400 int16 NIfTI from disk through
   ``CtPipeline.run(explain=True)`` (the dashboard's runtime: ONNX Runtime forward pass,
   torch Grad-CAM) to boxes: the time from disk to boxes divided by the floor (read +
   forward + Grad-CAM; goal at most 1.5), the peak resident memory
   (``resource.getrusage(RUSAGE_SELF).ru_maxrss``; budget 1.5 GiB, about twice the float32
   volume), and the largest difference of the top boxes' corners from those made with the
   body mask over the whole grid (the former method; goal at most one voxel);
4. the CT forward pass in ONNX Runtime against torch (ratio), at the benchmark's threads.

The model is the installed ``ct-fracture-mobilenet3d`` when present, otherwise an untrained
3D MobileNet (width 0.5, 64^3 at 2 mm); timings do not depend on the weights' values.
``--quick`` uses a 256 x 256 x 200 volume and one repeat (a smoke test); ``--no-memory``
skips part 3.
"""

from __future__ import annotations

import argparse
import copy
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ankle_core.device import configure_threads_for_cli

configure_threads_for_cli(sys.argv[1:])  # before torch loads: passive waits, chosen threads

import numpy as np  # noqa: E402
import torch  # noqa: E402

from ankle_core.inference.ct import CtPipeline  # noqa: E402
from ankle_core.models.weights import LoadedModel  # noqa: E402

DEMO = "ct-fracture-mobilenet3d"
RSS_BUDGET_GB = 1.5  # GiB


def _model() -> LoadedModel:
    from ankle_core.config import Settings
    from ankle_core.models.card import ModelCard
    from ankle_core.models.cnn3d import CT_LABELS, build_ct_mobilenet3d
    from ankle_core.models.weights import list_models, load_model
    from ankle_core.preprocess.volume import CtPreprocessing

    if DEMO in list_models(Settings().models_dir):
        return load_model(DEMO, device="cpu")
    torch.manual_seed(0)
    net = build_ct_mobilenet3d(width_mult=0.5).eval()
    for p in net.parameters():
        p.requires_grad_(False)
    card = ModelCard(
        name="untrained-mobilenet3d",
        version="0",
        architecture="ct_mobilenet3d",
        task="ct-fracture",
        spatial_dims=3,
        labels=CT_LABELS,
        input_size=(64, 64, 64),
        preprocessing=CtPreprocessing(spacing_mm=2.0, input_size=64).to_dict(),
        architecture_params={"width_mult": 0.5},
    )
    return LoadedModel(card=card, network=net, device=torch.device("cpu"))


def stage_times(model: LoadedModel, repeats: int) -> None:
    from ankle_core.phantoms.ct import make_volume

    volume = make_volume(1_000_001, True)
    pipeline = CtPipeline(model)
    pipeline.run(volume)  # warm-up
    runs = [pipeline.run(volume).timings_s for _ in range(repeats)]
    how = f"{pipeline.explanation.label} on {pipeline.layer_name}"
    print(f"1. stage times, {volume.shape} volume, model {pipeline.model_label}, {how}, "
          f"median of {repeats}:")  # fmt: skip
    for key in ("preprocess", "forward", "gradcam", "upsample", "body_mask", "boxes", "total"):
        print(f"   {key:<10} {statistics.median(r[key] for r in runs):8.3f} s")


def gradcam_ratio(model: LoadedModel, repeats: int) -> None:
    from monai.visualize import GradCAM

    from ankle_core.explain.ct import gradcam_layer
    from ankle_core.explain.gradcam import grad_cam, upsample_cam

    size = model.card.input_size
    x = torch.randn(1, 1, *size) * 0.3
    name, layer = gradcam_layer(model.network, size)

    def ours() -> np.ndarray:
        cam = grad_cam(model.network, x, layer, 1)
        return upsample_cam(cam[0].numpy(), size, order=1)

    # MONAI's GradCAM needs gradients to flow: same weights, parameters left trainable
    monai_net = copy.deepcopy(model.network)
    for p in monai_net.parameters():
        p.requires_grad_(True)
    monai_cam = GradCAM(nn_module=monai_net, target_layers=name)

    def theirs() -> np.ndarray:
        # MONAI's default normaliser is ScaleIntensity(minv=1.0, maxv=0.0): hottest -> 0
        return 1.0 - np.asarray(monai_cam(x, class_idx=1).detach()[0, 0])

    a, b = ours(), theirs()  # warm-up, and the maps to compare
    t_ours = statistics.median(_time(ours) for _ in range(repeats))
    t_monai = statistics.median(_time(theirs) for _ in range(repeats))
    constant = float(a.std()) < 1e-12 or float(b.std()) < 1e-12
    corr = float("nan") if constant else float(np.corrcoef(a.ravel(), b.ravel())[0, 1])
    print(f"2. Grad-CAM on {name}, input {tuple(size)}, class 1, median of {repeats}:")
    print(f"   ankle_core (Captum) {t_ours:.3f} s, MONAI GradCAM {t_monai:.3f} s, "
          f"ratio ours/MONAI {t_ours / t_monai:.2f}; map correlation {corr:.3f}")  # fmt: skip


def _time(fn: object) -> float:
    start = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - start


def write_big_volume(path: Path, shape: tuple[int, int, int]) -> None:
    """A phantom ankle resampled to ``shape`` (about 0.4 x 0.3 x 0.3 mm), int16 NIfTI."""
    import nibabel as nib
    from scipy import ndimage

    from ankle_core.phantoms.ct import make_volume

    fov = (shape[0] * 0.4, shape[1] * 0.3, shape[2] * 0.3)
    small = make_volume(1_000_002, True, shape=(48, 128, 128),
                        spacing_mm=(fov[0] / 48, fov[1] / 128, fov[2] / 128))  # fmt: skip
    factors = [n / s for n, s in zip(shape, small.shape, strict=True)]
    big = ndimage.zoom(small.array, factors, order=1, grid_mode=True, mode="nearest")
    data = np.ascontiguousarray(np.rint(big).astype(np.int16).transpose(2, 1, 0))
    del big
    affine = np.asarray(small.affine, dtype=np.float64).copy()
    for axis_xyz, f in zip((2, 1, 0), factors, strict=True):
        affine[:3, axis_xyz] /= f
    img = nib.Nifti1Image(data, affine)
    img.set_qform(affine, code=1)
    img.set_sform(affine, code=1)
    nib.save(img, str(path))


def child_rss(path: str) -> None:
    """In a fresh process: disk -> Volume -> CtPipeline.run(explain=True); print the ratio,
    the peak RSS and the box difference from the full-grid body mask."""
    from ankle_core.config import ReadLimits, Settings
    from ankle_core.io import read_volume

    settings = Settings.from_env()
    pipeline = CtPipeline(
        _model(), runtime=settings.runtime, onnx_cache_dir=settings.cache_dir / "onnx"
    )
    start = time.perf_counter()
    volume = read_volume(path, limits=ReadLimits(max_file_bytes=1 << 30))
    read_s = time.perf_counter() - start
    result = pipeline.run(volume, explain=True)
    total = time.perf_counter() - start
    peak_gib = _peak_rss_gib()
    t = result.timings_s
    floor = read_s + t["forward"] + t["gradcam"]
    print(f"   shape {volume.shape}, runtime {pipeline.runtime}, read {read_s:.2f} s, pipeline "
          + ", ".join(f"{k} {v:.2f} s" for k, v in t.items()))  # fmt: skip
    print(f"   disk to boxes {total:.2f} s; floor (read + forward + Grad-CAM) {floor:.2f} s; "
          f"ratio {total / floor:.2f} (goal <= 1.5)")  # fmt: skip
    print(f"   peak RSS {peak_gib:.2f} GiB (budget {RSS_BUDGET_GB} GiB)")
    boxes = [r.box_voxels for r in result.regions]
    reference = _full_grid_boxes(pipeline, volume)
    keys = ("z0", "y0", "x0", "z1", "y1", "x1")
    diffs = [max(abs(getattr(a, k) - getattr(b, k)) for k in keys)
             for a, b in zip(boxes, reference, strict=False)]  # fmt: skip
    same = len(boxes) == len(reference)
    worst = max(diffs) if diffs else 0
    print(f"   boxes vs the full-grid body mask: {len(boxes)} and {len(reference)} boxes, "
          f"largest corner difference {worst} voxel(s) (goal <= 1)")  # fmt: skip
    sys.exit(0 if peak_gib < RSS_BUDGET_GB and same and worst <= 1 else 1)


def _peak_rss_gib() -> float:
    """This process's own peak resident memory, GiB.

    Linux's ``ru_maxrss`` survives ``exec``: a child started by a parent that once held
    2 GiB (this benchmark writes its 512 x 512 x 400 volume in-process) reports the parent's
    peak. ``VmHWM`` in ``/proc/self/status`` is the peak of this process image alone.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024**2  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # KiB on Linux


def _full_grid_boxes(pipeline: CtPipeline, volume: object) -> list[object]:
    """The boxes as the pipeline made them before: the body mask over the whole grid."""
    from ankle_core.explain.ct import cam_regions, cam_to_original, ct_grad_cam
    from ankle_core.explain.gradcam import normalize01
    from ankle_core.preprocess.volume import preprocess_volume

    prepared = preprocess_volume(volume, pipeline.preprocessing)  # type: ignore[arg-type]
    settings = pipeline.explanation
    cam = ct_grad_cam(pipeline.model.network, prepared.array, layer=pipeline.layer,
                      device=pipeline.model.device, method=settings.method)  # fmt: skip
    heat, footprint = cam_to_original(cam, prepared.transform, order=pipeline.spline_order)
    boxes = settings.boxes
    inside = boxes.body(volume.array)  # type: ignore[attr-defined]  # the whole grid
    if inside is not None:
        heat = normalize01(heat * inside)
    threshold = boxes.threshold(heat[footprint], None if inside is None else inside[footprint])
    regions = cam_regions(heat, volume.affine, boxes, footprint=footprint,  # type: ignore[attr-defined]
                          mask=inside, threshold=threshold)  # fmt: skip
    return [r.box_voxels for r in regions]


def onnx_ratio(model: LoadedModel, repeats: int) -> None:
    from ankle_core.config import Settings

    cache = Settings.from_env().cache_dir / "onnx"
    onnx = CtPipeline(model, runtime="onnx", onnx_cache_dir=cache)
    reference = CtPipeline(model, runtime="torch")
    size = int(onnx.preprocessing.input_size)
    x = torch.rand(1, 1, size, size, size)
    onnx._forward(x), reference._forward(x)  # warm-up
    t_onnx = statistics.median(_time(lambda: onnx._forward(x)) for _ in range(repeats))
    t_torch = statistics.median(_time(lambda: reference._forward(x)) for _ in range(repeats))
    print(f"4. CT forward pass, {size}^3, median of {repeats}: "
          f"ONNX Runtime {t_onnx * 1000:.1f} ms, torch {t_torch * 1000:.1f} ms, "
          f"ratio torch/ONNX {t_torch / t_onnx:.2f}")  # fmt: skip


def memory(shape: tuple[int, int, int]) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.nii"
        write_big_volume(path, shape)
        size_mb = path.stat().st_size / 1024**2
        print(f"3. disk to boxes, {shape} int16 NIfTI ({size_mb:.0f} MB), in a subprocess:")
        proc = subprocess.run(
            [sys.executable, __file__, "--child", str(path)], capture_output=True, text=True
        )
        print(proc.stdout.rstrip() or proc.stderr[-2000:])
        return proc.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="small sizes, one repeat")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (configure_threads)")
    parser.add_argument("--no-memory", action="store_true", help="skip the 512^2 x 400 volume")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_rss(args.child)
    repeats = 1 if args.quick else 5
    model = _model()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU; load average "
          + " ".join(f"{v:.1f}" for v in os.getloadavg()))  # fmt: skip
    stage_times(model, repeats)
    gradcam_ratio(model, repeats)
    status = 0 if args.no_memory else memory((200, 256, 256) if args.quick else (400, 512, 512))
    onnx_ratio(model, repeats)
    print(f"load average at the end: {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    return status


if __name__ == "__main__":
    sys.exit(main())
