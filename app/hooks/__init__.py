"""Mail providers' reports of bounces and complaints: POST /hooks/mail/<provider>
(issue 12, part 4). A report a provider proves it sent suppresses the address at once
(app/notifications/suppression.py, `report`).

views.py     the endpoint: no login, no CSRF token, no rate limit; 200 quickly, 403 for
             anything not proven to come from the provider, 400 for a body that is not
             a JSON object, 404 for a provider we do not know
sns.py       Amazon SNS: the signature of a message, its certificate (fetched from
             sns.<region>.amazonaws.com only, and kept), and the fetch seam
ses.py       what an Amazon SES event, carried by an SNS notification, says of whom
postmark.py  Postmark's bounce and spam complaint webhooks, behind HTTP basic auth
verdicts.py  a provider's verdict on one address, and applying it

The network is reached through one object, `app.extensions[FETCH]` (sns.HttpsFetch):
the signing certificates and the SNS subscription's confirmation. Tests put a local
one in its place, per app.
"""

from __future__ import annotations

from flask import Flask

# app.extensions keys: the fetch seam, and the signing certificates already fetched.
FETCH = "mooch_hooks_fetch"
CERTIFICATES = "mooch_hooks_certificates"


def init_app(app: Flask) -> None:
    from app.extensions import csrf
    from app.hooks import sns
    from app.hooks.views import hooks

    app.register_blueprint(hooks)
    # A provider posts without our CSRF token; its own proof (a signature, a password)
    # is checked by the view instead.
    csrf.exempt(hooks)
    app.extensions[FETCH] = sns.HttpsFetch()
    app.extensions[CERTIFICATES] = sns.Certificates()
