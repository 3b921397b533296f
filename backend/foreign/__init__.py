"""Reading an import file, whichever app wrote it: our own export, a Cherry Studio backup, a
Chatbox export or a LobeChat settings file (docs/IMPORT-FROM-OTHER-APPS.md).

`read_import` takes the file's bytes (or text), `read_import_path` a file on this machine. Our
own format goes to `backend.transfer.read_export` as it is. Anything else is parsed here, with
the export's JSON hardening (its `parse_json`), and offered to each reader in `READERS`;
the first whose `recognizes` says yes reads it (`backend.foreign.model` describes a reader).
A gzip file (an old Cherry Studio `.bak`) is unpacked with `zlib`, to at most
`MAX_FOREIGN_BYTES`. A zip (a Cherry Studio backup) is opened with `zipfile`, and only the
members the readers name in `ZIP_MEMBERS` are read, each to at most `MAX_FOREIGN_BYTES`
decompressed, in chunks, so a zip bomb stops at the cap instead of filling the memory.

Size caps: our own export keeps its 5 MB (`MAX_IMPORT_BYTES`, checked by `read_export`).
Another app's file may hold the user's whole chat history beside the providers, so its JSON may
be up to `MAX_FOREIGN_BYTES`; a zip given as bytes too. A zip on disk is not read whole: only
its directory and the named members are, so it has no cap of its own beyond `MAX_ZIP_ENTRIES`.

Keys in another app's file are in plain text, so they come out as they are (no passphrase) in
`ImportFile.secrets`; the manager puts them in the secret store, never in the database.
"""

from __future__ import annotations

import base64
import binascii
import io
import logging
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any, Protocol

from backend import transfer
from backend.errors import ImportInvalid, MiaodaError
from backend.fileio import read_limited
from backend.foreign import chatbox, cherry, lobechat
from backend.foreign.model import ForeignImport
from backend.i18n import tr

log = logging.getLogger("miaoda.foreign")

MAX_FOREIGN_BYTES = 256 * 1024 * 1024
"""Another app's JSON file, a zip given as bytes, and each zip member read, decompressed."""
MAX_ZIP_ENTRIES = 100_000
_CHUNK = 1024 * 1024
_GZIP_SIGNATURE = b"\x1f\x8b"
_ZIP_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06")  # a zip's first entry; an empty zip's end


class Reader(Protocol):
    """A reader of one app's file (a module: `backend.foreign.cherry`, …)."""

    SOURCE: str
    APP_NAME: str

    def recognizes(self, document: Any) -> bool: ...

    def read(self, document: Any) -> ForeignImport: ...


READERS: tuple[Reader, ...] = (cherry, chatbox, lobechat)


def read_import(
    content: str | bytes, passphrase: str | None = None, *, readers: Sequence[Reader] = READERS
) -> transfer.ImportFile:
    """Parse an import file of any app we read, given as its bytes or its text."""
    raw = _content_bytes(content)
    if raw.startswith(_ZIP_SIGNATURES):
        return _read_zip(io.BytesIO(raw), readers)
    return _read_json(_gunzipped(raw), passphrase, readers)


def read_import_path(
    path: Path, passphrase: str | None = None, *, readers: Sequence[Reader] = READERS
) -> transfer.ImportFile:
    """Parse the import file at `path` (`~` expanded): a zip is read from the disk member by
    member, any other file whole, up to `MAX_FOREIGN_BYTES`."""
    path = path.expanduser()
    if _starts_like_zip(path):
        return _read_zip(path, readers)
    return _read_json(_gunzipped(read_limited(path, MAX_FOREIGN_BYTES)), passphrase, readers)


def decode_base64(text: str) -> bytes:
    """The bytes of a file sent as standard base64 (`contentBase64`), or ImportInvalid."""
    if len(text) > (MAX_FOREIGN_BYTES + 2) // 3 * 4:
        raise _too_large()
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error, ValueError) as exc:
        problem = tr("foreign.file.notBase64")
        raise ImportInvalid(problem, fields={"contentBase64": [problem]}) from exc


# --- JSON ---------------------------------------------------------------------------------


def _read_json(
    raw: bytes, passphrase: str | None, readers: Sequence[Reader]
) -> transfer.ImportFile:
    document = transfer.parse_json(raw)
    if isinstance(document, dict) and document.get("format") == transfer.FORMAT:
        return transfer.read_export(raw, passphrase)  # checks our own 5 MB cap, and the rest
    for reader in readers:
        if _recognizes(reader, document):
            return _import_file(reader, _read(reader, document))
    if isinstance(document, dict):
        looked = {"format": [tr("transfer.expected", value=repr(transfer.FORMAT))]}
    else:
        looked = {"file": [tr("foreign.file.notObject")]}
    raise ImportInvalid(tr("foreign.file.unknown"), fields=looked)


def _content_bytes(content: object) -> bytes:
    if isinstance(content, str):
        # A str is never shorter in characters than in UTF-8 bytes: refuse a huge one unencoded.
        if len(content) > MAX_FOREIGN_BYTES:
            raise _too_large()
        try:
            raw = content.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ImportInvalid(tr("transfer.notValidUtf8")) from exc
    elif isinstance(content, bytes | bytearray | memoryview):
        raw = bytes(content)
    else:
        raise ImportInvalid(tr("transfer.contentNotText"))
    if len(raw) > MAX_FOREIGN_BYTES:
        raise _too_large()
    return raw


