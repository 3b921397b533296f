"""The app's settings (CONTRACT §13; docs/API.md, "Settings").

service.py   SettingsService: read, check, save (one transaction) and apply the settings
proxy.py     the proxy setting as stored: the URL in the data file, its password in the
             secret store, and the rules an update follows
opener.py    opening the data folder or the log with the OS's own program (a seam tests
             replace)
"""

from backend.settings.opener import Opener, open_with_os
from backend.settings.service import Settings, SettingsService

__all__ = ["Opener", "Settings", "SettingsService", "open_with_os"]
