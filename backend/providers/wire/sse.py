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

The work is linear in the bytes fed, however long a line is and however finely it is split:
only the newly read bytes are searched for line endings, and the unfinished line a read leaves
is appended to one growing buffer, never re-joined or re-scanned, then decoded from it once
complete. A CR ending one read and an LF starting the next are one line ending, not two.

Memory is bounded too. An event whose data (the bytes of its `data` values, plus the LFs that
join them) would exceed `max_event_bytes`, or any other line (a comment, another field) longer
than that, makes `feed()` raise `SSEEventTooLarge` as soon as the excess arrives, even mid-line,
rather than buffering without end. The stream cannot go on after that: every later `feed()` or
`close()` raises again.

One deliberate departure, at end of stream: the spec discards an event that was not ended by a
blank line. Some providers close the stream right after their last `data:` line, and that line
may carry the final chunk (finish reason, usage) or `[DONE]`, so `close()` dispatches such a
trailing event instead. A stream cut in the middle of a JSON object still fails loudly later,
when the adapter cannot parse the data.
"""

from __future__ import annotations

from typing import NamedTuple

from backend.i18n import tr

DEFAULT_MAX_EVENT_BYTES = 8 * 1024 * 1024

_BOM = b"\xef\xbb\xbf"
_DATA = b"data:"


class SSEEvent(NamedTuple):
    """One dispatched event: its type, its data, and the stream's last event id."""

    event: str
    data: str
    id: str = ""
    retry: int | None = None


class SSEEventTooLarge(ValueError):
    """The stream sent an event, or a line, larger than the parser accepts."""

    def __init__(self, limit: int) -> None:
        super().__init__(limit)  # `args` stays what the constructor takes, so it pickles
        self.limit = limit

    def __str__(self) -> str:
        return tr("upstream.received.eventTooLarge", size=_size(self.limit))


class SSEParser:
    """Feed bytes with `feed()`, end with `close()`; both return the events completed.

    `max_event_bytes` bounds the data of one event, counted in bytes as received (values
    plus the LFs joining them), and the length of every line but a `data:` one, which its
    value counts for. Past it, `feed()` raises `SSEEventTooLarge`, and so does every later
    call.
    """

    def __init__(self, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> None:
        if max_event_bytes < 1:
            raise ValueError(f"max_event_bytes must be positive, not {max_event_bytes}")
        self._max = max_event_bytes
        self._cap = max_event_bytes + 1  # `_data_bytes` counts an LF after every data line
        self._line = bytearray()  # the unterminated line, carried over from read to read
        self._skip_lf = False  # the previous read ended in CR: a leading LF belongs to it
        self._at_start = True
        self._too_large = False
        self._data: list[str] = []
        self._data_bytes = 0  # the size of `_data` as received, plus one LF per line
        self._event = ""
        self._last_id = ""
        self._retry: int | None = None

    @property
    def retry(self) -> int | None:
        """The reconnection time the stream asked for, in milliseconds, if any."""
        return self._retry

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """Parse one network read and return the events it completed."""
        if self._too_large:
            raise SSEEventTooLarge(self._max)
        if not chunk:
            return []  # keeps a pending CR-then-LF check for the next real read
        if (
            chunk.startswith(_DATA)
            and chunk.endswith(b"\n\n")
            and not self._line
            and not self._data
            and not self._skip_lf
            and chunk.count(b"\n") == 2
            and b"\r" not in chunk
        ):
            # The usual read: exactly one single-line event, as most servers flush them.
            self._at_start = False
            value = chunk[6:-2] if chunk[5:6] == b" " else chunk[5:-2]
            if len(value) > self._max:
                self._fail()
            event = SSEEvent(
                self._event or "message",
                value.decode("utf-8", "replace"),
                self._last_id,
                self._retry,
            )
            self._event = ""
            return [event]
        if self._at_start:
            if self._line:
                chunk = bytes(self._line) + chunk  # at most two bytes of a possible BOM
                self._line.clear()
            if len(chunk) < len(_BOM) and _BOM.startswith(chunk):
                self._line += chunk  # too short yet to tell whether it starts with a BOM
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
        lines = chunk.split(b"\n")
        rest = lines.pop()  # the start of a line that a later read will end
        events: list[SSEEvent] = []
        if self._line and lines:
            # This read ends the line carried over: finish it where it was collected.
            self._line += lines[0]
            del lines[0]
            self._take_carried_line()
        for line in lines:
            if not line:
                if self._data:
                    events.append(self._dispatch())
                else:
                    self._event = ""
            elif line.startswith(_DATA):
                # The hot path: nearly every line a provider sends.
                value = line[6:] if line[5:6] == b" " else line[5:]
                self._data_bytes += len(value) + 1
                if self._data_bytes > self._cap:
                    self._fail()
                self._data.append(value.decode("utf-8", "replace"))
            elif len(line) > self._max:
                self._fail()
            elif line[0] != 0x3A:  # not a ":" comment
                self._field(line.decode("utf-8", "replace"))
        if rest:
            self._line += rest
            if len(self._line) + self._data_bytes > self._max:  # cheap: it could not fit
                self._check_unfinished_line()
        return events

    def close(self) -> list[SSEEvent]:
        """End of stream: flush what is left, including an event missing its blank line."""
        if self._too_large:
            raise SSEEventTooLarge(self._max)
        events = self.feed(b"\n") if self._line or self._at_start else []
        if self._data:
            events.append(self._dispatch())
        return events

    def _take_carried_line(self) -> None:
        """Handle the line completed in `_line`, copying it no more: it may be megabytes."""
        line = self._line
        self._line = bytearray()
        if line.startswith(_DATA):
            del line[: 6 if line[5:6] == b" " else 5]  # a bytearray drops a prefix in place
            self._data_bytes += len(line) + 1
            if self._data_bytes > self._cap:
                self._fail()
            self._data.append(line.decode("utf-8", "replace"))
        elif len(line) > self._max:
            self._fail()
        elif line[0] != 0x3A:  # not a ":" comment; never blank, as something was carried
            self._field(line.decode("utf-8", "replace"))

    def _check_unfinished_line(self) -> None:
        """Fail early, mid-line, once the line still arriving is already too large."""
        line = self._line
        if line.startswith(_DATA):
            value = len(line) - (6 if line[5:6] == b" " else 5)
            if self._data_bytes + value + 1 > self._cap:
                self._fail()
        elif len(line) > self._max:
            self._fail()

    def _fail(self) -> None:
        # Drop what was buffered: the stream is unusable now, and the memory may be large.
        self._too_large = True
        self._line = bytearray()
        self._data = []
        self._data_bytes = 0
        raise SSEEventTooLarge(self._max)

    def _field(self, line: str) -> None:
        name, colon, value = line.partition(":")
        if colon and value[:1] == " ":
            value = value[1:]
        if name == "data":
            # "data" without a colon: an empty data line, still joined with an LF.
            self._data_bytes += len(value.encode()) + 1
            if self._data_bytes > self._cap:
                self._fail()
            self._data.append(value)
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
        self._data_bytes = 0
        self._event = ""
        return event


def _size(count: int) -> str:
    """A byte count for a message: whole MB or KB where it divides evenly (binary units)."""
    if count % (1024 * 1024) == 0:
        return f"{count // (1024 * 1024)} MB"
    if count % 1024 == 0:
        return f"{count // 1024} KB"
    return tr("upstream.size.bytes", count=count)
