"""An incremental Server-Sent Events parser (WHATWG HTML, "Parsing an event stream").

Bytes go in exactly as the network delivers them, split anywhere (inside a line ending, inside
a multi-byte UTF-8 character); complete events come out. What the spec fixes is followed: CR,
LF and CRLF line endings, one leading U+FEFF dropped, comments ignored, `data` lines joined with
LF, one leading space stripped from a value, a line without a colon being a field with an empty
value, `id` (ignored when it contains NUL) and `retry` (ASCII digits only) fields, and dispatch on
a blank line only when some data was collected.

Lines are split on bytes and each complete line is decoded on its own: CR and LF never occur
inside a UTF-8 multi-byte sequence, so a character split across reads is always whole by the
time its line is, and no incremental decoder is needed on this hot path.

One deliberate departure, at end of stream: the spec discards an event that was not ended by a
blank line. Some providers close the stream right after their last `data:` line, and that line
may carry the final chunk (finish reason, usage) or `[DONE]`, so `close()` dispatches such a
trailing event instead. A stream cut in the middle of a JSON object still fails loudly later,
when the adapter cannot parse the data.
"""

from __future__ import annotations

from typing import NamedTuple

_BOM = b"\xef\xbb\xbf"


class SSEEvent(NamedTuple):
    """One dispatched event: its type, its data, and the stream's last event id."""

    event: str
    data: str
    id: str = ""
    retry: int | None = None


class SSEParser:
    """Feed bytes with `feed()`, end with `close()`; both return the events completed."""

    def __init__(self) -> None:
        self._tail = b""  # an unterminated line carried over to the next read
        self._skip_lf = False  # the previous read ended in CR: a leading LF belongs to it
        self._at_start = True
        self._data: list[str] = []
        self._event = ""
        self._last_id = ""
        self._retry: int | None = None

    @property
    def retry(self) -> int | None:
        """The reconnection time the stream asked for, in milliseconds, if any."""
        return self._retry

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """Parse one network read and return the events it completed."""
        if not chunk:
            return []  # keeps a pending CR-then-LF check for the next real read
        if (
            chunk.startswith(b"data:")
            and chunk.endswith(b"\n\n")
            and not self._tail
            and not self._data
            and not self._skip_lf
            and chunk.count(b"\n") == 2
            and b"\r" not in chunk
        ):
            # The usual read: exactly one single-line event, as most servers flush them.
            self._at_start = False
            value = chunk[6:-2] if chunk[5:6] == b" " else chunk[5:-2]
            event = SSEEvent(
                self._event or "message",
                value.decode("utf-8", "replace"),
                self._last_id,
                self._retry,
            )
            self._event = ""
            return [event]
        if self._at_start:
            chunk = self._tail + chunk
            self._tail = b""
            if len(chunk) < len(_BOM) and _BOM.startswith(chunk):
                self._tail = chunk  # too short yet to tell whether it starts with a BOM
                return []
            self._at_start = False
            if chunk.startswith(_BOM):
                chunk = chunk[len(_BOM) :]
        if self._skip_lf:
            self._skip_lf = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        if b"\r" in chunk:
            # A CR at the very end may be the first half of a CRLF split across reads.
            self._skip_lf = chunk.endswith(b"\r")
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = (self._tail + chunk if self._tail else chunk).split(b"\n")
        self._tail = lines.pop()
        events: list[SSEEvent] = []
        for line in lines:
            if not line:
                if self._data:
                    events.append(self._dispatch())
                else:
                    self._event = ""
            elif line.startswith(b"data:"):
                # The hot path: nearly every line a provider sends.
                value = line[6:] if line[5:6] == b" " else line[5:]
                self._data.append(value.decode("utf-8", "replace"))
            elif line[0] != 0x3A:  # not a ":" comment
                self._field(line.decode("utf-8", "replace"))
        return events

    def close(self) -> list[SSEEvent]:
        """End of stream: flush what is left, including an event missing its blank line."""
        events = self.feed(b"\n") if self._tail or self._at_start else []
        if self._data:
            events.append(self._dispatch())
        return events

    def _field(self, line: str) -> None:
        name, colon, value = line.partition(":")
        if colon and value[:1] == " ":
            value = value[1:]
        if name == "data":
            self._data.append(value)  # "data" without a colon: an empty data line
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self._last_id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self._retry = int(value)

    def _dispatch(self) -> SSEEvent:
        data = self._data[0] if len(self._data) == 1 else "\n".join(self._data)
        event = SSEEvent(self._event or "message", data, self._last_id, self._retry)
        self._data = []
        self._event = ""
        return event
