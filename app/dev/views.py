"""`/dev/mail`: the messages in MAIL_CATCHER_DIR (the .eml files devtools.mailcatcher
writes), newest first, and each one as text and as HTML, with working links.

`/dev/mail/previews`: every notifier rendered with sample data (app.dev.previews),
each side of a step that mails both, as text and as HTML; nothing is sent or saved."""

from __future__ import annotations

import email
import email.policy
import os
import re
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path

from flask import Blueprint, Response, abort, current_app, render_template, request
from markupsafe import Markup, escape

from app.dev import previews

dev = Blueprint(
    "dev", __name__, url_prefix="/dev", template_folder="templates", static_folder="static"
)

# Exactly the names the catcher writes (and no dot-files, half-written or otherwise):
# no separator, no "..", so a name can never leave the directory.
NAME = re.compile(r"[0-9A-Za-z][0-9A-Za-z._-]{0,200}\.eml")
URL = re.compile(r"https?://[^\s<>\"']+")

# The mail's HTML is shown in a sandboxed frame: no scripts, no plugins, no forms,
# nothing fetched but inline styles and images; a click on a link may only navigate
# the whole tab (the page injects <base target="_top">) or open a new one.
HTML_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data: http: https:; "
    "frame-ancestors 'self'; form-action 'none'; "
    "sandbox allow-top-navigation-by-user-activation allow-popups "
    "allow-popups-to-escape-sandbox"
)


@dataclass(frozen=True)
class Caught:
    name: str
    message: EmailMessage

    @property
    def date(self) -> str:
        value = self.message.get("Date")
        if not value:
            return ""
        try:
            return parsedate_to_datetime(str(value)).strftime("%Y-%m-%d %H:%M:%S %z")
        except (TypeError, ValueError):
            return str(value)

    def header(self, name: str) -> str:
        return str(self.message.get(name, ""))

    def part(self, subtype: str) -> str | None:
        body = self.message.get_body(preferencelist=(subtype,))
        return None if body is None else body.get_content()

    @property
    def attachments(self) -> list[tuple[str, str]]:
        return [
            (part.get_filename() or "(unnamed)", part.get_content_type())
            for part in self.message.iter_attachments()
        ]


def mail_dir() -> Path:
    configured = current_app.config.get("MAIL_CATCHER_DIR") or os.environ.get(
        "MAIL_CATCHER_DIR", "instance/mail"
    )
    path = Path(configured)
    if not path.is_absolute():  # as `make run` means it: from the project's root
        path = Path(current_app.root_path).parent / path
    return path


def _names() -> list[str]:
    folder = mail_dir()
    if not folder.is_dir():
        return []
    # The catcher's names start with a UTC timestamp: newest first is reverse order.
    return sorted((p.name for p in folder.iterdir() if NAME.fullmatch(p.name)), reverse=True)


def _load(name: str) -> Caught:
    if not NAME.fullmatch(name):
        abort(404)
    path = mail_dir() / name
    try:
        raw = path.read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        abort(404)
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return Caught(name, message)


def linkify(text: str) -> Markup:
    """Plain text, escaped, with every absolute URL made a link."""
    out, last = [], 0
    for match in URL.finditer(text):
        out.append(escape(text[last : match.start()]))
        url = match.group(0)
        out.append(Markup('<a href="{0}">{0}</a>').format(url))
        last = match.end()
    out.append(escape(text[last:]))
    return Markup("").join(out)


@dev.get("/mail")
def mail_list():
    messages = []
    for name in _names():
        try:
            messages.append(_load(name))
        except Exception:  # a mangled file must not hide the others
            continue
    return render_template("dev/mail_list.html", messages=messages, folder=mail_dir())


def _sandboxed(html: str) -> Response:
    """A mail's HTML as a page of its own: no scripts, nothing fetched, and links
    open in the whole tab, not inside the little frame."""
    page = '<!doctype html><base target="_top">' + html
    response = Response(page, mimetype="text/html")
    response.headers["Content-Security-Policy"] = HTML_CSP
    # For browsers that know only this header: the page next door frames it.
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _plain(text: str | bytes) -> Response:
    response = Response(text, mimetype="text/plain")
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


# -- previews: every notifier with sample data ------------------------------------
# Declared before /mail/<name>: "previews" is no caught file's name anyway (NAME).


def _language() -> str | None:
    """?lang=de: the previews read by someone whose account speaks German."""
    from app import i18n

    return i18n.known_locale(request.args.get("lang"))


@dev.get("/mail/previews")
def preview_list():
    from app import i18n

    lang = _language()
    rows = [(p, p.render(locale=lang)) for p in previews.previews()]
    return render_template(
        "dev/mail_previews.html", rows=rows, lang=lang, languages=i18n.language_names()
    )


def _preview(slug: str) -> previews.Rendered:
    found = previews.preview(slug)
    if found is None:
        abort(404)
    return found.render(locale=_language())


@dev.get("/mail/previews/<slug>/html")
def preview_html(slug: str):
    return _sandboxed(_preview(slug).html)


@dev.get("/mail/previews/<slug>/text")
def preview_text(slug: str):
    rendered = _preview(slug)
    return _plain(f"To: {rendered.to}\nSubject: {rendered.subject}\n\n{rendered.text}")


@dev.get("/mail/<name>")
def mail_message(name: str):
    caught = _load(name)
    text = caught.part("plain")
    return render_template(
        "dev/mail_message.html",
        mail=caught,
        text=None if text is None else linkify(text),
        has_html=caught.part("html") is not None,
    )


@dev.get("/mail/<name>/html")
def mail_html(name: str):
    html = _load(name).part("html")
    if html is None:
        abort(404)
    return _sandboxed(html)


@dev.get("/mail/<name>/raw")
def mail_raw(name: str):
    if not NAME.fullmatch(name):
        abort(404)
    return _plain(_load(name).message.as_bytes())
