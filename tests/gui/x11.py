"""A little Xlib through ctypes, for what CDP cannot do to a Qt window: move and resize it the
way a window manager would, and photograph the whole virtual screen.

Only for the GUI tests under Xvfb, where no window manager runs: a client may then configure
any top-level window directly. libX11 is already on the machine as a dependency of Qt.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import struct
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

_ZPIXMAP = 2
_ALL_PLANES = 0xFFFFFFFF
_XA_CARDINAL = 6


class _ImageFuncs(ctypes.Structure):
    _fields_ = [
        ("create_image", ctypes.c_void_p),
        ("destroy_image", ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p)),
        ("get_pixel", ctypes.c_void_p),
        ("put_pixel", ctypes.c_void_p),
        ("sub_image", ctypes.c_void_p),
        ("add_pixel", ctypes.c_void_p),
    ]


class _XImage(ctypes.Structure):
    _fields_ = [
        ("width", ctypes.c_int),
        ("height", ctypes.c_int),
        ("xoffset", ctypes.c_int),
        ("format", ctypes.c_int),
        ("data", ctypes.POINTER(ctypes.c_ubyte)),
        ("byte_order", ctypes.c_int),
        ("bitmap_unit", ctypes.c_int),
        ("bitmap_bit_order", ctypes.c_int),
        ("bitmap_pad", ctypes.c_int),
        ("depth", ctypes.c_int),
        ("bytes_per_line", ctypes.c_int),
        ("bits_per_pixel", ctypes.c_int),
        ("red_mask", ctypes.c_ulong),
        ("green_mask", ctypes.c_ulong),
        ("blue_mask", ctypes.c_ulong),
        ("obdata", ctypes.c_void_p),
        ("f", _ImageFuncs),
    ]


def _xlib() -> ctypes.CDLL:
    name = ctypes.util.find_library("X11")
    if name is None:
        raise OSError("libX11 is not installed")
    lib = ctypes.CDLL(name)
    ulong, ptr = ctypes.c_ulong, ctypes.c_void_p
    lib.XOpenDisplay.restype = ptr
    lib.XOpenDisplay.argtypes = [ctypes.c_char_p]
    lib.XCloseDisplay.argtypes = [ptr]
    lib.XDefaultRootWindow.restype = ulong
    lib.XDefaultRootWindow.argtypes = [ptr]
    lib.XQueryTree.argtypes = [
        ptr,
        ulong,
        ctypes.POINTER(ulong),
        ctypes.POINTER(ulong),
        ctypes.POINTER(ctypes.POINTER(ulong)),
        ctypes.POINTER(ctypes.c_uint),
    ]
    lib.XInternAtom.restype = ulong
    lib.XInternAtom.argtypes = [ptr, ctypes.c_char_p, ctypes.c_int]
    lib.XGetWindowProperty.argtypes = [
        ptr,
        ulong,
        ulong,
        ctypes.c_long,
        ctypes.c_long,
        ctypes.c_int,
        ulong,
        ctypes.POINTER(ulong),
        ctypes.POINTER(ctypes.c_int),
        ctypes.POINTER(ulong),
        ctypes.POINTER(ulong),
        ctypes.POINTER(ctypes.POINTER(ctypes.c_ubyte)),
    ]
    lib.XMoveResizeWindow.argtypes = [
        ptr,
        ulong,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.c_uint,
    ]
    lib.XSync.argtypes = [ptr, ctypes.c_int]
    lib.XFree.argtypes = [ptr]
    lib.XDisplayWidth.argtypes = [ptr, ctypes.c_int]
    lib.XDisplayHeight.argtypes = [ptr, ctypes.c_int]
    lib.XGetImage.restype = ctypes.POINTER(_XImage)
    lib.XGetImage.argtypes = [
        ptr,
        ulong,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.c_uint,
        ulong,
        ctypes.c_int,
    ]
    return lib


@contextmanager
def _display() -> Iterator[tuple[ctypes.CDLL, int]]:
    lib = _xlib()
    display = lib.XOpenDisplay(None)
    if not display:
        raise OSError("cannot open the X display named by DISPLAY")
    try:
        yield lib, display
    finally:
        lib.XCloseDisplay(display)


def _children(lib: ctypes.CDLL, display: int, window: int) -> list[int]:
    root, parent = ctypes.c_ulong(), ctypes.c_ulong()
    children = ctypes.POINTER(ctypes.c_ulong)()
    count = ctypes.c_uint()
    if not lib.XQueryTree(
        display,
        window,
        ctypes.byref(root),
        ctypes.byref(parent),
        ctypes.byref(children),
        ctypes.byref(count),
    ):
        return []
    found = [children[i] for i in range(count.value)]
    if children:
        lib.XFree(children)
    return found


def _property(
    lib: ctypes.CDLL, display: int, window: int, name: bytes, kind: int | bytes, longs: int
) -> tuple[int, int, Any] | None:
    """A window property as (format, number of items, data pointer), or None; the caller reads
    the data and frees it with XFree. `kind` is an atom or an atom's name."""
    atom = lib.XInternAtom(display, name, 1)
    wanted = lib.XInternAtom(display, kind, 1) if isinstance(kind, bytes) else kind
    if not atom or not wanted:
        return None
    got, fmt = ctypes.c_ulong(), ctypes.c_int()
    items, after = ctypes.c_ulong(), ctypes.c_ulong()
    data = ctypes.POINTER(ctypes.c_ubyte)()
    status = lib.XGetWindowProperty(
        display,
        window,
        atom,
        0,
        longs,
        0,
        wanted,
        ctypes.byref(got),
        ctypes.byref(fmt),
        ctypes.byref(items),
        ctypes.byref(after),
        ctypes.byref(data),
    )
    if status != 0 or not data:
        return None
    return fmt.value, items.value, data


