"""gunicorn's entry point for row P1 of `python -m bench`: `wsgi:app`, unchanged unless a
request carries the header X-Bench-Mail, which picks how its mail goes:

  (absent)  our outbox: the rows commit with the change, the jobs are enqueued after
            the commit, and the response does not wait for any mail;
  none      the same event with no notification at all: no row, no job;
  inline    the mail sent inside the request, the old way: the rows commit as usual,
            then, before the response, each one is delivered (app.notifications.
            delivery.deliver: claim, compose, SMTP, record) instead of enqueued.

For bench code only: it patches two functions of the app at import (the outbox hands
a request's new rows to app.after_response.later, to be enqueued after the response;
inline takes them from there).
"""

from __future__ import annotations

from flask import g, has_request_context, request

import app.after_response as after_response
import app.lending.service as lending
from app.notifications import outbox
from app.notifications.delivery import deliver
from wsgi import app

HEADER = "X-Bench-Mail"


def _mode() -> str | None:
    return request.headers.get(HEADER) if has_request_context() else None


_record_step = lending.record_step
_later = after_response.later


def record_step(step, **kw):
    if _mode() == "none":
        kw["notifier_for"] = lambda user, notifier: None
    return _record_step(step, **kw)


def later(fn, *args):
    if _mode() == "inline" and fn is outbox._enqueue_to:
        _queue, ids = args
        g.setdefault("bench_inline", []).extend(ids)
        return True
    return _later(fn, *args)


lending.record_step = record_step
after_response.later = later


@app.after_request
def send_inline(response):
    for nid in g.pop("bench_inline", []):
        if deliver(nid) != "sent":
            raise RuntimeError(f"notification {nid} was not sent")
    return response
