"""``python -m matching``: runs the command line in :mod:`matching.cli`."""

import sys

from matching.cli import main

if __name__ == "__main__":
    sys.exit(main())
