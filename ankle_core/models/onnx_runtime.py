"""ONNX export and ONNX Runtime sessions for the radiograph models (CPU runtime).

The classifier is exported whole, with a dynamic batch axis. The detector is exported as its
:class:`~ankle_core.models.detector.DetectorCore` (backbone + heads, raw per-level outputs)
for one fixed padded input size; anchors, decoding and NMS stay in torch
(:func:`~ankle_core.models.detector.decode_detections`), shared with the torch runtime, so
the two runtimes differ only in the network's arithmetic.

Exports go to memory (bytes) by default, or to a folder the caller names (``cache_dir``; the
applications pass ``<Settings.cache_dir>/onnx``, so the export is paid once per machine, not
once per server start); there is no hidden global cache. A cached file is reused only when
its name carries the sha256 of the weights it came from and the input shape.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ankle_core.errors import ModelLoadError

__all__ = ["OnnxSession", "cached_export_exists", "export_onnx", "onnx_session_for"]

logger = logging.getLogger(__name__)
_export_lock = threading.Lock()


def export_onnx(
    network: nn.Module,
    example: torch.Tensor,
    *,
    dynamic_batch: bool = True,
    path: str | Path | None = None,
) -> bytes:
    """Export ``network`` to ONNX with ``torch.onnx.export`` (dynamo exporter, onnxscript).

    Args:
        network: a module in eval mode taking one (N, C, H, W) tensor.
        example: an example input on the CPU; H and W are fixed by it.
        dynamic_batch: leave the batch axis free.
        path: also write the model there.

    Returns:
        The serialised ONNX model.
    """
    net = network.eval().cpu()
    dynamic = {"x": {0: torch.export.Dim("batch", min=1, max=1024)}} if dynamic_batch else None
    with _export_lock, torch.no_grad():
        try:
            program = torch.onnx.export(
                net, (example.cpu(),), dynamo=True, dynamic_shapes=dynamic, verbose=False
            )
        except Exception as exc:  # the exporter raises many internal error types
            raise ModelLoadError(f"ONNX export of {type(network).__name__} failed: {exc}") from exc
    if program is None:
        raise ModelLoadError(f"ONNX export of {type(network).__name__} returned nothing.")
    data: bytes = program.model_proto.SerializeToString()
    if path is not None:
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")  # writers race
        tmp.write_bytes(data)
        tmp.replace(out)
    return data


class OnnxSession:
    """A thread-safe ONNX Runtime CPU session with a torch-like call.

    Args:
        model: serialised ONNX model (bytes) or a path to one.
        threads: intra-op threads (0: the process's thread plan, see
            :func:`ankle_core.device.configure_threads`; its wait policy also decides
            whether idle threads spin).
    """

    def __init__(self, model: bytes | str | Path, *, threads: int = 0) -> None:
        import onnxruntime as ort

        from ankle_core.device import onnx_session_options

        options = onnx_session_options(threads=threads)
        source = model if isinstance(model, bytes) else str(model)
        self._session = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Run on a (N, C, H, W) tensor; returns the outputs as CPU float32 tensors."""
        arr = x.detach().cpu().numpy().astype(np.float32, copy=False)
        outputs: Sequence[np.ndarray] = self._session.run(None, {self._input: arr})
        return tuple(torch.from_numpy(np.asarray(o, dtype=np.float32)) for o in outputs)


def _export_path(cache_dir: str | Path, network: str, weights_sha256: str, shape: str) -> Path:
    """Where the export of ``network`` with these weights and input shape is kept."""
    return Path(cache_dir) / f"{network}-{weights_sha256[:16]}-{shape}.onnx"


def cached_export_exists(cache_dir: str | Path, weights_sha256: str) -> bool:
    """True when ``cache_dir`` keeps an export of these weights (any network, any shape).

    For callers that must not wait for an export: they run torch until one exists.
    """
    return any(Path(cache_dir).glob(_export_path("*", "*", weights_sha256, "*").name))


def onnx_session_for(
    network: nn.Module,
    example: torch.Tensor,
    *,
    weights_sha256: str,
    dynamic_batch: bool,
    cache_dir: str | Path | None = None,
    threads: int = 0,
    export: bool = True,
) -> OnnxSession:
    """Export (or reuse a cached export of) ``network`` and open a session on it.

    Args:
        network: the torch module to export.
        example: example input fixing C, H, W.
        weights_sha256: the card's weights hash; names the cached file.
        dynamic_batch: see :func:`export_onnx`.
        cache_dir: folder for exported files (None: export in memory every time).
        threads: intra-op threads for the session.
        export: export when no cached file exists; False raises instead (a caller that
            cannot wait for an export, up to minutes on a busy CPU, runs torch meanwhile).

    Raises:
        ModelLoadError: the export failed, or ``export`` is False and nothing is cached.
    """
    if cache_dir is None and not export:
        raise ModelLoadError("No ONNX export is cached (no cache folder given).")
    if cache_dir is None:
        return OnnxSession(export_onnx(network, example, dynamic_batch=dynamic_batch))
    shape = "x".join(str(s) for s in example.shape[1:])
    path = _export_path(cache_dir, type(network).__name__, weights_sha256, shape)
    if not path.is_file():
        if not export:
            raise ModelLoadError(f"No cached ONNX export {path.name} yet.")
        logger.info("exporting %s to %s", type(network).__name__, path.name)
        export_onnx(network, example, dynamic_batch=dynamic_batch, path=path)
    return OnnxSession(path, threads=threads)
