"""`python -m meshc`: the same as the `meshc` command."""

import sys

from meshc.compiler.cli import entry

sys.exit(entry())
