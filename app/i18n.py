"""Their language (issue 12): every page and every mail in its reader's language and
time zone, with Flask-Babel.

- The languages are English, the source (every message is written in it), and each
  catalogue under translations/<code>/LC_MESSAGES/messages.po: adding a directory
  there adds a language to the account page's choice (docs/translations.md).
- A page speaks the signed-in user's `locale`; to anyone else, the best match of the
  browser's Accept-Language among the languages; else English. The JSON API is
  machine-facing and always English.
- A mail speaks its recipient's language and time zone, whoever's request or job
  composes it (`speaking_to`, in app.notifications.compose).
- Dates and moments are formatted with the patterns below, each a message of the
  catalogue, so a translator chooses how their language writes a date.
- The compiled catalogues (.mo) are not kept in git: `make` compiles them, and so does
  the app at start (`compiled_directory`) when one is missing or older than its .po.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, date, datetime
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

from babel import Locale
from babel.localedata import LocaleDataDict
from flask import Flask, g, has_app_context, has_request_context, request
from flask_babel import Babel, force_locale, get_locale, get_translations, refresh
from flask_babel import lazy_gettext as _l

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRANSLATIONS = os.path.join(ROOT, "translations")
DOMAIN = "messages"
SOURCE = "en"  # the language every message is written in
UTC_NAME = "UTC"

babel = Babel()


def N_(message: str) -> str:
    """A message of the catalogue kept in English where it is declared (a table built
    at import), and translated with gettext where it is shown. Babel extracts N_."""
    return message


# How dates and moments are written: Babel (CLDR) patterns, each a message, so that
# a translation chooses its language's order and punctuation. The English ones give
# what the pages always said ("Sat 12 Dec", "12 Dec 2025, 14:03 UTC").
FORMATS = {
    # NOTE: a date pattern (Babel/CLDR): EEE the weekday, d the day, MMM the month,
    # abbreviated. English: "Sat 12 Dec".
    "short": _l("EEE d MMM"),
    # NOTE: a date pattern (Babel/CLDR), with the year (y). English: "Sat 12 Dec 2025".
    "medium": _l("EEE d MMM y"),
    # NOTE: a date pattern (Babel/CLDR), the month in full (MMMM). English: "Sat 12
    # December 2025".
    "long": _l("EEE d MMMM y"),
    # NOTE: a date pattern (Babel/CLDR), day and month only. English: "12 Dec".
    "day_month": _l("d MMM"),
    # NOTE: a date-and-time pattern (Babel/CLDR): HH:mm the time, z the time zone.
    # English: "12 Dec 2025, 14:03 UTC".
    "moment": _l("d MMM y, HH:mm z"),
    # NOTE: a date-and-time pattern (Babel/CLDR), the month in full. English: "12
    # December 2025, 14:03 UTC".
    "moment_long": _l("d MMMM y, HH:mm z"),
}


# -- the languages ---------------------------------------------------------------


@cache
def languages() -> tuple[str, ...]:
    """The language codes shipped: English first, then every catalogue's."""
    found = []
    if os.path.isdir(TRANSLATIONS):
        for code in sorted(os.listdir(TRANSLATIONS)):
            if os.path.isfile(_po(code)):
                found.append(code)
    return (SOURCE, *[code for code in found if code != SOURCE])


def language_names() -> dict[str, str]:
    """Each language by its own name ("Deutsch"), for the account page's choice."""
    from babel import Locale

    return {code: Locale.parse(code).get_display_name(code).capitalize() for code in languages()}


def known_locale(code: object) -> str | None:
    """`code` if it is a language we ship, else None."""
    return code if isinstance(code, str) and code in languages() else None


def best_match(accept_languages) -> str:
    """The shipped language an Accept-Language header prefers (werkzeug's
    LanguageAccept, which also matches "de-AT" to "de"); English if none."""
    return accept_languages.best_match(languages()) or SOURCE


def locale_of(user) -> str:
    return known_locale(getattr(user, "locale", None)) or SOURCE


# -- time zones ------------------------------------------------------------------


@cache
def zones() -> tuple[str, ...]:
    """Every IANA time zone a user may choose: known to zoneinfo and to pytz (which
    Flask-Babel's own formatting uses), sorted."""
    import pytz

    return tuple(sorted(available_timezones() & set(pytz.all_timezones_set)))


def known_zone(name: object) -> str | None:
    """`name` if it is an IANA time zone we can use, else None."""
    return name if isinstance(name, str) and name in _zone_set() else None


@cache
def _zone_set() -> frozenset[str]:
    return frozenset(zones())


