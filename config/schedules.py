"""Schedule expressions and maintenance windows, read the way AWS reads them.

Scheduled scaling (Application Auto Scaling) takes ``cron(...)``, ``rate(...)`` and ``at(...)``
expressions in EventBridge's syntax (Application Auto Scaling User Guide, "Schedule recurring
scaling actions using cron expressions"; EventBridge User Guide, "Cron expressions reference"):
six fields, ``?`` in exactly one of day-of-month and day-of-week, and field ranges and wildcards
as tabled below. Time zones are IANA names (AWS reads them with Joda-Time). RDS windows are
``hh24:mi-hh24:mi`` (backup, UTC) and ``ddd:hh24:mi-ddd:hh24:mi`` (maintenance), each at least
30 minutes, and they must not overlap (Amazon RDS API Reference, CreateDBCluster).

Every function returns problems as (what is wrong, how to fix it) pairs; empty means valid.
"""

from __future__ import annotations

import datetime
import difflib
import functools
import re
from dataclasses import dataclass

Problems = list[tuple[str, str]]

MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")


@dataclass(frozen=True)
class CronField:
    name: str
    low: int
    high: int
    #: Wildcards allowed besides digits: , - * / ? L W #
    wildcards: str
    names: tuple[str, ...] = ()


CRON_FIELDS = (
    CronField("minutes", 0, 59, ",-*/"),
    CronField("hours", 0, 23, ",-*/"),
    CronField("day-of-month", 1, 31, ",-*?/LW"),
    CronField("month", 1, 12, ",-*/", MONTHS),
    CronField("day-of-week", 1, 7, ",-*?L#", WEEKDAYS),
    CronField("year", 1970, 2199, ",-*/"),
)
_EXAMPLE = "cron(0 19 ? * MON-FRI *)"


def _value(text: str, field: CronField) -> int | None:
    """One value of a field: a number in range, or a month or weekday name."""
    upper = text.upper()
    if field.names and upper in field.names:
        return field.names.index(upper) + 1
    if text.isdigit() and field.low <= int(text) <= field.high:
        return int(text)
    return None


def _describe(field: CronField) -> str:
    names = f" or {field.names[0]}-{field.names[-1]}" if field.names else ""
    return f"{field.low}-{field.high}{names}"


def _check_part(part: str, field: CronField) -> str | None:
    """What is wrong with one comma-separated part of a cron field (None: nothing)."""
    bad = sorted(set(re.sub(r"[A-Za-z0-9]", "", part)) - set(field.wildcards))
    if bad:
        return f"uses {''.join(bad)!r}, which the {field.name} field does not allow (it allows {field.wildcards})"
    if part in ("*", "?"):
        return None
    if field.name == "day-of-month" and re.fullmatch(r"L|LW|\d{1,2}W", part):
        day = part.rstrip("W")
        return None if day in ("L", "") or 1 <= int(day) <= 31 else f"names day {day}, outside 1-31"
    if field.name == "day-of-week":
        if re.fullmatch(r"[1-7]L|[A-Za-z]{3}L|L", part):
            return None if part == "L" or _value(part[:-1], field) else f"{part!r} is not a weekday"
        if "#" in part:
            day, _, nth = part.partition("#")
            if _value(day, field) is None or not nth.isdigit() or not 1 <= int(nth) <= 5:
                return f"{part!r} must be weekday#n with n from 1 to 5, e.g. MON#1"
            return None
    base, slash, step = part.partition("/")
    if slash:
        if not step.isdigit() or int(step) == 0:
            return f"{part!r} needs a positive step after '/', e.g. 0/15"
        if base in ("*", "?"):
            return None
    start, dash, end = base.partition("-")
    if _value(start, field) is None or (dash and _value(end, field) is None):
        return f"{part!r} is outside {_describe(field)}"
    if dash and field.name == "year" and int(start) > int(end):
        return f"{part!r} runs backwards"
    return None


