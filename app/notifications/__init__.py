"""Email: the notifier table, the outbox and its relay, RQ jobs, the mailer."""

from flask import Blueprint

# No routes: it carries the mail templates (templates/mail/<notifier>.txt|.html).
blueprint = Blueprint("notifications", __name__, template_folder="templates")
