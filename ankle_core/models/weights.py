"""Saving and loading models as ``models/<name>/{model.safetensors, card.json}``.

Weights are stored with safetensors (never pickle) and checked before anything is loaded:
their sha256 must equal the card's, *and* be listed for the card's name in a manifest kept
outside the model folder (:mod:`ankle_core.models.trust`), so that editing a card cannot
bless new weights. A tampered, truncated or unlisted file is refused.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from ankle_core.device import apply_torch_threads, resolve_device
from ankle_core.errors import ModelLoadError, UnknownModelError, WeightsIntegrityError
from ankle_core.models.card import ModelCard, read_card, write_card
from ankle_core.models.registry import build_network
from ankle_core.models.trust import is_trusted, trust_weights

__all__ = [
    "LoadedModel",
    "list_models",
    "load_model",
    "resolve_model_dir",
    "save_model",
    "sha256_file",
]

logger = logging.getLogger(__name__)

WEIGHTS_FILE = "model.safetensors"
CARD_FILE = "card.json"


@dataclass(frozen=True)
class LoadedModel:
    """A network in eval mode with its card.

    Attributes:
        card: the model card.
        network: the ``nn.Module``, weights loaded, in eval mode, on ``device``.
        device: where it runs.
    """

    card: ModelCard
    network: nn.Module
    device: torch.device

    @property
    def name(self) -> str:
        return self.card.name

    @property
    def version(self) -> str:
        return self.card.version


def sha256_file(path: str | Path, chunk_size: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(chunk_size), b""):
            digest.update(block)
    return digest.hexdigest()


def list_models(models_dir: str | Path) -> list[str]:
    """Names of the installed models: sub-folders holding a card and weights."""
    root = Path(models_dir)
    if not root.is_dir():
        return []
    return sorted(
        p.name for p in root.iterdir() if (p / CARD_FILE).is_file() and (p / WEIGHTS_FILE).is_file()
    )


def resolve_model_dir(name_or_path: str | Path, models_dir: str | Path) -> Path:
    """Find a model folder from an installed name or an explicit folder path.

    Raises:
        UnknownModelError: neither an installed name nor a folder with a card; the message
            lists the installed names.
    """
    candidate = Path(name_or_path)
    if candidate.is_dir() and (candidate / CARD_FILE).is_file():
        return candidate
    named = Path(models_dir) / str(name_or_path)
    if named.is_dir() and (named / CARD_FILE).is_file():
        return named
    valid = list_models(models_dir)
    listing = ", ".join(valid) if valid else "none installed"
    raise UnknownModelError(f"Unknown model {str(name_or_path)!r}. Valid names: {listing}.")


def load_model(
    name_or_path: str | Path,
    *,
    models_dir: str | Path | None = None,
    device: str | torch.device = "auto",
    site_manifest: str | Path | None = None,
) -> LoadedModel:
    """Load a model by installed name or folder path, checking the weights' sha256.

    Args:
        name_or_path: a name under ``models_dir`` or a folder with ``card.json``.
        models_dir: folder of installed models (default: the project's ``models/``).
        device: ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"``.
        site_manifest: the site's trusted-weights manifest (default:
            ``Settings.from_env().trusted_weights_path``, i.e. ``ANKLE_TRUSTED_WEIGHTS``).

    Returns:
        The network in eval mode, float32, on the device, with its card.

    Raises:
        UnknownModelError: the name is not installed (the message lists valid names).
        WeightsIntegrityError: the weights' sha256 differs from the card's, or is listed in
            neither the committed nor the site manifest.
        ModelLoadError: the card or weights are malformed or do not fit the architecture.
    """
    if models_dir is None:
        from ankle_core.config import Settings

        models_dir = Settings().models_dir
    folder = resolve_model_dir(name_or_path, models_dir)
    card = read_card(folder / CARD_FILE)
    weights = folder / WEIGHTS_FILE
    if not weights.is_file():
        raise ModelLoadError(f"Model {card.name!r} has no {WEIGHTS_FILE}.")
    actual = sha256_file(weights)
    if not card.weights_sha256 or actual != card.weights_sha256:
        logger.warning("weights hash mismatch for model %s", card.name)
        raise WeightsIntegrityError(
            f"The weights of model {card.name!r} do not match the sha256 in its card: the file "
            "may be tampered with or corrupt. Refusing to load it."
        )
    if site_manifest is None:
        from ankle_core.config import Settings

        site_manifest = Settings.from_env().trusted_weights_path
    if not is_trusted(card.name, actual, site_manifest):
        logger.warning("weights of model %s are not in a trusted manifest", card.name)
        raise WeightsIntegrityError(
            f"The weights of model {card.name!r} are not listed in the trusted-weights "
            "manifest (the one committed with the code, or this site's). Editing a card "
            "cannot make weights trusted. If this site trusts them, run "
            f"'python -m ankle_core.models trust <model folder>' and retry."
        )
    try:
        state = load_file(str(weights), device="cpu")
    except Exception as exc:  # safetensors raises its own error types on bad files
        raise ModelLoadError(f"Cannot read the weights of {card.name!r}.") from exc
    network = build_network(card)
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    try:
        network.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelLoadError(
            f"The weights of {card.name!r} do not fit architecture {card.architecture!r}."
        ) from exc
    dev = resolve_device(device)
    apply_torch_threads()  # the plan configure_threads chose, if it ran
    network = network.float().to(dev).eval()
    for param in network.parameters():
        param.requires_grad_(False)
    return LoadedModel(card=card, network=network, device=dev)


def save_model(
    network: nn.Module,
    card: ModelCard,
    out_dir: str | Path,
    *,
    half: bool = True,
    trust: bool = True,
    site_manifest: str | Path | None = None,
) -> ModelCard:
    """Write weights (fp16 when ``half``) and the card with the weights' sha256.

    Args:
        network: the trained module.
        card: its card; ``weights_sha256`` and ``weights_dtype`` are filled in here.
        out_dir: the model folder to create or overwrite.
        half: store floating-point tensors as float16 (halves the file; the loader casts back).
        trust: record the new weights in the site manifest, so that this site can load
            what it trained (a model to ship must also get its line in the committed
            manifest).
        site_manifest: the site manifest (default: ``Settings.from_env()``'s).

    Returns:
        The card as written.
    """
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    state: dict[str, torch.Tensor] = {}
    for key, tensor in network.state_dict().items():
        t = tensor.detach().cpu()
        if half and t.is_floating_point():
            t = t.half()
        state[key] = t.contiguous().clone()
    save_file(state, str(folder / WEIGHTS_FILE))
    written = replace(
        card,
        weights_sha256=sha256_file(folder / WEIGHTS_FILE),
        weights_dtype="float16" if half else "float32",
    )
    write_card(written, folder / CARD_FILE)
    if trust:
        if site_manifest is None:
            from ankle_core.config import Settings

            site_manifest = Settings.from_env().trusted_weights_path
        trust_weights(written.name, written.weights_sha256, site_manifest)
    return written
