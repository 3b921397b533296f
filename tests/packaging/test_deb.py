"""The Linux release: build the bundle and the .deb with `build/package.sh`, unpack the .deb into a
scratch root, and run what a user would run from it.

Building takes one to three minutes, so the module builds once. `MIAODA_REUSE_DIST=1` reuses
the newest `dist/miaoda-chat_*.deb` instead (for local runs after `build/package.sh`). The test
build compresses the .deb with `xz -1` (30-90 s instead of 5 minutes at the release's `xz -6`,
for a .deb ~15 MB larger); `MIAODA_DEB_COMPRESSION` overrides that.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from backend import APP_NAME, __version__
from tests.helpers import artifacts_dir, keyring_usable, require

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

ROOT = Path(__file__).resolve().parents[2]
DEB_TARGET_MB = 150
INSTALLED_TARGET_MB = 450
READY_TARGET_S = 3.0
READY_TIMEOUT_S = 60.0
EXIT_TIMEOUT_S = 15.0
# The window logs this once the page has loaded and the bridge is in place.
READY_LINE = re.compile(r"the window is ready|window ready")
# Weight the spec trims or excludes: none of it may reach the bundle.
NOT_SHIPPED = [
    re.compile(pattern)
    for pattern in (
        r"(^|/)(_?pytest|mypy|ruff|playwright|hypothesis|respx|PyInstaller)(/|$)",
        r"libQt6(3D|Charts|Multimedia|Pdf|Quick3D|Designer|Sql|Test|Bluetooth|VirtualKeyboard)",
        r"PySide6/Qt/qml/",
        r"PySide6/Qt/plugins/(qmltooling|printsupport|position|egldeviceintegrations)/",
        r"qtwebengine_devtools_resources\.pak$",
        r"qtwebengine_locales/(?!en-US\.pak$)",
        r"PySide6/Qt/translations/[^/]+\.qm$",
        r"(^|/)libstdc\+\+\.so",
        r"(^|/)libgbm\.so",
    )
]


@dataclass(frozen=True)
class Package:
    deb: Path
    root: Path  # the unpacked .deb: what `dpkg -i` would put under /
    control: dict[str, str]

    @property
    def bundle(self) -> Path:
        return self.root / "opt" / "miaoda-chat"


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Package:
    require(sys.platform.startswith("linux"), "the .deb is built and tested on Linux only")
    require(shutil.which("dpkg-deb") is not None, "needs dpkg-deb (Debian or Ubuntu)")
    deb = _reused_deb() if os.environ.get("MIAODA_REUSE_DIST") == "1" else None
    if deb is None:
        require(
            _has_webengine(), "needs PySide6's QtWebEngine in .venv (the PySide6-WebEngine wheel)"
        )
        deb = _build()
    root = tmp_path_factory.mktemp("installed")
    subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    fields = subprocess.run(
        ["dpkg-deb", "-f", str(deb)], check=True, capture_output=True, text=True
    )
    control = dict(re.findall(r"^(\S+): (.*)$", fields.stdout, re.MULTILINE))
    return Package(deb, root, control)


def _has_webengine() -> bool:
    probe = [sys.executable, "-c", "import PySide6.QtWebEngineWidgets"]
    return subprocess.run(probe, capture_output=True, check=False).returncode == 0


def _reused_deb() -> Path | None:
    debs = sorted((ROOT / "dist").glob("miaoda-chat_*.deb"), key=lambda p: p.stat().st_mtime)
    if debs:
        print(f"\nreusing {debs[-1]} (MIAODA_REUSE_DIST=1)")
        return debs[-1]
    return None


def _build() -> Path:
    """Run the documented command, streaming its output and keeping a copy as an artifact."""
    env = dict(os.environ, MIAODA_SKIP_SETUP="1")  # `./dev test` has just run the set-up
    env.setdefault("MIAODA_DEB_COMPRESSION", "xz:1")
    log_path = artifacts_dir() / "package-build.log"
    started = time.monotonic()
    with log_path.open("w") as log:
        process = subprocess.Popen(
            ["build/package.sh"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert process.stdout is not None
        for line in process.stdout:
            log.write(line)
            print(line, end="")
        code = process.wait()
    print(f"\nbuild/package.sh took {time.monotonic() - started:.0f} s (log: {log_path})")
    assert code == 0, f"build/package.sh failed; see {log_path}"
    debs = list((ROOT / "dist").glob("miaoda-chat_*.deb"))
    assert len(debs) == 1, f"expected one .deb in dist/, found {debs}"
    return debs[0]


def _launcher(package: Package, tmp_path: Path) -> Path:
    """`/usr/bin/miaoda` of the unpacked package, re-pointed into the scratch root.

    The packaged link is absolute (`/opt/miaoda-chat/miaoda`, as Debian policy wants across
    top-level folders); a link of the same shape into the scratch root proves the bundle finds
    its files when started through a link on PATH.
    """
    packaged = package.root / "usr" / "bin" / "miaoda"
    assert packaged.is_symlink()
    target = os.readlink(packaged)
    assert target == "/opt/miaoda-chat/miaoda"
    link = tmp_path / "bin" / "miaoda"
    if not link.is_symlink():
        link.parent.mkdir(exist_ok=True)
        link.symlink_to(package.root / target.lstrip("/"))
    return link


def _app_env(data: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIAODA_")}
    env.update(MIAODA_DATA_DIR=str(data), **extra)
    # A source checkout on PYTHONPATH must not leak into the frozen app.
    env.pop("PYTHONPATH", None)
    return env


def _run(
    command: list[str], env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    print(f"\n$ {' '.join(command[-2:])}\n{result.stdout}{result.stderr}", end="")
    return result


def _mb(size: float) -> str:
    return f"{size / 1e6:.1f} MB"


# --- the package ---------------------------------------------------------------------------


def test_the_deb_and_the_installed_app_are_within_their_size_targets(package: Package) -> None:
    deb_bytes = package.deb.stat().st_size
    installed_bytes = int(package.control["Installed-Size"]) * 1024
    bundle_bytes = sum(
        p.stat().st_size for p in package.bundle.rglob("*") if p.is_file() and not p.is_symlink()
    )
    print(
        f"\nbundle    {_mb(bundle_bytes):>10}"
        f"\n.deb      {_mb(deb_bytes):>10}  (target <= {DEB_TARGET_MB} MB)"
        f"\ninstalled {_mb(installed_bytes):>10}  (target <= {INSTALLED_TARGET_MB} MB)"
    )
    assert deb_bytes <= DEB_TARGET_MB * 1e6
    assert installed_bytes <= INSTALLED_TARGET_MB * 1e6
    # Installed-Size counts what the package unpacks, so it cannot be less than the files.
    assert installed_bytes >= bundle_bytes


def test_the_control_file_names_the_package_its_version_and_architecture(package: Package) -> None:
    control = package.control
    arch = subprocess.run(
        ["dpkg", "--print-architecture"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert control["Package"] == "miaoda-chat"
    assert control["Architecture"] == arch
    if re.fullmatch(r"\d+(\.\d+)*", __version__):  # a plain release: no PEP 440 to Debian mapping
        assert control["Version"] == __version__
    assert package.deb.name == f"miaoda-chat_{control['Version']}_{arch}.deb"


def test_every_declared_dependency_is_a_package_this_system_has(package: Package) -> None:
    depends = [
        re.sub(r"\s*\(.*\)", "", entry).strip() for entry in package.control["Depends"].split(",")
    ]
    print(f"\nDepends: {package.control['Depends']}")
    assert "libc6" in depends and "libgl1" in depends
    missing = [name for name in depends if not _installed(name)]
    assert not missing, f"Depends names packages that are not installed here: {missing}"


def _installed(name: str) -> bool:
    query = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", name], capture_output=True, text=True, check=False
    )
    return "install ok installed" in query.stdout


def test_every_library_the_bundle_links_is_in_it_or_on_the_system(package: Package) -> None:
    lib_dirs = [
        package.bundle / "_internal",
        package.bundle / "_internal" / "PySide6" / "Qt" / "lib",
    ]
    env = dict(os.environ, LD_LIBRARY_PATH=":".join(map(str, lib_dirs)))
    binaries = [
        package.bundle / "miaoda",
        package.bundle / "_internal" / "PySide6" / "Qt" / "libexec" / "QtWebEngineProcess",
        *sorted((package.bundle / "_internal" / "PySide6" / "Qt" / "plugins").rglob("*.so")),
    ]
    unresolved = {}
    for binary in binaries:
        out = subprocess.run(
            ["ldd", str(binary)], env=env, capture_output=True, text=True, check=False
        ).stdout
        missing = re.findall(r"^\s*(\S+) => not found", out, re.MULTILINE)
        if missing:
            unresolved[str(binary.relative_to(package.bundle))] = missing
    assert not unresolved


def test_the_package_installs_the_app_the_launcher_the_menu_entry_and_icons(
    package: Package,
) -> None:
    root = package.root
    assert os.access(package.bundle / "miaoda", os.X_OK)
    assert (package.bundle / "_internal" / "frontend" / "index.html").is_file()
    desktop = (root / "usr/share/applications/miaoda-chat.desktop").read_text()
    assert "\nExec=miaoda\n" in desktop and "\nIcon=miaoda-chat\n" in desktop
    assert f"\nName={APP_NAME}\n" in desktop
    for size in (16, 32, 48, 64, 128, 256, 512):
        assert (root / f"usr/share/icons/hicolor/{size}x{size}/apps/miaoda-chat.png").is_file()
    assert (root / "usr/share/icons/hicolor/scalable/apps/miaoda-chat.svg").is_file()
    assert (root / "usr/share/doc/miaoda-chat/copyright").is_file()
    assert (root / "usr/share/man/man1/miaoda.1.gz").is_file()
    if shutil.which("desktop-file-validate"):
        subprocess.run(
            ["desktop-file-validate", str(root / "usr/share/applications/miaoda-chat.desktop")],
            check=True,
        )


def test_the_bundle_leaves_out_dev_tools_and_the_trimmed_qt_parts(package: Package) -> None:
    shipped = [p.relative_to(package.bundle).as_posix() for p in package.bundle.rglob("*")]
    found = sorted({path for path in shipped for rule in NOT_SHIPPED if rule.search(path)})
    assert not found[:20]
    # ...while what the window needs is there.
    inside = set(shipped)
    for needed in (
        "_internal/PySide6/Qt/libexec/QtWebEngineProcess",
        "_internal/PySide6/Qt/resources/qtwebengine_resources.pak",
        "_internal/PySide6/Qt/resources/icudtl.dat",
        "_internal/PySide6/Qt/translations/qtwebengine_locales/en-US.pak",
        "_internal/PySide6/Qt/plugins/platforms/libqxcb.so",
        "_internal/PySide6/Qt/plugins/platforms/libqwayland.so",
    ):
        assert needed in inside, needed


def test_the_maintainer_scripts_are_valid_shell(package: Package, tmp_path: Path) -> None:
    subprocess.run(["dpkg-deb", "-e", str(package.deb), str(tmp_path / "DEBIAN")], check=True)
    for script in ("postinst", "postrm"):
        path = tmp_path / "DEBIAN" / script
        assert os.access(path, os.X_OK)
        subprocess.run(["sh", "-n", str(path)], check=True)


# --- the installed app -------------------------------------------------------------------------


def test_installed_miaoda_prints_its_version(package: Package, tmp_path: Path) -> None:
    result = _run([str(_launcher(package, tmp_path)), "--version"], _app_env(tmp_path / "data"))
    assert result.returncode == 0
    assert result.stdout.strip() == f"{APP_NAME} {__version__}"


def test_installed_self_test_passes_with_the_encrypted_file(
    package: Package, tmp_path: Path
) -> None:
    env = _app_env(tmp_path / "data", MIAODA_SECRET_BACKEND="file")
    result = _run([str(_launcher(package, tmp_path)), "self-test"], env)
    assert result.returncode == 0
    assert "ok   storage: opened" in result.stdout
    assert "ok   secret storage: file:" in result.stdout
    assert "ok   server: answered at http://127.0.0.1:" in result.stdout
    # The frontend is found inside the installed bundle, not in a checkout.
    assert f"ok   frontend: {package.bundle / '_internal' / 'frontend'}" in result.stdout
    assert "self-test passed" in result.stdout


@pytest.mark.keyring
def test_installed_self_test_finds_the_system_keyring(package: Package, tmp_path: Path) -> None:
    require(keyring_usable(), "needs a Secret Service keyring: run ./dev test")
    launcher = _launcher(package, tmp_path)
    for name, forced in (("chosen", {}), ("forced", {"MIAODA_SECRET_BACKEND": "keyring"})):
        result = _run([str(launcher), "self-test"], _app_env(tmp_path / name, **forced))
        assert result.returncode == 0
        # keyring found its Secret Service backend through its entry points, frozen.
        assert "ok   secret storage: keyring: Secret Service" in result.stdout


def test_installed_self_test_says_which_secret_storage_is_missing(
    package: Package, tmp_path: Path
) -> None:
    # No D-Bus session: no Secret Service can answer, and the forced keyring must be reported.
    env = _app_env(
        tmp_path / "data",
        MIAODA_SECRET_BACKEND="keyring",
        DBUS_SESSION_BUS_ADDRESS=f"unix:path={tmp_path / 'no-bus'}",
    )
    result = _run([str(_launcher(package, tmp_path)), "self-test"], env)
    assert result.returncode == 1
    assert "KEYRING_UNAVAILABLE" in result.stdout
    assert "MIAODA_SECRET_BACKEND=file" in result.stdout
    assert "self-test FAILED" in result.stdout


@pytest.mark.gui
def test_installed_app_opens_its_window_without_remote_debugging(
    package: Package, tmp_path: Path
) -> None:
    require(bool(os.environ.get("DISPLAY")), "needs an X display: run ./dev test (it starts Xvfb)")
    launcher = _launcher(package, tmp_path)
    timings = []
    for attempt in ("first", "second"):
        data = tmp_path / f"data-{attempt}"
        debug_port = _free_port()
        # A release build must ignore a request for remote debugging.
        env = _app_env(
            data, MIAODA_SECRET_BACKEND="file", QTWEBENGINE_REMOTE_DEBUGGING=str(debug_port)
        )
        output = tmp_path / f"{attempt}.out"
        with _started(launcher, env, output) as (process, started):
            timings.append(_wait_ready(process, started, data / "logs" / "miaoda.log", output))
            assert process.poll() is None, "the app exited after reaching the UI"
            assert not _listening(debug_port), "the release build opened a remote-debugging port"
            window = _x_window_titled(APP_NAME)
            if attempt == "first":
                time.sleep(1.0)  # let the first frame settle before the photograph
                shot = _screenshot(artifacts_dir() / "installed-app.png")
                print(f"\nscreenshot of the installed app: {shot}; X window: {window}")
            process.send_signal(signal.SIGTERM)
            code = process.wait(timeout=EXIT_TIMEOUT_S)
            assert code == 0, f"exit code {code} after SIGTERM"
        log = (data / "logs" / "miaoda.log").read_text()
        assert "MiaoDa Chat stopped" in log
    for attempt, seconds in zip(("first (cold)", "second (warm)"), timings, strict=True):
        verdict = "within target" if seconds <= READY_TARGET_S else "OVER TARGET"
        target = f"target <= {READY_TARGET_S:.0f} s: {verdict}"
        print(f"launch to UI ready, {attempt} start: {seconds:.2f} s ({target})")


@contextmanager
def _started(
    launcher: Path, env: dict[str, str], output: Path
) -> Iterator[tuple[subprocess.Popen[bytes], float]]:
    """Start the app; it is gone when the block ends, whatever happened inside."""
    with output.open("wb") as out:
        started = time.monotonic()
        process = subprocess.Popen([str(launcher)], env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            yield process, started
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


def _wait_ready(process: subprocess.Popen[bytes], started: float, log: Path, output: Path) -> float:
    """Seconds from launch until the window logs that the UI is ready."""
    while time.monotonic() < started + READY_TIMEOUT_S:
        if log.is_file() and READY_LINE.search(log.read_text(errors="replace")):
            return time.monotonic() - started
        if process.poll() is not None:
            break
        time.sleep(0.05)
    tail = output.read_text(errors="replace")[-3000:] if output.is_file() else ""
    logged = log.read_text(errors="replace")[-3000:] if log.is_file() else "(no log file)"
    pytest.fail(
        f"the installed app did not reach its UI (exit code {process.poll()})\n{tail}\n{logged}"
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _x_window_titled(title: str) -> str:
    """The X window with this title, by `xwininfo` (x11-utils) when it is installed."""
    if shutil.which("xwininfo") is None:
        return "not checked (xwininfo from x11-utils is not installed)"
    tree = subprocess.run(
        ["xwininfo", "-root", "-tree"], capture_output=True, text=True, check=True
    ).stdout
    match = re.search(
        rf'^\s*(0x[0-9a-f]+) "{re.escape(title)}": .*?(\d+x\d+)\+', tree, re.MULTILINE
    )
    assert match, f"no X window titled {title!r}:\n{tree}"
    return f"{match.group(1)} {match.group(2)}"


def _screenshot(path: Path) -> Path:
    from tests.gui import x11

    return x11.screenshot_root(path)
