"""Times as the API takes them: seconds (number or numeric string) or "MM:SS" / "HH:MM:SS"."""

from __future__ import annotations

import math
import re

_CLOCK = re.compile(r"^(?:(\d{1,3}):)?(\d{1,2}):(\d{1,2}(?:\.\d+)?)$")
MAX_SECONDS = 7 * 24 * 3600  # a week: longer than any real video, small enough to stay exact


def parse_seconds(value: object, field: str) -> float | None:
    """Seconds as a float (None stays None); ValueError with a readable message otherwise."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(f"{field} must be a number of seconds or MM:SS / HH:MM:SS")
    if isinstance(value, (int, float)):
        try:
            seconds = float(value)
        except OverflowError:  # an integer beyond float's range: JSON numbers may have any number of digits
            raise ValueError(f"{field} must be at most {MAX_SECONDS} seconds") from None
    elif isinstance(value, str):
        text = value.strip()
        match = _CLOCK.match(text)
        if match:
            hours, minutes, secs = match.groups()
            if int(minutes) >= 60 and hours is not None or float(secs) >= 60:
                raise ValueError(f"{field} is not a valid time: {value!r}")
            seconds = int(hours or 0) * 3600 + int(minutes) * 60 + float(secs)
        else:
            try:
                seconds = float(text)
            except ValueError:
                raise ValueError(f"{field} must be a number of seconds or MM:SS / HH:MM:SS, got {value!r}") from None
    else:
        raise ValueError(f"{field} must be a number of seconds or MM:SS / HH:MM:SS")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"{field} must be a finite, non-negative number of seconds")
    if seconds > MAX_SECONDS:
        raise ValueError(f"{field} must be at most {MAX_SECONDS} seconds")
    return int(seconds) if seconds.is_integer() else seconds