def cron(expression: str) -> Problems:
    """Problems of the inside of ``cron(...)``."""
    fields = expression.split()
    if len(fields) != len(CRON_FIELDS):
        return [
            (
                f"has {len(fields)} fields, but AWS cron has 6: minutes hours day-of-month month day-of-week year",
                f"write it like {_EXAMPLE} (the year is the 6th field)",
            )
        ]
    found: Problems = []
    for text, field in zip(fields, CRON_FIELDS, strict=True):
        for part in text.split(","):
            wrong = _check_part(part, field) if part else f"has an empty part in {text!r}"
            if wrong:
                found.append((f"{field.name} field {wrong}", f"write it like {_EXAMPLE}"))
        if "#" in text and "," in text:
            found.append(("day-of-week field combines '#' with ','", "use one weekday#n only, e.g. MON#1"))
    day_of_month, day_of_week = fields[2], fields[4]
    if (day_of_month == "?") == (day_of_week == "?"):
        minute_hour, month, year = " ".join(fields[:2]), fields[3], fields[5]
        by_week = f"cron({minute_hour} ? {month} {day_of_week if day_of_week != '?' else '*'} {year})"
        by_month = f"cron({minute_hour} {day_of_month if day_of_month != '?' else '*'} {month} ? {year})"
        found.append(
            (
                "must have '?' in exactly one of day-of-month and day-of-week",
                f"use '?' for the one you do not restrict: {by_week} or {by_month}",
            )
        )
    return found


_RATE_UNITS = ("minute", "minutes", "hour", "hours", "day", "days")


def rate(expression: str) -> Problems:
    """Problems of the inside of ``rate(...)``: a positive whole number and a unit."""
    parts = expression.split()
    if len(parts) != 2 or not parts[0].isdigit() or int(parts[0]) < 1:
        return [("must be a positive whole number and a unit", "write it like rate(5 minutes) or rate(1 hour)")]
    value, unit = int(parts[0]), parts[1]
    if unit not in _RATE_UNITS:
        close = difflib.get_close_matches(unit, _RATE_UNITS, n=1)
        hint = close[0] if close else "minutes"
        return [(f"has the unit {unit!r}", f"use one of {', '.join(_RATE_UNITS)}, e.g. rate({value} {hint})")]
    # EventBridge reads a singular unit for 1 and a plural one otherwise.
    singular = unit.rstrip("s")
    wanted = singular if value == 1 else singular + "s"
    if unit != wanted:
        return [(f"says {value} {unit}", f"write rate({value} {wanted})")]
    return []


