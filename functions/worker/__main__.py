"""`python -m functions.worker`: run one worker process until SIGTERM/SIGINT."""

import sys

from functions.worker.main import main

if __name__ == "__main__":
    sys.exit(main())
