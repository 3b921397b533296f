"""Command line: `miaoda`, `miaoda serve`, `miaoda self-test`, `miaoda --version`."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import urllib.request
import webbrowser
from collections.abc import Callable, Sequence
from types import FrameType
from typing import TYPE_CHECKING

from backend import APP_NAME, __version__, i18n
from backend.errors import MiaodaError
from backend.paths import data_dir, frontend_dir
from backend.tools import launch

if TYPE_CHECKING:
    from backend.app import MiaodaApp


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `miaoda` console script."""
    args_given = list(sys.argv[1:] if argv is None else argv)
    if args_given[:1] == [launch.COMMAND]:
        # Hidden: how the frozen app starts a stdio MCP server (backend/tools/launch.py).
        return launch.main(args_given[1:])
    parser = argparse.ArgumentParser(
        prog="miaoda", description=f"{APP_NAME}: chat with any LLM provider."
    )
    parser.add_argument("--version", action="version", version=f"{APP_NAME} {__version__}")
    commands = parser.add_subparsers(dest="command")
    serve = commands.add_parser("serve", help="run the app for a web browser")
    serve.add_argument(
        "--port", type=int, default=0, help="port on 127.0.0.1 (default: any free one)"
    )
    serve.add_argument("--no-browser", action="store_true", help="do not open a browser")
    serve.add_argument(
        "--allow-stdio-tools",
        action="store_true",
        help="let the browser add and change MCP servers that run programs here (stdio); "
        "each command line is printed on stderr",
    )
    commands.add_parser("self-test", help="check storage, secret storage and the server, then exit")
    args = parser.parse_args(args_given)
    try:
        if args.command == "serve":
            return _serve(
                args.port,
                open_browser=not args.no_browser,
                allow_stdio_tools=args.allow_stdio_tools,
            )
        if args.command == "self-test":
            return _self_test()
        return _window()
    except MiaodaError as err:
        print(f"{APP_NAME}: {err.message}", file=sys.stderr)
        return 1


def _make_app(*, allow_stdio_tools: bool = False) -> MiaodaApp:
    from backend.app import MiaodaApp

    return MiaodaApp(
        data_dir(),
        secret_backend=os.environ.get("MIAODA_SECRET_BACKEND") or None,
        token=os.environ.get("MIAODA_TOKEN") or None,
        allow_stdio_tools=allow_stdio_tools,
    )


def _serve(port: int, *, open_browser: bool, allow_stdio_tools: bool = False) -> int:
    if not 0 <= port <= 65535:
        print(f"{APP_NAME}: --port must be from 0 to 65535.", file=sys.stderr)
        return 2
    app = _make_app(allow_stdio_tools=allow_stdio_tools)
    try:
        try:
            server = app.start_server(port)
        except OSError as err:
            print(f"{APP_NAME}: cannot listen on port {port}: {err.strerror}.", file=sys.stderr)
            return 1
        app.start_background()
        url = f"{server.url}/#token={app.token}"
        print(f"{APP_NAME} is running at {url}", flush=True)
        if open_browser:
            webbrowser.open(url)
        _wait_for_stop_signal()
    finally:
        app.close()
    return 0


def _wait_for_stop_signal() -> None:
    stop = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous: dict[signal.Signals, Callable[[int, FrameType | None], object] | int | None] = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, handler)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _window() -> int:
    try:
        from backend.window import run_window
    except ImportError as err:
        print(
            f"{APP_NAME}: the desktop window needs pywebview and Qt ({err.name} is missing). "
            "Install the app with its 'gui' extra, or run `miaoda serve` to use a browser.",
            file=sys.stderr,
        )
        return 1
    return run_window(_make_app())


def _self_test() -> int:
    checks: list[tuple[str, bool, str]] = []
    app = None
    try:
        app = _make_app()
        # The self-test reports in English, for support, whatever language the app is set to.
        i18n.set_language("en")
        checks.append(
            (
                "storage",
                True,
                f"opened, {app.storage.count_providers()} provider(s), in {app.data_dir}",
            )
        )
        checks.append(("secret storage", *_probe_secrets(app)))
        server = app.start_server(0)
        checks.append(("server", *_probe_server(server.url, app.token)))
    except MiaodaError as err:
        checks.append(("startup", False, f"{err.code}: {err.message}"))
    finally:
        if app is not None:
            app.close()
    index = frontend_dir() / "index.html"
    checks.append(("frontend", index.is_file(), str(index.parent)))
    for name, ok, detail in checks:
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}")
    healthy = all(ok for _, ok, _ in checks)
    print(f"{APP_NAME} {__version__} self-test {'passed' if healthy else 'FAILED'}")
    return 0 if healthy else 1


def _probe_secrets(app: MiaodaApp) -> tuple[bool, str]:
    probe_id, probe_value = "miaoda-self-test", "self-test-" + os.urandom(8).hex()
    try:
        app.secrets.set(probe_id, probe_value)
        ok = app.secrets.get(probe_id) == probe_value
        app.secrets.delete(probe_id)
    except MiaodaError as err:
        return False, err.message
    return ok, f"{app.secrets.backend_name}: {app.secrets.description}"


def _probe_server(url: str, token: str) -> tuple[bool, str]:
    request = urllib.request.Request(  # noqa: S310 - our own loopback URL
        f"{url}/api/rpc/getAppInfo",
        data=b"[]",
        headers={"Content-Type": "application/json", "X-MiaoDa-Token": token},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - our loopback URL
            answer = json.loads(response.read())
        with urllib.request.urlopen(url + "/", timeout=5) as response:  # noqa: S310
            page_ok = response.status == 200
    except OSError as err:
        return False, f"did not answer: {err}"
    ok = bool(answer.get("success")) and page_ok
    return ok, f"answered at {url}" if ok else "answered with an error"


if __name__ == "__main__":
    sys.exit(main())
