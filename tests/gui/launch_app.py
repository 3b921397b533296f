"""Test-only launcher: the real window, with scripted file dialogs and a recorded system browser.

Run as `python -m tests.gui.launch_app`; the GUI tests start one per process, because Qt allows
one `webview.start()` per process. The seams live here, never in the shipped command line:

- `MIAODA_DATA_DIR`: the data folder (required).
- `MIAODA_TEST_DIALOGS`: a JSON file `{"save": path | null, "open": path | null}`, read at every
  dialog, so a test can change the answer between calls; `null` is a cancelled dialog. Every
  question is appended to `<that file>.asked` as one JSON line.
- `MIAODA_TEST_BROWSER`: a file that gets one line per URL the app hands to the system browser.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path

from backend.app import MiaodaApp
from backend.bridge import Dialogs
from backend.window import run_window


class ScriptedDialogs(Dialogs):
    """File dialogs whose answers come from a JSON file a test writes."""

    def __init__(self, answers: Path) -> None:
        self._answers = answers
        self._asked = answers.with_name(answers.name + ".asked")
        self._lock = threading.Lock()

    def save_path(self, suggested_name: str) -> str | None:
        return self._answer("save", suggested_name)

    def open_path(self) -> str | None:
        return self._answer("open", None)

    def _answer(self, kind: str, suggested_name: str | None) -> str | None:
        with self._lock:
            with self._asked.open("a", encoding="utf-8") as asked:
                asked.write(json.dumps({"dialog": kind, "suggestedName": suggested_name}) + "\n")
            answer = json.loads(self._answers.read_text(encoding="utf-8")).get(kind)
        return answer if isinstance(answer, str) else None


class RecordingBrowser:
    """Stands in for the system browser: writes down each URL it is asked to open."""

    def __init__(self, record: Path) -> None:
        self._record = record
        self._lock = threading.Lock()

    def __call__(self, url: str) -> bool:
        with self._lock, self._record.open("a", encoding="utf-8") as record:
            record.write(url + "\n")
        return True


def main() -> int:
    data_dir = Path(os.environ["MIAODA_DATA_DIR"])
    app = MiaodaApp(data_dir, secret_backend="file")
    return run_window(
        app,
        dialogs=ScriptedDialogs(Path(os.environ["MIAODA_TEST_DIALOGS"])),
        open_external=RecordingBrowser(Path(os.environ["MIAODA_TEST_BROWSER"])),
    )


if __name__ == "__main__":
    sys.exit(main())
