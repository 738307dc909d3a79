"""``python -m cnnviz``: the headless entry point (see ``cnnviz.cli``)."""

import sys

from cnnviz.cli import main

sys.exit(main())
