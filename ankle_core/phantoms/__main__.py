"""``python -m ankle_core.phantoms export ...``: see :mod:`ankle_core.phantoms.cli`."""

import sys

from ankle_core.phantoms.cli import main

sys.exit(main())
