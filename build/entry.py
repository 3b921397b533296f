"""The frozen app's entry point: PyInstaller needs a script, the app is the `backend` package."""

import sys

from backend.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
