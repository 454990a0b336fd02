"""What a browser is told, and whom the app believes: redirects, headers, cookies, proxies.

safe_next(target)   where `?next=` may send someone: a path on this site, or the dashboard
init_app(app)       security headers (flask-talisman), cookie flags, Cache-Control,
                    and ProxyFix for TRUSTED_PROXIES proxies in front of the app
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
from urllib.parse import unquote

from flask import Flask, Response, request, session, url_for
from flask_talisman import Talisman
from werkzeug.middleware.proxy_fix import ProxyFix

# -- redirects ----------------------------------------------------------------------

# Longer than any link the app makes, with its query; a longer `next` is a probe.
MAX_NEXT = 2000
# `next` may be percent-decoded again on its way (a proxy, a framework, a browser
# quirk), so every layer is checked; a value still changing after this many decodings
# is nothing a page of ours produced.
DECODINGS = 4


def safe_next(target: str | None) -> str:
    """`target` when it is plainly a path on this site, else the dashboard.

    Browsers are lenient in ways that turn a "path" into another host: they drop
    tabs and newlines inside a URL, read `\\` as `/`, and take `//host` as a host;
    a proxy on the way may decode `%2F` or `%5C` once more. So this accepts only
    printable ASCII starting with a single `/`, with no backslash, at every layer of
    percent-decoding, and refuses anything unusual rather than trying to repair it.
    """
    if is_local_path(target):
        return target
    return url_for("web.dashboard")


def is_local_path(target: object) -> bool:
    if not isinstance(target, str) or not 0 < len(target) <= MAX_NEXT:
        return False
    layer = target
    for _ in range(DECODINGS + 1):
        if not _plain_path(layer):
            return False
        try:
            # Not UTF-8 (an overlong "/" such as %C0%AF, say) is nothing we linked to.
            decoded = unquote(layer, errors="strict")
        except UnicodeDecodeError:
            return False
        if decoded == layer:
            return True
        layer = decoded
    return False


def _plain_path(value: str) -> bool:
    """One leading slash, then printable ASCII: no space, tab, newline or other
    control character (which browsers strip or people cannot see), no backslash, and
    no look-alike of a slash or a dot from further up the Unicode table."""
    return (
        value.startswith("/")
        and not value.startswith("//")
        and "\\" not in value
        and all("!" <= char <= "~" for char in value)
    )


# -- headers, cookies, the proxy ----------------------------------------------------

# No inline script and no inline <style> anywhere: an injected tag does nothing.
# base-uri and form-action do not fall back to default-src, so they are spelled out.
CSP = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}

# Headers a view may set for itself, and then keeps: the dev mail frame's policy is
# stricter than ours and must allow framing by its own page (frame-ancestors 'self').
OWN_HEADERS = ("Content-Security-Policy", "X-Frame-Options", "Referrer-Policy")

HSTS_MAX_AGE = 365 * 24 * 3600


class _Talisman(Talisman):
    """Talisman, except that a view's own policy headers win, and BASE_URL rather
    than the request decides whether HSTS is sent."""

    def __init__(self, app: Flask, *, hsts: bool, **options) -> None:
        self.hsts = hsts
        super().__init__(app, **options)

    def _set_response_headers(self, response: Response) -> Response:
        own = {name: response.headers[name] for name in OWN_HEADERS if name in response.headers}
        super()._set_response_headers(response)
        response.headers.update(own)
        return response

    def _set_hsts_headers(self, headers) -> None:
        # Talisman sends HSTS only when the request itself looks like https. TLS ends
        # at the proxy, which may not say so (or is not believed: TRUSTED_PROXIES=0),
        # so BASE_URL decides; a browser ignores the header on a plain http answer.
        if self.hsts:
            headers["Strict-Transport-Security"] = f"max-age={HSTS_MAX_AGE}; includeSubDomains"


def init_app(app: Flask) -> None:
    https = app.config["BASE_URL"].lower().startswith("https://")

    proxies = app.config.get("TRUSTED_PROXIES", 0)
    if not isinstance(proxies, int) or proxies < 0:
        raise ValueError(f"TRUSTED_PROXIES={proxies!r}: the number of proxies, 0 or more")
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)

    # Set once here rather than by Talisman on every request (which it also skips in
    # debug mode): a Secure cookie is simply never sent back over plain http.
    app.config["SESSION_COOKIE_SECURE"] = https
    # No remember-me cookie today; if one comes, it is as guarded as the session.
    app.config["REMEMBER_COOKIE_SECURE"] = https
    app.config["REMEMBER_COOKIE_HTTPONLY"] = True
    app.config["REMEMBER_COOKIE_SAMESITE"] = "Lax"

    policy = dict(CSP)
    hashes = _inline_style_hashes()
    if hashes:
        policy["style-src-attr"] = " ".join(["'unsafe-hashes'", *hashes])
    app.extensions["talisman"] = _Talisman(
        app,
        hsts=https,
        # TLS terminates at the proxy: a redirect to https here would loop, or
        # would be the proxy's job anyway.
        force_https=False,
        session_cookie_secure=False,  # set above
        session_cookie_http_only=True,
        session_cookie_samesite="Lax",
        frame_options="DENY",
        content_security_policy=policy,
        # Tokens travel in some of our URLs (/confirm/..., /reset-password/...).
        referrer_policy="same-origin",
        x_content_type_options=True,
    )
    app.after_request(_cache_control)


def _cache_control(response: Response) -> Response:
    """Nothing personal stays in a shared cache, the browser's back-forward history
    on a shared computer included: every API answer, and every page of someone
    logged in. Static files stay cacheable: they are the same for everyone."""
    if request.path.startswith("/api/") or _logged_in():
        response.headers["Cache-Control"] = "no-store"
    return response


def _logged_in() -> bool:
    endpoint = request.endpoint or ""
    if endpoint == "static" or endpoint.endswith(".static"):
        return False
    # The session, not current_user: no database query for a response that never
    # asked who the user is (a redirect, say), and the request that logs someone in
    # counts too.
    return bool(session.get("_user_id"))


def _inline_style_hashes() -> list[str]:
    """CSP hashes of the `style` attributes the app draws itself: the loan page's
    inline SVG diagram sets its own max-width. Allowing these exact values (and no
    other) keeps style-src free of 'unsafe-inline'."""
    from app.lending.states import LOAN
    from app.web.diagram import state_diagram

    styles = set()
    for state in LOAN.states:
        found = re.findall(r'\sstyle="([^"]*)"', str(state_diagram(state)))
        styles.update(html.unescape(value) for value in found)  # as the browser reads it
    digests = (hashlib.sha256(style.encode()).digest() for style in sorted(styles))
    return [f"'sha256-{base64.b64encode(digest).decode()}'" for digest in digests]
