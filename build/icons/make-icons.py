#!/usr/bin/env python3
"""Render build/icons/miaoda.svg into every icon file the installers use.

    python3 build/icons/make-icons.py      # needs rsvg-convert (Debian: librsvg2-bin)

Writes, next to this script:
- miaoda-<N>.png for N in 16 22 24 32 48 64 128 256 512 (Linux hicolor theme sizes),
- miaoda.ico (Windows: 16-256 px, PNG-compressed entries, read by Windows Vista and later),
- miaoda.icns (macOS: 16-1024 px, PNG entries, read by macOS 10.7 and later).

The outputs are committed: they are build inputs, and the build must not need this tool.
Run it again only after editing the SVG.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SVG = HERE / "miaoda.svg"
LINUX_SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512)
WINDOWS_SIZES = (16, 20, 24, 32, 40, 48, 64, 256)
# ICNS element types that hold a PNG, by the pixel size of that PNG. The @2x types share a
# pixel size with a 1x type; both are written, as iconutil does.
ICNS_TYPES = (
    (b"icp4", 16),
    (b"icp5", 32),
    (b"icp6", 64),
    (b"ic07", 128),
    (b"ic08", 256),
    (b"ic09", 512),
    (b"ic10", 1024),
    (b"ic11", 32),
    (b"ic12", 64),
    (b"ic13", 256),
    (b"ic14", 512),
)


def render(size: int, target: Path) -> bytes:
    """Render the SVG at size x size pixels into `target` and return the PNG bytes."""
    subprocess.run(
        [
            "rsvg-convert",
            "--width",
            str(size),
            "--height",
            str(size),
            "--format",
            "png",
            "--output",
            str(target),
            str(SVG),
        ],
        check=True,
    )
    return target.read_bytes()


def ico(pngs: dict[int, bytes]) -> bytes:
    """An ICO file whose entries are the given PNGs (ICONDIR + ICONDIRENTRY records)."""
    sizes = sorted(pngs)
    header = struct.pack("<HHH", 0, 1, len(sizes))
    offset = len(header) + 16 * len(sizes)
    entries, payload = b"", b""
    for size in sizes:
        data = pngs[size]
        side = 0 if size >= 256 else size  # 0 means 256 in an ICONDIRENTRY
        entries += struct.pack("<BBBBHHII", side, side, 0, 0, 1, 32, len(data), offset)
        payload += data
        offset += len(data)
    return header + entries + payload


def icns(pngs: dict[int, bytes]) -> bytes:
    """An ICNS file with one PNG element per type in ICNS_TYPES."""
    body = b"".join(
        kind + struct.pack(">I", 8 + len(pngs[size])) + pngs[size] for kind, size in ICNS_TYPES
    )
    return b"icns" + struct.pack(">I", 8 + len(body)) + body


def main() -> int:
    if shutil.which("rsvg-convert") is None:
        print("make-icons: needs rsvg-convert (apt-get install librsvg2-bin)", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as scratch:
        every = sorted(set(LINUX_SIZES) | set(WINDOWS_SIZES) | {size for _, size in ICNS_TYPES})
        pngs = {size: render(size, Path(scratch) / f"{size}.png") for size in every}
    for size in LINUX_SIZES:
        (HERE / f"miaoda-{size}.png").write_bytes(pngs[size])
    (HERE / "miaoda.ico").write_bytes(ico({size: pngs[size] for size in WINDOWS_SIZES}))
    (HERE / "miaoda.icns").write_bytes(icns(pngs))
    print(f"make-icons: wrote {len(LINUX_SIZES)} PNGs, miaoda.ico and miaoda.icns in {HERE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
