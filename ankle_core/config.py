"""Settings, built once at the edge (CLI or ``app.py``) and passed down explicitly.

There are no import-time globals: :func:`Settings.from_env` reads the environment when it is
called, and every function that needs a limit or a path takes it as an argument.

Environment variables (all optional):

- ``ANKLE_MODELS_DIR``: folder of installed models (default: ``models/`` in the checkout).
- ``ANKLE_DATABASE_URL``: SQLAlchemy URL of the case history (default: SQLite file).
- ``ANKLE_DEVICE``: ``auto`` (CUDA when present), ``cpu`` or ``cuda``.
- ``ANKLE_RUNTIME``: ``auto`` (ONNX Runtime on the CPU, torch on CUDA), ``onnx`` or ``torch``.
- ``ANKLE_CACHE_DIR``: folder for caches that outlive the server (exported ONNX files,
  phantom cohorts, teaching cases); default ``.cache/ankle`` in the checkout (git-ignored).
- ``ANKLE_WARM_MODELS``: ``0`` stops the dashboard loading its default models in the
  background after the first page (default ``1``).
- ``ANKLE_THREADS``: CPU threads per process (see :func:`ankle_core.device.configure_threads`).
- ``ANKLE_MAX_UPLOAD_MB``: largest file a reader accepts, in MB (default 200).
- ``ANKLE_MAX_PIXELS``: largest decoded image or volume, in pixels or voxels.
- ``ANKLE_MAX_DECODED_MB``: memory budget of one read, in MB of decoded data (default 2048).
- ``ANKLE_TRUSTED_WEIGHTS``: the site's trusted-weights manifest (default:
  ``data/trusted_weights.json`` in the checkout); see :mod:`ankle_core.models.trust`.
- ``ANKLE_PACS_URL``, ``ANKLE_PACS_USER``, ``ANKLE_PACS_PASSWORD``, ``ANKLE_PACS_TOKEN``:
  the one PACS (DICOMweb root; https except on a loopback address). No page edits them.
- ``ANKLE_PACS_CA_BUNDLE``: PEM file of the CA(s) that sign the PACS's certificate.
- ``ANKLE_ROLE_CLAIM``: ID-token claim holding role names (default ``roles``; a dotted path
  such as ``realm_access.roles`` reaches a nested claim).
- ``ANKLE_ROLE_MAP``: subject or e-mail to roles, e.g. ``ann@x.org=researcher+admin;
  bob@x.org=reader`` (see ``ankle_core.access``).
- ``ANKLE_DEFAULT_ROLES``: roles of a signed-in user with none from the claim or map
  (default: none).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from ankle_core.access import RolePolicy, parse_role_map

__all__ = ["PROJECT_ROOT", "ReadLimits", "Settings"]

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class ReadLimits:
    """Bounds that protect readers from oversized or hostile files.

    Attributes:
        max_file_bytes: largest file accepted, in bytes (default 200 MB).
        max_pixels: largest decoded 2D image, in pixels (default 100 megapixels).
        max_voxels: largest decoded volume, in voxels (default 1024 x 1024 x 1024).
        max_zip_members: most files in an uploaded ``.zip``.
        max_zip_bytes: most bytes decompressed from a ``.zip`` (zip-bomb guard).
        max_zip_ratio: largest compression ratio allowed for one member.
        max_sequence_depth: deepest DICOM sequence nesting accepted.
        max_series_files: most files in one DICOM series.
        max_decoded_bytes: memory budget of one read, in bytes (default 2 GiB): everything
            decoded and held at once (raw voxels, the float32 result, per-slice working
            copies) is estimated from the headers before decoding and refused above it.
    """

    max_file_bytes: int = 200 * 1024 * 1024
    max_pixels: int = 100_000_000
    max_voxels: int = 1024**3
    max_zip_members: int = 5000
    max_zip_bytes: int = 1024**3
    max_zip_ratio: float = 200.0
    max_sequence_depth: int = 16
    max_series_files: int = 4000
    max_decoded_bytes: int = 2 * 1024**3


def _default_cache_dir() -> Path:
    return PROJECT_ROOT / ".cache" / "ankle"


def _default_database_url() -> str:
    return f"sqlite:///{PROJECT_ROOT / 'data' / 'case_history.sqlite'}"


@dataclass(frozen=True)
class Settings:
    """Everything configurable, in one frozen object.

    Attributes:
        models_dir: folder holding ``<model-name>/{model.safetensors, card.json}``.
        database_url: SQLAlchemy URL of the case history and reader studies.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        runtime: ``"auto"`` (ONNX Runtime on the CPU, torch on a GPU), ``"onnx"`` or
            ``"torch"``; Grad-CAM always runs in torch.
        cache_dir: folder of caches that last across server restarts (exported ONNX files
            under ``onnx/``, phantom cohorts, teaching cases).
        limits: reader limits.
        trusted_weights_path: the site's trusted-weights manifest (JSON).
        pacs_url: DICOMweb root URL, or None.
        pacs_user: HTTP basic user, or None.
        pacs_password: HTTP basic password (never logged or displayed), or None.
        pacs_token: bearer token (never logged or displayed), or None.
        pacs_timeout_s: timeout of each PACS request, in seconds.
        pacs_ca_bundle: PEM file of the CA(s) trusted for the PACS's https, or None (the
            system's trust store).
        roles: where signed-in users' roles come from.
    """

    models_dir: Path = PROJECT_ROOT / "models"
    database_url: str = field(default_factory=_default_database_url)
    device: str = "auto"
    runtime: str = "auto"
    cache_dir: Path = field(default_factory=_default_cache_dir)
    warm_models: bool = True
    limits: ReadLimits = field(default_factory=ReadLimits)
    trusted_weights_path: Path = PROJECT_ROOT / "data" / "trusted_weights.json"
    pacs_url: str | None = None
    pacs_user: str | None = None
    pacs_password: str | None = field(default=None, repr=False)
    pacs_token: str | None = field(default=None, repr=False)
    pacs_timeout_s: float = 20.0
    pacs_ca_bundle: Path | None = None
    roles: RolePolicy = field(default_factory=RolePolicy)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Build settings from the environment (or a given mapping, for tests)."""
        env = dict(os.environ if environ is None else environ)
        limits = ReadLimits()
        if "ANKLE_MAX_UPLOAD_MB" in env:
            max_bytes = int(float(env["ANKLE_MAX_UPLOAD_MB"]) * 1024 * 1024)
            limits = replace(limits, max_file_bytes=max_bytes)
        if "ANKLE_MAX_PIXELS" in env:
            limits = replace(limits, max_pixels=int(env["ANKLE_MAX_PIXELS"]))
        if "ANKLE_MAX_DECODED_MB" in env:
            budget = int(float(env["ANKLE_MAX_DECODED_MB"]) * 1024 * 1024)
            limits = replace(limits, max_decoded_bytes=budget)
        return cls(
            models_dir=Path(env.get("ANKLE_MODELS_DIR", str(PROJECT_ROOT / "models"))),
            database_url=env.get("ANKLE_DATABASE_URL", _default_database_url()),
            device=env.get("ANKLE_DEVICE", "auto"),
            runtime=env.get("ANKLE_RUNTIME", "auto").strip().lower() or "auto",
            cache_dir=Path(env.get("ANKLE_CACHE_DIR", "") or _default_cache_dir()),
            warm_models=env.get("ANKLE_WARM_MODELS", "1").strip().lower()
            not in ("0", "false", "no"),
            limits=limits,
            trusted_weights_path=Path(
                env.get(
                    "ANKLE_TRUSTED_WEIGHTS", str(PROJECT_ROOT / "data" / "trusted_weights.json")
                )
            ),
            pacs_url=env.get("ANKLE_PACS_URL"),
            pacs_user=env.get("ANKLE_PACS_USER"),
            pacs_password=env.get("ANKLE_PACS_PASSWORD"),
            pacs_token=env.get("ANKLE_PACS_TOKEN"),
            pacs_timeout_s=float(env.get("ANKLE_PACS_TIMEOUT_S", "20")),
            pacs_ca_bundle=Path(ca) if (ca := env.get("ANKLE_PACS_CA_BUNDLE")) else None,
            roles=RolePolicy(
                claim=env.get("ANKLE_ROLE_CLAIM", "roles"),
                mapping=parse_role_map(env.get("ANKLE_ROLE_MAP", "")),
                default_roles=frozenset(
                    parse_role_map("x=" + env.get("ANKLE_DEFAULT_ROLES", "")).get("x", ())
                ),
            ),
        )

    @property
    def pacs_credentials(self) -> bool:
        """Whether a PACS password or token is configured."""
        return bool(self.pacs_password or self.pacs_token)