def _gunzipped(raw: bytes) -> bytes:
    """`raw` itself, or, for a gzip file, what it holds: unpacked in steps and given up on past
    the cap, so a gzip bomb stops there."""
    if not raw.startswith(_GZIP_SIGNATURE):
        return raw
    unpacker = zlib.decompressobj(wbits=31)  # 31: a gzip header and trailer
    parts: list[bytes] = []
    total = 0
    pending = raw
    try:
        while pending and not unpacker.eof:
            chunk = unpacker.decompress(pending, _CHUNK)
            total += len(chunk)
            if total > MAX_FOREIGN_BYTES:
                raise _too_large()
            parts.append(chunk)
            pending = unpacker.unconsumed_tail
    except zlib.error as exc:
        problem = tr("foreign.file.badGzip")
        raise ImportInvalid(problem, fields={"file": [problem]}) from exc
    if not unpacker.eof:
        problem = tr("foreign.file.badGzip")
        raise ImportInvalid(problem, fields={"file": [problem]})
    return b"".join(parts)


# --- zip ----------------------------------------------------------------------------------


def _read_zip(file: Path | IO[bytes], readers: Sequence[Reader]) -> transfer.ImportFile:
    try:
        with zipfile.ZipFile(file) as archive:
            entries = archive.infolist()
            if len(entries) > MAX_ZIP_ENTRIES:
                raise _zip_problem(tr("foreign.file.zipTooManyEntries", max=f"{MAX_ZIP_ENTRIES:,}"))
            by_name = {entry.filename: entry for entry in entries}
            looked: dict[str, list[str]] = {}
            for reader in readers:
                for name in getattr(reader, "ZIP_MEMBERS", ()):
                    entry = by_name.get(name)
                    if entry is None:
                        continue
                    document = transfer.parse_json(_member_bytes(archive, entry))
                    if _recognizes(reader, document):
                        return _import_file(reader, _read(reader, document))
                    looked[name] = [tr("foreign.file.memberUnknown")]
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError) as exc:
        raise _zip_problem(tr("foreign.file.zipDamaged")) from exc
    except (RuntimeError, NotImplementedError) as exc:  # encrypted, or an unknown compression
        raise _zip_problem(tr("foreign.file.zipUnreadable")) from exc
    except OSError as exc:
        raise _zip_problem(tr("foreign.file.zipDamaged")) from exc
    if not looked:
        names = sorted({n for r in readers for n in getattr(r, "ZIP_MEMBERS", ())})
        looked = {"file": [tr("foreign.file.zipMissing", names=", ".join(names))]}
    raise ImportInvalid(tr("foreign.file.unknown"), fields=looked)


def _member_bytes(archive: zipfile.ZipFile, entry: zipfile.ZipInfo) -> bytes:
    """The member's bytes, read in chunks and given up on past the cap: the size its header
    states is not trusted."""
    if entry.file_size > MAX_FOREIGN_BYTES:
        raise _member_too_large(entry.filename)
    parts: list[bytes] = []
    total = 0
    with archive.open(entry) as member:
        while chunk := member.read(_CHUNK):
            total += len(chunk)
            if total > MAX_FOREIGN_BYTES:
                raise _member_too_large(entry.filename)
            parts.append(chunk)
    return b"".join(parts)


# --- readers ------------------------------------------------------------------------------


def _recognizes(reader: Reader, document: Any) -> bool:
    try:
        return bool(reader.recognizes(document))
    except Exception as exc:  # a reader's bug must not turn into a crash of the import
        log.warning("reader %s failed to look at a file: %s", reader.SOURCE, type(exc).__name__)
        return False


def _read(reader: Reader, document: Any) -> ForeignImport:
    try:
        return reader.read(document)
    except MiaodaError:
        raise
    except Exception as exc:  # the file's values are not logged: they may hold keys
        log.warning("reader %s failed on a file: %s", reader.SOURCE, type(exc).__name__)
        raise ImportInvalid(tr("foreign.file.unreadable", app=reader.APP_NAME)) from None


def _import_file(reader: Reader, found: ForeignImport) -> transfer.ImportFile:
    if len(found.providers) > transfer.MAX_IMPORT_PROVIDERS:
        most = f"{transfer.MAX_IMPORT_PROVIDERS:,}"
        raise ImportInvalid(
            tr("transfer.tooManyProviders", count=f"{len(found.providers):,}", max=most),
            fields={"providers": [tr("transfer.atMostProviders", max=most)]},
        )
    return transfer.ImportFile(
        providers=list(found.providers),
        secrets=dict(found.secrets),
        exported_at=None,
        source=transfer.ImportSource(found.source, found.app_name, found.format_version),
        unsupported=[entry.to_wire() for entry in found.unsupported],
    )


# --- files and errors ---------------------------------------------------------------------


def _starts_like_zip(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(4) in _ZIP_SIGNATURES
    except OSError:
        return False  # read_limited says what is wrong with it


def _too_large() -> ImportInvalid:
    size = MAX_FOREIGN_BYTES // (1024 * 1024)
    return ImportInvalid(
        tr("foreign.file.tooLarge", size=size),
        fields={"file": [tr("foreign.file.tooLargeField", size=size)]},
    )


def _member_too_large(name: str) -> ImportInvalid:
    size = MAX_FOREIGN_BYTES // (1024 * 1024)
    return ImportInvalid(
        tr("foreign.file.memberTooLarge", name=name, size=size),
        fields={name: [tr("foreign.file.tooLargeField", size=size)]},
    )


def _zip_problem(problem: str) -> ImportInvalid:
    return ImportInvalid(problem, fields={"file": [problem]})
