"""``python -m imgkit`` runs the command line."""

import sys

from imgkit.cli import main

sys.exit(main())
