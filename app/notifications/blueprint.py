"""The notifications blueprint. No routes: it carries the mail templates
(templates/mail/<notifier>.txt|.html)."""

from flask import Blueprint

blueprint = Blueprint("notifications", __name__, template_folder="templates")
