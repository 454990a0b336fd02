"""Dates are written with Babel's patterns and names, without Babel's whole CLDR data:
the names a date needs are in translations/dates.json (app.i18n.day)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest
from babel.dates import format_date
from flask_babel import force_locale

from app import i18n
from devtools import translations

ROOT = Path(__file__).resolve().parent.parent
JOB_QUEUE = "memory"
# Every form without a time of day: what `day` writes.
DATE_FORMS = ("short", "medium", "long", "day_month")
YEAR = [date(2026, 1, 1) + timedelta(days=n) for n in range(0, 366, 5)]


@pytest.mark.parametrize("code", i18n.languages())
def test_every_date_is_written_as_babel_writes_it(app, code):
    with app.test_request_context(), force_locale(code):
        for form in DATE_FORMS:
            pattern = str(i18n.FORMATS[form])
            for day in YEAR:
                assert i18n.day(day, form) == format_date(day, pattern, locale=code)


def test_a_pattern_asking_for_more_than_the_names_still_gets_babels_answer():
    # The era (G) is among the names; the week of the year (w) needs the language's
    # week data, which is not: Babel's own data answers.
    pattern = "EEEE, d MMMM y G, 'week' w"
    with pytest.raises(KeyError):
        format_date(date(2026, 12, 12), pattern, locale=i18n._date_locale("en"))
    for code in i18n.languages():
        assert i18n.written(date(2026, 12, 12), pattern, code) == format_date(
            date(2026, 12, 12), pattern, locale=code
        )


def test_the_names_are_babels_for_every_language():
    """translations/dates.json is what `python -m devtools.translations dates` writes
    from the Babel this project pins, for English and every catalogue."""
    with open(i18n.DATES, encoding="utf-8") as f:
        shipped = json.load(f)
    assert shipped == translations.date_names()
    assert set(shipped) == set(i18n.languages())


def test_writing_dates_loads_no_cldr_data():
    """In a fresh process, a due date in English and in German costs a few KiB, not
    the 4 MiB of CLDR data Babel loads for its first date (its global data to find the
    language's parent, then the root and the language)."""
    script = """
import tracemalloc
from datetime import date
from app import create_worker_app, i18n
from flask_babel import force_locale
app = create_worker_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})
tracemalloc.start()
with app.app_context():
    for code in ("en", "de"):
        with force_locale(code):
            i18n.day(date(2026, 12, 12), "short")
print(tracemalloc.get_traced_memory()[0])
"""
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert int(done.stdout.split()[-1]) < 256 * 1024, done.stdout