def _pid_of(lib: ctypes.CDLL, display: int, window: int) -> int | None:
    found = _property(lib, display, window, b"_NET_WM_PID", _XA_CARDINAL, 1)
    if found is None:
        return None
    fmt, items, data = found
    try:
        if items < 1 or fmt != 32:
            return None
        # Format-32 properties arrive as C longs, whatever their size.
        return int(ctypes.cast(data, ctypes.POINTER(ctypes.c_ulong))[0])
    finally:
        lib.XFree(data)


def _utf8_property(lib: ctypes.CDLL, display: int, window: int, name: bytes) -> str | None:
    found = _property(lib, display, window, name, b"UTF8_STRING", 1024)
    if found is None:
        return None
    fmt, items, data = found
    try:
        return bytes(data[:items]).decode("utf-8", "replace") if fmt == 8 else None
    finally:
        lib.XFree(data)


def titles_of(pid: int) -> list[str]:
    """The titles (`_NET_WM_NAME`) of the top-level windows of process `pid`."""
    with _display() as (lib, display):
        root = lib.XDefaultRootWindow(display)
        mine = [w for w in _children(lib, display, root) if _pid_of(lib, display, w) == pid]
        found = [_utf8_property(lib, display, w, b"_NET_WM_NAME") for w in mine]
        return [title for title in found if title]


def move_resize_window_of(pid: int, x: int, y: int, width: int, height: int) -> bool:
    """Move and resize the top-level windows of process `pid`; False if it has none (yet)."""
    with _display() as (lib, display):
        root = lib.XDefaultRootWindow(display)
        mine = [w for w in _children(lib, display, root) if _pid_of(lib, display, w) == pid]
        for window in mine:
            lib.XMoveResizeWindow(display, window, x, y, width, height)
        lib.XSync(display, 0)
        return bool(mine)


def screenshot_root(path: Path) -> Path:
    """Save the whole X screen as a PNG (what a user would see, window frame and all)."""
    with _display() as (lib, display):
        root = lib.XDefaultRootWindow(display)
        width, height = lib.XDisplayWidth(display, 0), lib.XDisplayHeight(display, 0)
        image = lib.XGetImage(display, root, 0, 0, width, height, _ALL_PLANES, _ZPIXMAP)
        if not image:
            raise OSError("XGetImage failed")
        try:
            ximage = image.contents
            if ximage.bits_per_pixel != 32:
                raise OSError(f"cannot read a {ximage.bits_per_pixel}-bit screen")
            raw = ctypes.string_at(ximage.data, ximage.bytes_per_line * height)
            stride = ximage.bytes_per_line
        finally:
            image.contents.f.destroy_image(ctypes.cast(image, ctypes.c_void_p))
    rows = bytearray()
    for y in range(height):
        line = raw[y * stride : y * stride + width * 4]
        rgb = bytearray(width * 3)
        rgb[0::3], rgb[1::3], rgb[2::3] = line[2::4], line[1::4], line[0::4]  # BGRX to RGB
        rows += b"\x00" + rgb
    path.write_bytes(_png(width, height, bytes(rows)))
    return path


def _png(width: int, height: int, rows: bytes) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 6))
        + chunk(b"IEND", b"")
    )
