"""`python -m functions.notify`: run the notifier process until SIGTERM/SIGINT."""

import sys

from functions.notify.loop import main

if __name__ == "__main__":
    sys.exit(main())
