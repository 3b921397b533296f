"""Local days and months: which UTC instants a day of a time zone starts and ends at.

A `Zone` is an IANA time zone (`zoneinfo`) or, by default, the operating system's own rules
(the local time `time.localtime` gives, which is what the rest of the computer shows). Both
handle daylight saving: a local day is 23, 24 or 25 hours long, and starts at the first instant
whose local date is that day (a zone that skips midnight starts its day at 01:00).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from backend.errors import InvalidConfig
from backend.i18n import tr


class Zone:
    """A time zone: an IANA one, or the operating system's (`tz` None)."""

    def __init__(self, tz: tzinfo | None, name: str) -> None:
        self._tz = tz
        self.name = name

    def local(self, moment: datetime) -> datetime:
        """An aware instant as local time in this zone."""
        return moment.astimezone(self._tz) if self._tz is not None else moment.astimezone()

    def day_of(self, moment: datetime) -> date:
        """The local date of an instant."""
        return self.local(moment).date()

    def from_local(self, naive: datetime) -> datetime:
        """A local wall-clock time (naive) as an instant in UTC."""
        aware = naive.replace(tzinfo=self._tz) if self._tz is not None else naive.astimezone()
        return aware.astimezone(UTC)

    def start_of(self, day: date) -> datetime:
        """The first instant (UTC) whose local date is `day`."""
        start = self.from_local(datetime(day.year, day.month, day.day))
        # Where midnight does not exist (skipped by a clock change) the guess may land on the
        # day before or after: step by quarter-hours to the first instant of `day`.
        while self.day_of(start) >= day:
            start -= timedelta(minutes=15)
        while self.day_of(start) < day:
            start += timedelta(minutes=15)
        return start

    def month_start(self, moment: datetime) -> datetime:
        """The first instant (UTC) of the local month of `moment`."""
        return self.start_of(self.day_of(moment).replace(day=1))

    def days(self, since: datetime, until: datetime) -> Iterator[tuple[date, datetime, datetime]]:
        """Each local day touching [since, until): its date and its part of the period."""
        day = self.day_of(since)
        while True:
            start = max(self.start_of(day), since)
            if start >= until:
                return
            end = min(self.start_of(day + timedelta(days=1)), until)
            yield day, start, end
            day += timedelta(days=1)


def named(name: str) -> Zone:
    """The IANA zone `name` (INVALID_CONFIG naming `timezone` when there is none)."""
    try:
        return Zone(ZoneInfo(name), name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidConfig(
            tr("usage.unknownZone", name=name[:64]),
            fields={"timezone": [tr("usage.unknownZoneField")]},
        ) from None


def system() -> Zone:
    """The operating system's zone, named by its IANA name where that can be found."""
    return Zone(None, _system_name() or "local")


def _system_name() -> str | None:
    """The IANA name of the system's zone: $TZ, or what /etc/localtime links to."""
    name = os.environ.get("TZ", "").removeprefix(":")
    if not name:
        try:
            target = str(Path("/etc/localtime").resolve())
        except OSError:
            return None
        _, found, name = target.partition("zoneinfo/")
        if not found:
            return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None
    return name
