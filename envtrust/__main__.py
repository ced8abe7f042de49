"""`python -m envtrust` is the same front door as the `envtrust` script."""

import sys

from envtrust.cli import main

sys.exit(main())
