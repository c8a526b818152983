"""``python -m ankle_core.models``: trust a site's model, or print a committed-manifest line.

- ``trust <folder>``: check that the folder's weights match its card, then record their
  sha256 in the site manifest (``ANKLE_TRUSTED_WEIGHTS``, or ``--manifest``). This is the
  explicit step by which an operator admits a model that did not ship with the code.
- ``entry <folder>``: print the one line to add to ``ankle_core/models/trusted_weights.json``
  when a model is committed to the repository.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from ankle_core.config import Settings
from ankle_core.errors import ModelLoadError
from ankle_core.logs import install_log_redaction
from ankle_core.models.card import read_card
from ankle_core.models.trust import trust_weights
from ankle_core.models.weights import CARD_FILE, WEIGHTS_FILE, sha256_file


def _checked(folder: Path) -> tuple[str, str]:
    """(card name, sha256) of a model folder whose weights match its card."""
    if not (folder / CARD_FILE).is_file() or not (folder / WEIGHTS_FILE).is_file():
        raise ModelLoadError(f"{folder} is not a model folder ({CARD_FILE} + {WEIGHTS_FILE}).")
    card = read_card(folder / CARD_FILE)
    actual = sha256_file(folder / WEIGHTS_FILE)
    if actual != card.weights_sha256:
        raise ModelLoadError(
            f"The weights in {folder} do not match the sha256 in its card; not trusted."
        )
    return card.name, actual


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 on success, 2 on refusal)."""
    parser = argparse.ArgumentParser(prog="python -m ankle_core.models", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    trust = sub.add_parser("trust", help="admit a model folder's weights in the site manifest")
    trust.add_argument("folder", type=Path)
    trust.add_argument("--manifest", type=Path, default=None, help="site manifest path")
    entry = sub.add_parser("entry", help="print the committed-manifest line of a model folder")
    entry.add_argument("folder", type=Path)
    args = parser.parse_args(argv)
    install_log_redaction()
    try:
        name, digest = _checked(args.folder)
    except ModelLoadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.command == "entry":
        print(f"    {json.dumps(name)}: {json.dumps(digest)},")
        return 0
    manifest = args.manifest or Settings.from_env().trusted_weights_path
    trust_weights(name, digest, manifest)
    print(f"trusted {name} (sha256 {digest[:12]}...) in {manifest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
