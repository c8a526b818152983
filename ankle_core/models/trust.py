"""Which weights this workbench may load: sha256 manifests kept outside the model folders.

A model folder holds ``model.safetensors`` and ``card.json``, and the card records the
weights' sha256; but whoever can write the folder can change both. So the loader also
requires the weights' hash to be listed, under the card's name, in one of two manifests
that live elsewhere:

- the **committed manifest**, ``ankle_core/models/trusted_weights.json``, shipped with the
  code and reviewed like code: one line per bundled model (``python -m ankle_core.models
  entry models/<name>`` prints that line);
- the **site manifest**, at ``Settings.trusted_weights_path`` (``ANKLE_TRUSTED_WEIGHTS``,
  default ``data/trusted_weights.json``), for a site's own models. An operator adds a model
  there with the explicit trust step ``python -m ankle_core.models trust models/<name>``,
  and :func:`~ankle_core.models.weights.save_model` records what it saves there.

Both files are JSON: ``{"models": {"<card name>": "<sha256 hex>", ...}}``.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import tempfile
from pathlib import Path

from ankle_core.errors import ModelLoadError

__all__ = ["COMMITTED_MANIFEST", "is_trusted", "read_manifest", "trust_weights"]

logger = logging.getLogger(__name__)

COMMITTED_MANIFEST = Path(__file__).with_name("trusted_weights.json")
_HEX = frozenset("0123456789abcdef")


def read_manifest(path: str | Path) -> dict[str, str]:
    """Read a manifest: card name -> sha256 hex. A missing file is an empty manifest.

    Args:
        path: the manifest's path.

    Returns:
        The entries (lower-case hex digests).

    Raises:
        ModelLoadError: the file exists but is not a valid manifest.
    """
    file = Path(path)
    if not file.is_file():
        return {}
    try:
        entries = json.loads(file.read_text(encoding="utf-8"))["models"]
        out = {str(name): str(digest).lower() for name, digest in entries.items()}
    except (OSError, ValueError, KeyError, AttributeError, TypeError) as exc:
        raise ModelLoadError(f"The trusted-weights manifest {file.name} is not valid.") from exc
    if any(len(d) != 64 or not set(d) <= _HEX for d in out.values()):
        raise ModelLoadError(f"The trusted-weights manifest {file.name} holds a bad sha256.")
    return out


def is_trusted(name: str, sha256: str, site_manifest: str | Path | None) -> bool:
    """True when ``sha256`` is listed for ``name`` in the committed or the site manifest.

    Args:
        name: the card's model name.
        sha256: the weights file's actual sha256 (hex).
        site_manifest: the site manifest's path, or None for the committed one only.
    """
    if read_manifest(COMMITTED_MANIFEST).get(name) == sha256:
        return True
    return site_manifest is not None and read_manifest(site_manifest).get(name) == sha256


def trust_weights(name: str, sha256: str, site_manifest: str | Path) -> None:
    """Record ``name -> sha256`` in the site manifest (atomically; replaces an older hash).

    Args:
        name: the card's model name.
        sha256: the weights' sha256 (hex).
        site_manifest: the site manifest's path (its folder is created if needed).
    """
    file = Path(site_manifest)
    file.parent.mkdir(parents=True, exist_ok=True)
    # One writer at a time (two trainings saving at once must not lose an entry).
    with (file.parent / f".{file.name}.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        entries = read_manifest(file)
        entries[name] = sha256.lower()
        text = json.dumps({"models": dict(sorted(entries.items()))}, indent=2) + "\n"
        fd, tmp = tempfile.mkstemp(dir=file.parent, prefix=".trusted-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, file)
    logger.info("site manifest: trusted weights of model %s (%s...)", name, sha256[:12])