def zone_name_of(user) -> str:
    return known_zone(getattr(user, "time_zone", None)) or UTC_NAME


def zone_name() -> str:
    """The time zone moments are shown in now: the recipient's while a mail is
    composed (`speaking_to`), else the signed-in user's, else UTC."""
    if has_app_context():
        forced = g.get("mooch_zone")
        if forced:
            return forced
    if has_request_context():
        user = _signed_in()
        if user is not None:
            return zone_name_of(user)
    return UTC_NAME


# -- selectors -------------------------------------------------------------------


def _machine_facing() -> bool:
    return request.path.startswith("/api/")


def _signed_in():
    """The signed-in user of this request, or None (Flask-Login loads it once per
    request; imported here so that a worker process never loads Flask-Login)."""
    from flask import current_app

    if not hasattr(current_app, "login_manager"):  # the worker's app has no logins
        return None
    from flask_login import current_user

    try:
        return current_user if current_user.is_authenticated else None
    except Exception:  # a lost database: the page still renders
        return None


def select_locale() -> str | None:
    if not has_request_context():
        return None  # the default, English: commands, the worker outside a mail
    if _machine_facing():
        return SOURCE
    user = _signed_in()
    if user is not None:
        return locale_of(user)
    return best_match(request.accept_languages)


def select_zone() -> str | None:
    if has_app_context() and g.get("mooch_zone"):
        return g.mooch_zone
    if not has_request_context() or _machine_facing():
        return None
    return zone_name()


# The language a `speaking_to` block speaks, as (its code, its catalogue), for this
# thread. Flask-Babel finds the catalogue again for every message through `g`, about
# ten context lookups each (a quarter of the function calls of composing a mail); a
# mail knows its reader's before its first message.
_speaking: ContextVar[tuple[str, object] | None] = ContextVar("mooch_speaking", default=None)


@contextmanager
def speaking_to(user) -> Iterator[None]:
    """The block speaks `user`'s language and shows moments in `user`'s time zone,
    whatever the request or job around it: a mail is written for its recipient."""
    previous = g.get("mooch_zone") if has_app_context() else None
    with force_locale(locale_of(user)):
        if has_app_context():
            g.mooch_zone = zone_name_of(user)
            refresh()  # Flask-Babel's cached zone; force_locale keeps the locale
        speaking = _speaking.set((str(get_locale() or SOURCE), get_translations()))
        try:
            yield
        finally:
            _speaking.reset(speaking)
            if has_app_context():
                if previous:
                    g.mooch_zone = previous
                else:
                    g.pop("mooch_zone", None)
    refresh()  # what the block cached is not the request's


def current_locale() -> str:
    speaking = _speaking.get()
    return speaking[0] if speaking else str(get_locale() or SOURCE)


def translations():
    """The catalogue being spoken: the `speaking_to` block's, else Flask-Babel's
    choice for the request (an empty one outside any)."""
    speaking = _speaking.get()
    return speaking[1] if speaking else get_translations()


def lower_first(text: str) -> str:
    """The first letter in lower case, the rest as it is: a phrase put inside a
    sentence ("Jemand nimmt an" → "jemand nimmt an"; `lower` would also lower German
    nouns)."""
    return text[:1].lower() + text[1:]


def upper_first(text: str) -> str:
    """The first letter in upper case, the rest as it is (not `capitalize`, which
    lowers the rest: German nouns keep their capitals)."""
    return text[:1].upper() + text[1:]


# -- dates -----------------------------------------------------------------------


def day(value: date | datetime | None, form: str = "short") -> str:
    """A calendar date (a due date) as the current language writes it: FORMATS[form].
    A date has no time zone; a datetime is first taken to the reader's zone."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = _zoned(value).date()
    return written(value, str(FORMATS[form]), current_locale())


def written(value: date, pattern: str, code: str) -> str:
    """`value` written by Babel with `pattern` in language `code`, from the language's
    DATE_NAMES; a pattern that asks for more (a week number) from Babel's own data."""
    from babel.dates import format_date

    try:
        return format_date(value, pattern, locale=_date_locale(code))
    except KeyError:
        return format_date(value, pattern, locale=code)


# What a date pattern writes with, beyond numbers (translations/dates.json).
DATE_NAMES = ("days", "months", "quarters", "eras")
DATES = os.path.join(TRANSLATIONS, "dates.json")


