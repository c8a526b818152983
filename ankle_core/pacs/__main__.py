"""Entry point of ``python -m ankle_core.pacs`` (see :mod:`ankle_core.pacs.cli`)."""

import sys

from ankle_core.pacs.cli import main

sys.exit(main())
