#!/usr/bin/env python3
"""Print the Debian `Depends:` value for a PyInstaller bundle: the system libraries it links.

    python3 build/linux/deb_depends.py dist/miaoda [--explain]

How: every ELF file in the bundle names the libraries it needs (`readelf -d`, NEEDED). Those
the bundle ships itself (any file or symlink of that name inside it) are dropped; each one left
is located the way the dynamic loader finds it (`ldd` on a file that needs it, with the bundle's
library folders searched first, as at run time) and mapped to the package that owns it
(`dpkg -S`). libc6 gets a minimum version: the newest GLIBC_x.y symbol version any file in the
bundle asks for (`readelf -V`). A needed library that is neither in the bundle nor owned by a
package is an error: the .deb would install but not start.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

_NEEDED = re.compile(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]")
_GLIBC = re.compile(r"Name: GLIBC_(\d+)\.(\d+)(?:\.(\d+))?\b")
_LDD = re.compile(r"^\s*(\S+)\s+=>\s+(\S+)\s+\(0x[0-9a-f]+\)", re.MULTILINE)
_LDD_LOADER = re.compile(r"^\s*(/\S+)\s+\(0x[0-9a-f]+\)", re.MULTILINE)  # the loader has no "=>"


def elf_files(bundle: Path) -> list[Path]:
    """Regular files in the bundle that start with the ELF magic number."""
    found = []
    for path in sorted(bundle.rglob("*")):
        if path.is_file() and not path.is_symlink():
            with path.open("rb") as handle:
                if handle.read(4) == b"\x7fELF":
                    found.append(path)
    return found


def readelf(*args: str) -> str:
    return subprocess.run(
        ["readelf", "-W", *args], capture_output=True, text=True, check=False
    ).stdout


def provided_names(bundle: Path) -> set[str]:
    """Every file and symlink name in the bundle: what the loader can find inside it."""
    return {path.name for path in bundle.rglob("*") if path.is_file() or path.is_symlink()}


def library_dirs(bundle: Path, files: list[Path]) -> list[str]:
    """Folders of the bundle that hold shared libraries (searched first, as at run time)."""
    return sorted({str(path.parent) for path in files if ".so" in path.name})


def resolve(soname: str, needed_by: list[Path], search: list[str]) -> str | None:
    """Where the dynamic loader finds `soname` for the first file that needs it."""
    env = dict(os.environ, LD_LIBRARY_PATH=":".join(search))
    for path in needed_by:
        out = subprocess.run(
            ["ldd", str(path)], capture_output=True, text=True, env=env, check=False
        ).stdout
        found = _LDD.findall(out) + [(Path(p).name, p) for p in _LDD_LOADER.findall(out)]
        for name, target in found:
            if name == soname and target.startswith("/"):
                return target
    return None


def owner(path: str) -> str | None:
    """The Debian package owning `path`, trying the /usr-merged spellings of it too."""
    real = os.path.realpath(path)
    candidates = []
    for candidate in (path, real):
        candidates.append(candidate)
        if candidate.startswith("/usr/lib/"):
            candidates.append(candidate[len("/usr") :])
        elif candidate.startswith("/lib"):
            candidates.append("/usr" + candidate)
    for candidate in dict.fromkeys(candidates):
        result = subprocess.run(
            ["dpkg", "-S", candidate], capture_output=True, text=True, check=False
        )
        if result.returncode == 0 and result.stdout:
            # "libgl1:amd64: /usr/lib/x86_64-linux-gnu/libGL.so.1" (diversions start "diversion by")
            for line in result.stdout.splitlines():
                if not line.startswith("diversion"):
                    return line.split(":", 1)[0].split(",")[0].strip()
    return None


def depends(bundle: Path) -> tuple[str, dict[str, list[str]]]:
    """The Depends value and, per package, the libraries that put it there."""
    files = elf_files(bundle)
    inside = provided_names(bundle)
    needed_by: dict[str, list[Path]] = defaultdict(list)
    glibc = (0, 0, 0)
    for path in files:
        for soname in _NEEDED.findall(readelf("-d", str(path))):
            if soname not in inside:
                needed_by[soname].append(path)
        for match in _GLIBC.finditer(readelf("-V", str(path))):
            glibc = max(glibc, tuple(int(part or 0) for part in match.groups()))
    search = library_dirs(bundle, files)
    packages: dict[str, list[str]] = defaultdict(list)
    missing = []
    for soname in sorted(needed_by):
        location = resolve(soname, needed_by[soname], search)
        package = owner(location) if location else None
        if package is None:
            users = ", ".join(str(p.relative_to(bundle)) for p in needed_by[soname][:3])
            missing.append(f"{soname} (needed by {users}; found at {location or 'nowhere'})")
            continue
        packages[package].append(soname)
    if missing:
        raise SystemExit("deb_depends: no package provides:\n  " + "\n  ".join(missing))
    entries = []
    for package in sorted(packages):
        if package == "libc6" and glibc > (0, 0, 0):
            version = ".".join(str(n) for n in (glibc if glibc[2] else glibc[:2]))
            entries.append(f"libc6 (>= {version})")
        else:
            entries.append(package)
    return ", ".join(entries), dict(packages)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument(
        "--explain", action="store_true", help="also list each package's libraries on stderr"
    )
    args = parser.parse_args()
    value, packages = depends(args.bundle.resolve())
    if args.explain:
        for package, sonames in sorted(packages.items()):
            print(f"  {package:24s} {' '.join(sonames)}", file=sys.stderr)
    print(value)
    return 0


if __name__ == "__main__":
    sys.exit(main())
