"""Date-time strings as Qdrant's core reads them (payload values and range bounds).

Accepted: ``YYYY-MM-DD``, ``YYYY-MM-DD[T| ]HH:MM``, ``...:SS``, ``...:SS.fraction``, the
last two optionally followed by an offset (``Z``/``z``, ``+HH:MM``, ``+HHMM``, ``+HH``, with or
without one space before it, or `` UTC``); leading white space is skipped, fractions beyond
microseconds are cut. No offset means UTC. Anything else (week dates, ``YYYYMMDD``, a bare
hour) is not a date-time, as in Qdrant (Python's ``fromisoformat`` would take more).
"""

from __future__ import annotations

import datetime as dt
import re
from functools import lru_cache

_DATE = r"(\d{4})-(\d{2})-(\d{2})"
_TIME = r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?"
_OFFSET = r"(?: ?(?:(Z)|([+-])(\d{2})(?::?(\d{2}))?))?"
_PATTERN = re.compile(_DATE + _TIME + _OFFSET)


@lru_cache(maxsize=65536)
def parse_datetime(value: str) -> float | None:
    """UTC timestamp (seconds) of a date-time string, or ``None`` if it is not one."""
    s = value.lstrip()
    if s.endswith(" UTC"):
        s = s[:-4] + "Z"
    elif s.endswith("z"):
        s = s[:-1] + "Z"
    m = _PATTERN.fullmatch(s)
    if m is None:
        return None
    y, mo, d, hh, mi, ss, frac, z, sign, oh, om = m.groups()
    if (z or sign) and ss is None:
        return None  # an offset needs seconds (Qdrant's formats)
    micro = int((frac or "0")[:6].ljust(6, "0"))
    offset = dt.UTC
    if sign is not None:
        minutes = int(oh) * 60 + int(om or 0)
        if int(oh) > 23 or int(om or 0) > 59:
            return None
        offset = dt.timezone(dt.timedelta(minutes=minutes if sign == "+" else -minutes))
    try:
        t = dt.datetime(
            int(y), int(mo), int(d), int(hh or 0), int(mi or 0), int(ss or 0), micro, offset
        )
    except ValueError:
        return None
    return t.timestamp()
