"""Batch inference on Ray: decode in CPU tasks, predict in a pool of model actors.

The pipeline (Ray Data, streaming)::

    case paths --map_batches(load, CPU tasks)--> decoded records (npy bytes, no pickle)
               --map_batches(_Predictor, actor pool)--> CSV rows (strings)
               --> the driver writes each finished batch as a Parquet partition
                   (``<out>.parts/part-*.parquet``, written to a temporary name, then renamed)
               --> at the end, the same CSV as the local engine's, in case order.

A kind with ``read_in_actor`` (CT) skips the first step: its actors read their own cases,
so a large decoded volume never crosses the object store and the actor pool alone decides
how many cores work.

Each actor loads the models once (:class:`~ankle_core.inference.engine.BatchKind`'s
``predict`` caches them per process), sets its torch threads so that threads x actors per
node stay within the node's cores, and runs whole batches through one forward pass per
stage. An unreadable file is a row with its reason, never a failed task. With
``resume=True`` the rows already in the partitions (or in the CSV) are kept and their cases
skipped, keyed by input sha256 and model version; a partition cut short by a kill is
unreadable and is discarded.

Without an address, Ray starts a local cluster on this machine (and stops it at the end);
``"auto"`` or ``"ray://host:10001"`` joins an existing one, whose nodes must see the same
paths (archive and models) and have this project installed (or receive it through
``runtime_env``; see docs/scale.md). A Ray session already started in this process (tests,
notebooks) is used as it is.
"""

from __future__ import annotations

import importlib
import logging
import math
import os
import shutil
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ankle_core.errors import InvalidInputError
from ankle_core.scale.common import (
    BatchKind,
    BatchSummary,
    EngineOptions,
    input_sha256,
    read_rows,
    set_threads,
    write_rows,
)

__all__ = ["parts_dir", "read_partitions", "run_on_ray"]

logger = logging.getLogger(__name__)

Row = dict[str, Any]
_PATH = "path"  # the extra column of the partitions: the case's full path (for the order)


def _module(name: str) -> Any:
    """An optional dependency (Ray, pyarrow), imported when a run starts, typed as Any."""
    return importlib.import_module(name)


def parts_dir(out_csv: str | Path) -> Path:
    """The folder of Parquet partitions that goes with a CSV: ``x.csv`` -> ``x.parts/``."""
    out = Path(out_csv)
    return out.with_name(out.stem + ".parts")


def read_partitions(folder: str | Path) -> list[Row]:
    """The rows of every complete partition in ``folder`` (partial ones are removed).

    Args:
        folder: a partitions folder (see :func:`parts_dir`); missing means no rows.

    Returns:
        The rows, as dicts of strings (the CSV's columns plus ``path``).
    """
    pq = _module("pyarrow.parquet")
    root = Path(folder)
    if not root.is_dir():
        return []
    for tmp in root.glob("*.tmp"):
        tmp.unlink()
    rows: list[Row] = []
    for part in sorted(root.glob("part-*.parquet")):
        try:
            rows.extend(pq.read_table(part).to_pylist())
        except Exception:  # a partition cut short: its cases will run again
            logger.warning("discarding an unreadable partition %s", part.name)
            part.unlink()
    return rows


def _text(value: Any) -> str:
    """A cell as the csv module writes it (None -> "", everything else str())."""
    return "" if value is None else str(value)


def _column(values: list[Any]) -> np.ndarray:
    if values and isinstance(values[0], bytes | str):
        return np.array(values, dtype=object)
    return np.asarray(values)


def _load_batch(
    batch: dict[str, np.ndarray], kind: BatchKind[Any, Any], config: Any
) -> dict[str, np.ndarray]:
    """CPU task: hash and decode each case of a batch into Arrow-friendly records."""
    records = [kind.encode(kind.load(str(p), config)) for p in batch[_PATH]]
    return {key: _column([r[key] for r in records]) for key in records[0]}


class _Predictor:
    """Actor: the models, loaded once; ``__call__`` predicts one batch of decoded cases."""

    def __init__(self, kind: BatchKind[Any, Any], config: Any, threads: int) -> None:
        set_threads(threads)
        self.kind = kind
        self.config = config
        kind.predict([], config)  # load the models now, once per actor

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        n = len(batch[_PATH])
        if self.kind.read_in_actor:  # the batch holds paths only: read them here
            loaded = [self.kind.load(str(p), self.config) for p in batch[_PATH]]
        else:
            loaded = [self.kind.decode({k: v[i] for k, v in batch.items()}) for i in range(n)]
        rows = self.kind.predict(loaded, self.config)
        out = {c: _column([_text(r[c]) for r in rows]) for c in self.kind.columns}
        out[_PATH] = _column([str(p) for p in batch[_PATH]])
        return out


def _connect(address: str | None, progress: bool) -> bool:
    """Start or join a Ray cluster; True when this call started the session."""
    ray = _module("ray")
    if ray.is_initialized():
        return False
    kwargs: dict[str, Any] = {
        "include_dashboard": False,
        "log_to_driver": progress,
        "logging_level": logging.WARNING,
    }
    if address is None:
        ray.init(address="local", num_cpus=os.cpu_count() or 1, **kwargs)
    else:
        if address.startswith("ray://"):
            import ankle_core

            # a remote driver ships this package to the workers
            kwargs["runtime_env"] = {"py_modules": [os.path.dirname(ankle_core.__file__)]}
        ray.init(address=address, **kwargs)
    return True


