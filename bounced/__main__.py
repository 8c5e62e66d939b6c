"""`python -m bounced` is the `bounced` command."""

import sys

from bounced.cli import main

sys.exit(main())
