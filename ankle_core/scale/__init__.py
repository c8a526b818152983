"""Archive-scale work on Ray: batch inference over a cluster (an optional extra).

``pip install -r requirements-scale.txt`` adds Ray; nothing else in the library or the
dashboard needs it, and importing this package does not import Ray (it is imported when a
run starts).

- ``ray_batch``: :func:`run_on_ray`, the engine behind ``python -m ankle_core.inference
  radiograph|ct DIR --engine ray [--address auto|ray://host:10001]``. Ray Data reads the
  case list, CPU tasks hash and decode the files, a pool of model actors (one model load per
  actor, GPU actors with ``--gpus-per-worker``) predicts whole batches, and the rows land in
  Parquet partitions, then in the same CSV as the local engine's. ``--resume`` skips the
  cases already written (input sha256 + model version).
"""

from ankle_core.scale.ray_batch import parts_dir, read_partitions, run_on_ray

__all__ = ["parts_dir", "read_partitions", "run_on_ray"]