def _threads_per_actor(workers: int, threads: int | None) -> tuple[int, float]:
    """Torch threads per actor, and the CPUs left per node for the decoding tasks."""
    ray = _module("ray")
    cpu_nodes = [n for n in ray.nodes() if n.get("Alive") and n["Resources"].get("CPU", 0) > 0]
    if not cpu_nodes:
        raise InvalidInputError("The Ray cluster has no node with a CPU.")
    per_node = max(int(n["Resources"]["CPU"]) for n in cpu_nodes)
    actors_per_node = math.ceil(workers / len(cpu_nodes))
    if threads is None:
        threads = max(1, per_node // actors_per_node)
    return threads, float(per_node - actors_per_node * threads)


def run_on_ray(
    kind: BatchKind[Any, Any],
    cases: Sequence[Path],
    config: Any,
    out_csv: str | Path,
    options: EngineOptions,
    names: Sequence[str] | None = None,
) -> BatchSummary:
    """Predict every case on a Ray cluster and write the same CSV as the local engine.

    Args:
        kind: the radiograph or CT batch (``RADIOGRAPH_KIND``, ``CT_KIND``).
        cases: files or folders, in output order (paths the cluster's nodes can read).
        config: the kind's picklable configuration.
        out_csv: the CSV; its partitions go to :func:`parts_dir` of it.
        options: ``address``, ``workers`` (actors), ``threads`` (per actor; default the
            node's cores divided by its actors), ``batch_size``, ``gpus_per_worker``,
            ``progress`` and ``resume``.
        names: the ``file`` column of each case (a manifest's ``case_id``; None: the
            file name).

    Returns:
        A :class:`~ankle_core.inference.batch.BatchSummary` (``engine="ray"``).
    """
    t0 = time.perf_counter()
    out = Path(out_csv)
    parts = parts_dir(out)
    columns = kind.columns
    version = kind.model_version(config)
    previous: list[Row] = []
    if options.resume:
        previous = [*read_rows(out, columns), *read_partitions(parts)]
    elif parts.exists():
        shutil.rmtree(parts)
    parts.mkdir(parents=True, exist_ok=True)
    done = {(r["input_sha256"], r["model_version"]): r for r in previous}
    results: dict[int, Row] = {}
    todo: list[int] = []
    for i, case in enumerate(cases):
        row = done.get((input_sha256(case), version)) if done else None
        if row is None:
            todo.append(i)
        else:
            results[i] = row
    # rows of other inputs are kept, once each (the CSV and the partitions overlap)
    seen = {(r["input_sha256"], r["model_version"]) for r in results.values()}
    others = []
    for r in previous:
        key = (r["input_sha256"], r["model_version"])
        if key not in seen:
            others.append({c: r[c] for c in columns})
            seen.add(key)
    skipped = len(results)
    if todo:
        index_of = {str(cases[i]): i for i in todo}
        started = _connect(options.address, options.progress)
        try:
            for table in _stream(kind, config, [str(cases[i]) for i in todo], options):
                rows = table.to_pylist()
                if names is not None:
                    for row in rows:
                        row["file"] = names[index_of[row[_PATH]]]
                    table = _module("pyarrow").Table.from_pylist(rows, schema=table.schema)
                _write_partition(table, parts / f"part-{uuid.uuid4().hex}.parquet")
                for row in rows:
                    results[index_of[row.pop(_PATH)]] = row
        finally:
            if started:
                _module("ray").shutdown()
    final = [*({c: results[i][c] for c in columns} for i in sorted(results)), *others]
    write_rows(out, final, columns)
    ours = [results[i] for i in sorted(results)]
    return BatchSummary(
        cases=len(ours),
        ran=len(todo),
        skipped=skipped,
        failures=sum(r.get("status") == "error" for r in ours),
        wall_s=time.perf_counter() - t0,
        engine="ray",
    )


def _write_partition(table: Any, path: Path) -> None:
    pq = _module("pyarrow.parquet")
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


def _stream(
    kind: BatchKind[Any, Any], config: Any, paths: list[str], options: EngineOptions
) -> Any:
    """The Ray Data pipeline over ``paths``; yields one Arrow table per finished batch."""
    rd = _module("ray.data")
    context = rd.DataContext.get_current()
    context.enable_progress_bars = options.progress
    threads, free_cpus = _threads_per_actor(options.workers, options.threads)
    # Decoding gets the cores the actors leave free; on a node they fill, it shares them
    # (0 reserved CPUs, a bounded pool) rather than waiting for ever.
    decode_cpus = 1.0 if free_cpus >= 1 else 0.0
    decode_tasks = max(1, int(free_cpus)) if free_cpus >= 1 else max(1, options.workers)
    batch = options.batch_size
    ds = rd.from_items(
        [{_PATH: p} for p in paths], override_num_blocks=max(1, math.ceil(len(paths) / batch))
    )
    if not kind.read_in_actor:
        ds = ds.map_batches(
            _load_batch,
            fn_kwargs={"kind": kind, "config": config},
            batch_size=batch,
            batch_format="numpy",
            num_cpus=decode_cpus,
            compute=rd.TaskPoolStrategy(size=decode_tasks),
        )
    ds = ds.map_batches(
        _Predictor,
        fn_constructor_args=(kind, config, threads),
        batch_size=batch,
        batch_format="numpy",
        num_cpus=threads,
        num_gpus=options.gpus_per_worker or None,
        compute=rd.ActorPoolStrategy(size=options.workers),
    )
    logger.info(
        "ray: %d actors x %d threads, %s, batch %d", options.workers, threads,
        "reading in the actors" if kind.read_in_actor else f"{decode_cpus:.0f} decode CPUs",
        batch,
    )  # fmt: skip
    return ds.iter_batches(batch_size=None, batch_format="pyarrow")
