"""``python -m imgkit`` runs the command line."""

import sys

from imgkit.cli.main import main

sys.exit(main())
