"""Archive-scale work: many cases through one engine, many workers training one model.

Nothing here knows a model or a pipeline: the callers (the batch CLIs in ``inference``, the
trainers) hand in pure, picklable functions. ``pip install -r requirements-scale.txt`` adds
Ray; nothing else in the library or the dashboard needs it, and importing this package does
not import Ray (it is imported when a run starts).

- ``common``: what both batch engines share: :class:`BatchKind` (a case kind's load /
  encode / decode / predict functions), :class:`EngineOptions`, :class:`BatchSummary`, the
  resume key (:func:`input_sha256` + model version) and the CSV helpers.
- ``sources``: a manifest CSV as the case list (:func:`read_manifest`,
  :func:`write_manifest`; ``--manifest`` of the batch CLIs).
- ``train``: :func:`~ankle_core.scale.train.run_data_parallel`, a training function on N
  Ray Train workers (DDP).

- ``ray_batch``: :func:`run_on_ray`, the engine behind ``python -m ankle_core.inference
  radiograph|ct DIR --engine ray [--address auto|ray://host:10001]``. Ray Data reads the
  case list, CPU tasks hash and decode the files, a pool of model actors (one model load per
  actor, GPU actors with ``--gpus-per-worker``) predicts whole batches, and the rows land in
  Parquet partitions, then in the same CSV as the local engine's. ``--resume`` skips the
  cases already written (input sha256 + model version).
"""

from ankle_core.scale.common import (
    BatchKind,
    BatchSummary,
    EngineOptions,
    input_sha256,
)
from ankle_core.scale.ray_batch import parts_dir, read_partitions, run_on_ray
from ankle_core.scale.sources import CaseList, read_manifest, write_manifest

__all__ = [
    "BatchKind",
    "BatchSummary",
    "CaseList",
    "EngineOptions",
    "input_sha256",
    "parts_dir",
    "read_manifest",
    "read_partitions",
    "run_on_ray",
    "write_manifest",
]
