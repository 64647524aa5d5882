"""`python -m meshc`: the same as the `meshc` command."""

import sys

from meshc.compiler.cli import main

sys.exit(main())
