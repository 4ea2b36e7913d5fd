"""`python -m fapiseg` is the `fapiseg` command."""

import sys

from fapiseg.cli import main

sys.exit(main())
