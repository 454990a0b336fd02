"""The translation catalogues: extract, update, compile, check (docs/translations.md).

    python -m devtools.translations update    extract every message into
                                              translations/messages.pot, then merge it
                                              into each language's messages.po
    python -m devtools.translations compile   each messages.po into its messages.mo
    python -m devtools.translations dates     Babel's day and month names of every
                                              language into translations/dates.json
                                              (update does it too; app.i18n.day)
    python -m devtools.translations check     exit 1, listing them, if a message of the
                                              source has no translation in a language
                                              (missing, empty or fuzzy), or a
                                              translation's placeholders do not match

`make translations` runs update, `make run` and `make test` compile first, and the
suite runs the check (tests/test_translations.py), so CI fails on a missing one.
One definition of what a message is (babel.cfg and the keywords below) serves all.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "translations"
TEMPLATE = TRANSLATIONS / "messages.pot"
CONFIG = ROOT / "babel.cfg"

# Beyond Babel's own (_, gettext, ngettext, pgettext...): the lazy ones, and `tr`, a
# message inside a notifier's one-line template (app/notifications/notifiers.py).
KEYWORDS = ("_l", "lazy_gettext", "lazy_ngettext:1,2", "tr")
# Comments for translators: `# NOTE: ...` in Python, `{# NOTE: ... #}` in templates.
COMMENT_TAG = "NOTE:"


def _babel(*argv: str) -> None:
    from babel.messages.frontend import CommandLineInterface

    CommandLineInterface().run(["pybabel", "-q", *argv])


def extract(output: Path | str = TEMPLATE) -> Path:
    """Every message of the source (app/, by babel.cfg) into the .pot `output`."""
    keywords = [arg for keyword in KEYWORDS for arg in ("-k", keyword)]
    _babel(
        "extract",
        "-F",
        str(CONFIG),
        *keywords,
        "-c",
        COMMENT_TAG,
        "--project",
        "Mooch",
        "--no-wrap",
        "--sort-by-file",
        "-o",
        str(output),
        str(ROOT / "app"),
    )
    # Paths relative to the repository, whatever directory it was run from.
    text = Path(output).read_text(encoding="utf-8").replace(f"{ROOT}/", "")
    Path(output).write_text(text, encoding="utf-8")
    return Path(output)


def languages(directory: Path = TRANSLATIONS) -> list[str]:
    return sorted(
        p.name for p in directory.iterdir() if (p / "LC_MESSAGES" / "messages.po").is_file()
    )


def date_names() -> dict:
    """For English and every catalogue's language, the names a date is written with
    (app.i18n.DATE_NAMES: days, months...), as Babel's CLDR data has them."""
    import json

    from babel import Locale

    from app.i18n import DATE_NAMES, SOURCE

    def plain(table):  # Babel's LocaleDataDict, its aliases followed, as JSON has it
        if hasattr(table, "items"):
            return {str(key): plain(value) for key, value in table.items()}
        return table

    names = {
        code: {name: plain(getattr(Locale.parse(code), name)) for name in DATE_NAMES}
        for code in [SOURCE, *languages()]
    }
    return json.loads(json.dumps(names))


def write_date_names() -> Path:
    import json

    from app.i18n import DATES

    with open(DATES, "w", encoding="utf-8") as f:
        json.dump(date_names(), f, ensure_ascii=False, indent=1, sort_keys=True)
        f.write("\n")
    return Path(DATES)


def update() -> None:
    """Extract, then merge the template into every language: new messages arrive
    untranslated, changed ones fuzzy (the check fails on both until a translator has
    been by), removed ones are kept at the end as obsolete (#~). Then every language's
    date names (write_date_names)."""
    extract()
    write_date_names()
    for code in languages():
        _babel(
            "update",
            "-i",
            str(TEMPLATE),
            "-d",
            str(TRANSLATIONS),
            "-l",
            code,
            "--no-wrap",
            "--ignore-obsolete",
        )


def compile_all() -> None:
    from app.i18n import compile_catalogues

    compiled = compile_catalogues()
    if compiled:
        print(f"compiled translations: {', '.join(compiled)}")


def problems(
    template: Path | str | None = None, directory: Path | str = TRANSLATIONS
) -> dict[str, list[str]]:
    """For each language, what is wrong with it against the source (a fresh
    extraction unless `template` is given): each message missing, untranslated or
    fuzzy, and each translation Babel's checks refuse (placeholders that differ)."""
    from babel.messages.pofile import read_po

    with tempfile.TemporaryDirectory() as scratch:
        pot = Path(template) if template else extract(Path(scratch) / "messages.pot")
        with open(pot, "rb") as f:
            source = read_po(f)
    found: dict[str, list[str]] = {}
    directory = Path(directory)
    for code in languages(directory):
        with open(directory / code / "LC_MESSAGES" / "messages.po", "rb") as f:
            catalog = read_po(f, locale=code)
        wrong = []
        for message in source:
            if not message.id:
                continue
            said = _said(message.id)
            ours = catalog.get(message.id, message.context)
            if ours is None:
                wrong.append(f"missing: {said}")
            elif ours.fuzzy:
                wrong.append(f"fuzzy: {said}")
            elif not (all(ours.string) if ours.pluralizable else ours.string):
                wrong.append(f"untranslated: {said}")
            if ours is not None and not ours.fuzzy:
                wrong += [f"placeholders {gap}: {said}" for gap in _brace_gaps(message, ours)]
        for message, errors in catalog.check():
            if message.id in source and not message.fuzzy:
                wrong += [f"refused ({error}): {_said(message.id)}" for error in errors]
        if wrong:
            found[code] = wrong
    return found


_BRACES = re.compile(r"\{(\w+)\}")


def _brace_gaps(source, ours) -> list[str]:
    """The {name} placeholders (str.format, as app.lending.words fills them) that a
    translation lacks or adds; Babel's own check covers %(name)s ones."""
    ids = source.id if isinstance(source.id, tuple) else (source.id,)
    strings = ours.string if isinstance(ours.string, tuple) else (ours.string,)
    wanted = set(_BRACES.findall(" ".join(ids)))
    gaps = []
    for string in strings:
        found = set(_BRACES.findall(string or ""))
        if found != wanted:
            gaps.append(f"{sorted(wanted)} != {sorted(found)}")
    return gaps


def _said(msgid) -> str:
    return repr(msgid[0] if isinstance(msgid, tuple) else msgid)


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "check"
    os.chdir(ROOT)
    if command == "extract":
        print(extract())
    elif command == "update":
        update()
    elif command == "compile":
        compile_all()
    elif command == "dates":
        print(write_date_names())
    elif command == "check":
        found = problems()
        for code, wrong in found.items():
            print(f"{code}: {len(wrong)} message(s) to translate", file=sys.stderr)
            for line in wrong:
                print(f"  {line}", file=sys.stderr)
        return 1 if found else 0
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
