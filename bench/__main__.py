"""`python -m bench [--quick] [name ...]` (what `make bench` runs)."""

import sys

from bench.runner import main

if __name__ == "__main__":
    sys.exit(main())
