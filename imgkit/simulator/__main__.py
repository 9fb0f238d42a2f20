"""``python -m imgkit.simulator`` serves the simulator (the same options as ``imgkit sim``)."""

import sys

from imgkit.cli.sim import main

sys.exit(main())