@cache
def _date_locale(code: str):
    """Babel's Locale for `code` holding only its DATE_NAMES, from
    translations/dates.json (Babel's own CLDR names, which `devtools.translations
    update` writes there), or `code` itself for a language the file lacks. Babel
    loads the whole of a language's CLDR data for its first date, and its global data
    to find the language's parent: 4 MiB a process for English alone, in every worker
    that writes a due date into a mail. The names are a few KiB."""
    from babel.core import parse_locale

    names = _date_names().get(code)
    return _DateNames(names, *parse_locale(code)) if names else code


@cache
def _date_names() -> dict:
    """translations/dates.json, read once; empty if it is missing."""
    import json

    try:
        with open(DATES, encoding="utf-8") as f:
            return json.load(f, object_hook=_numbered)
    except OSError:
        return {}


class _DateNames(Locale):
    """A Babel Locale whose data is the names given, not the language's CLDR data."""

    def __init__(self, names: dict, *parts) -> None:
        super().__init__(*parts)
        self._names = LocaleDataDict(names)

    @property
    def _data(self) -> LocaleDataDict:
        return self._names


def _numbered(table: dict) -> dict:
    """JSON's keys are text; Babel looks a weekday, month or quarter up by number."""
    return {int(key) if key.isdigit() else key: value for key, value in table.items()}


def moment(value: datetime | None, form: str = "moment") -> str:
    """A moment (stored in UTC, naive) in the reader's time zone and language,
    its zone named: "12 Dec 2025, 14:03 UTC"."""
    from babel.dates import format_datetime

    if value is None:
        return ""
    return format_datetime(
        _zoned(value), str(FORMATS[form]), tzinfo=ZoneInfo(zone_name()), locale=current_locale()
    )


def _zoned(value: datetime) -> datetime:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(ZoneInfo(zone_name()))


# -- the catalogues --------------------------------------------------------------


def _po(code: str) -> str:
    return os.path.join(TRANSLATIONS, code, "LC_MESSAGES", f"{DOMAIN}.po")


def _stale(po: str, mo: str) -> bool:
    return not os.path.exists(mo) or os.path.getmtime(mo) < os.path.getmtime(po)


def compile_catalogues(directory: str = TRANSLATIONS) -> list[str]:
    """Compile every .po whose .mo is missing or older into `directory` (same layout),
    each written whole then renamed into place, so that processes starting together
    never read half a file. Returns the codes compiled."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    done = []
    for code in languages()[1:]:
        po = _po(code)
        mo = os.path.join(directory, code, "LC_MESSAGES", f"{DOMAIN}.mo")
        if not _stale(po, mo):
            continue
        with open(po, "rb") as source:
            catalog = read_po(source, locale=code, domain=DOMAIN)
        os.makedirs(os.path.dirname(mo), exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=os.path.dirname(mo), suffix=".mo.part")
        with os.fdopen(handle, "wb") as out:
            write_mo(out, catalog, use_fuzzy=False)
        os.chmod(temporary, 0o644)  # mkstemp's 0600 would hide it from another user
        os.replace(temporary, mo)
        done.append(code)
    return done


def compiled_directory() -> str:
    """Where the compiled catalogues are: translations/ itself, compiled there if
    `make` has not (a fresh clone, a Heroku build: nothing runs `make` there); or, where
    translations/ cannot be written (a read-only deploy), a directory of our own under
    the system's temporary one."""
    try:
        compile_catalogues(TRANSLATIONS)
        return TRANSLATIONS
    except OSError:
        fallback = os.path.join(tempfile.gettempdir(), f"mooch-translations-{os.getuid()}")
        compile_catalogues(fallback)
        return fallback


def init_app(app: Flask) -> None:
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", compiled_directory())
    babel.init_app(
        app,
        default_locale=SOURCE,
        default_timezone=UTC_NAME,
        locale_selector=select_locale,
        timezone_selector=select_zone,
    )
    # The tests keep one app context across many requests (and so one `g`): each
    # request chooses its language afresh, and leaves none behind.
    app.before_request(refresh)
    app.teardown_request(lambda exc: refresh())
    # Flask-Babel's own callables, reading the catalogue through `translations`.
    app.jinja_env.install_gettext_callables(
        gettext=lambda s: translations().ugettext(s),
        ngettext=lambda s, p, n: translations().ungettext(s, p, n),
        pgettext=lambda c, s: translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: translations().unpgettext(c, s, p, n),
        newstyle=True,
    )
    app.jinja_env.filters["lower_first"] = lower_first
    app.jinja_env.filters["upper_first"] = upper_first
    app.jinja_env.filters["day"] = day
    app.jinja_env.filters["moment"] = moment
    app.jinja_env.globals["current_locale"] = current_locale
    app.jinja_env.globals["current_zone"] = zone_name
