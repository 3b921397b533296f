"""Where MiaoDa Chat keeps its data and finds its frontend, from source or frozen."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import platformdirs

from backend import APP_NAME


def data_dir() -> Path:
    """The data folder: `MIAODA_DATA_DIR`, else the OS's user data folder for the app."""
    override = os.environ.get("MIAODA_DATA_DIR")
    if override:
        return Path(override).expanduser().resolve()
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False, roaming=True))


def frontend_dir() -> Path:
    """The folder holding index.html: beside the package, or inside the bundle when frozen."""
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        return Path(bundle) / "frontend"
    return Path(__file__).resolve().parent.parent / "frontend"
