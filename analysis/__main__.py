"""Entry point: ``python -m analysis <stage>``."""

import sys

from analysis.cli import main

sys.exit(main())