def at(expression: str) -> Problems:
    """Problems of the inside of ``at(...)``: one moment, yyyy-mm-ddThh:mm:ss."""
    try:
        datetime.datetime.strptime(expression, "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return [("is not a date and time yyyy-mm-ddThh:mm:ss", "write it like at(2030-01-31T18:00:00)")]
    return []


def schedule(expression: str) -> Problems:
    """Problems of a whole scheduled-scaling expression."""
    match = re.fullmatch(r"(cron|rate|at)\((.*)\)", expression.strip())
    if match is None or expression != expression.strip():
        return [
            (
                "is not cron(...), rate(...) or at(...)",
                f"write it like {_EXAMPLE}, rate(1 hour) or at(2030-01-31T18:00:00)",
            )
        ]
    kind, inside = match[1], match[2]
    return {"cron": cron, "rate": rate, "at": at}[kind](inside)


@functools.cache
def time_zones() -> frozenset[str]:
    """IANA zone names, from the pinned tzdata package (so every machine agrees)."""
    from importlib import resources

    zones = resources.files("tzdata").joinpath("zones").read_text().split()
    # "Factory" is tzdata's placeholder, not a place; AWS's Joda-Time has no such zone.
    return frozenset(zones) - {"Factory"}


def time_zone(name: str) -> Problems:
    if name in time_zones():
        return []
    close = difflib.get_close_matches(name, sorted(time_zones()), n=1, cutoff=0.6)
    fix = f"use {close[0]!r}" if close else "use an IANA name such as 'Europe/Amsterdam' or 'UTC'"
    return [("is not an IANA time zone", fix)]


# --- RDS windows ---

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINIMUM_WINDOW_MINUTES = 30
_WEEK = 7 * 24 * 60


def _minutes(clock: str) -> int | None:
    match = re.fullmatch(r"(\d{2}):(\d{2})", clock)
    if match is None or int(match[1]) > 23 or int(match[2]) > 59:
        return None
    return int(match[1]) * 60 + int(match[2])


def daily_window(text: str) -> tuple[Problems, tuple[int, int] | None]:
    """A backup window hh24:mi-hh24:mi (UTC): its problems, and (start, end) minutes of the day."""
    start_text, dash, end_text = text.partition("-")
    start, end = _minutes(start_text), _minutes(end_text)
    if not dash or start is None or end is None:
        return [("is not a window hh24:mi-hh24:mi (UTC, 24-hour clock)", "write it like '03:00-04:00'")], None
    length = (end - start) % (24 * 60)
    if length < MINIMUM_WINDOW_MINUTES:
        later = (start + MINIMUM_WINDOW_MINUTES) % (24 * 60)
        return [
            (
                f"is {length} minutes long, but RDS needs at least {MINIMUM_WINDOW_MINUTES}",
                f"end it at {later // 60:02d}:{later % 60:02d} or later",
            )
        ], None
    return [], (start, end)


def weekly_window(text: str) -> tuple[Problems, tuple[int, int] | None]:
    """A maintenance window ddd:hh24:mi-ddd:hh24:mi (UTC): problems, and (start, end) minutes of the week."""
    match = re.fullmatch(r"([A-Za-z]{3}):(\d{2}:\d{2})-([A-Za-z]{3}):(\d{2}:\d{2})", text)
    example = "write it like 'sun:04:30-sun:05:30'"
    if match is None:
        return [("is not a window ddd:hh24:mi-ddd:hh24:mi (UTC, 24-hour clock)", example)], None
    found: Problems = []
    bounds = []
    for day, clock in ((match[1], match[2]), (match[3], match[4])):
        minutes = _minutes(clock)
        if day not in DAYS:
            # RDS stores the days in lower case; another spelling would show as a change on every plan.
            close = [day.lower()] if day.lower() in DAYS else difflib.get_close_matches(day.lower(), DAYS, n=1)
            found.append((f"names the day {day!r}", f"use {close[0]!r}" if close else f"use one of {', '.join(DAYS)}"))
        elif minutes is None:
            found.append((f"has the time {clock!r}, not hh24:mi", example))
        else:
            bounds.append(DAYS.index(day) * 24 * 60 + minutes)
    if found:
        return found, None
    start, end = bounds
    length = (end - start) % _WEEK
    if length < MINIMUM_WINDOW_MINUTES:
        later = (start + MINIMUM_WINDOW_MINUTES) % _WEEK
        day, minute = divmod(later, 24 * 60)
        return [
            (
                f"is {length} minutes long, but RDS needs at least {MINIMUM_WINDOW_MINUTES}",
                f"end it at {DAYS[day]}:{minute // 60:02d}:{minute % 60:02d} or later",
            )
        ], None
    return [], (start, end)


def windows_overlap(daily: tuple[int, int], weekly: tuple[int, int]) -> bool:
    """Whether a daily window (minutes of the day) meets a weekly one (minutes of the week) on any day."""

    def spans(start: int, end: int, period: int) -> list[tuple[int, int]]:
        return [(start, end)] if end > start else [(start, period), (0, end)]

    weekly_spans = spans(*weekly, _WEEK)
    for day in range(7):
        for start, end in spans(*daily, 24 * 60):
            a, b = day * 24 * 60 + start, day * 24 * 60 + end
            if any(a < w_end and w_start < b for w_start, w_end in weekly_spans):
                return True
    return False
