"""The pages' forms. Flask-WTF brings the CSRF token; the services check the values
and name the field that is wrong, so the fields here are named as the services name
them (email, password, name, item, counterparty_email, due_date, message)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    EmailField,
    HiddenField,
    PasswordField,
    RadioField,
    SelectChoice,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)

NEW_PASSWORD_HINT = _l("At least 12 characters. A few uncommon words make a good one.")


def new_password(label: str) -> PasswordField:
    return PasswordField(
        label,
        description=NEW_PASSWORD_HINT,
        render_kw={"autocomplete": "new-password", "required": True, "minlength": 12},
    )


class SignUpForm(FlaskForm):
    name = StringField(_l("Your name"), render_kw={"autocomplete": "name", "required": True})
    email = EmailField(
        _l("Email address"),
        description=_l("We email you a link: you choose your password there."),
        render_kw={"autocomplete": "email", "required": True},
    )
    # The browser's time zone, filled in by static/zone.js; UTC without it.
    time_zone = HiddenField(render_kw={"data-time-zone": True})
    submit = SubmitField(_l("Sign up"))


class ConfirmForm(FlaskForm):
    """The page the emailed sign-up link opens: the address is proven, so here its
    owner chooses the password (and may correct the name)."""

    name = StringField(_l("Your name"), render_kw={"autocomplete": "name", "required": True})
    password = new_password(_l("Choose a password"))
    submit = SubmitField(_l("Confirm and log in"))


class EmailForm(FlaskForm):
    """One address: forgot my password, send the sign-up link again."""

    email = EmailField(_l("Email address"), render_kw={"autocomplete": "email", "required": True})
    submit = SubmitField(_l("Send me a link"))


class LogInForm(FlaskForm):
    email = EmailField(_l("Email address"), render_kw={"autocomplete": "email", "required": True})
    password = PasswordField(
        _l("Password"), render_kw={"autocomplete": "current-password", "required": True}
    )
    submit = SubmitField(_l("Log in"))


class ResetPasswordForm(FlaskForm):
    password = new_password(_l("New password"))
    submit = SubmitField(_l("Set my password"))


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField(
        _l("Current password"), render_kw={"autocomplete": "current-password", "required": True}
    )
    new_password = new_password(_l("New password"))
    submit = SubmitField(_l("Change my password"))


class NameForm(FlaskForm):
    name = StringField(_l("Your name"), render_kw={"autocomplete": "name", "required": True})
    submit = SubmitField(_l("Save"))


class LanguageForm(FlaskForm):
    """The language of the pages and mail, and the time zone times are shown in.
    The service checks both (accounts.change_language), naming the field."""

    locale = SelectField(_l("Language"), validate_choice=False)
    time_zone = SelectField(
        _l("Time zone"),
        description=_l("Dates and times in Mooch and in its emails are shown in this zone."),
        validate_choice=False,
    )
    submit = SubmitField(_l("Save"))

    def __init__(self, *args, **kwargs) -> None:
        from app import i18n

        super().__init__(*args, **kwargs)
        self.locale.choices = [SelectChoice(c, n) for c, n in i18n.language_names().items()]
        self.time_zone.choices = [SelectChoice(z, z.replace("_", " ")) for z in i18n.zones()]


class ButtonForm(FlaskForm):
    """A form that is only a button: log out, close or keep an account."""

    submit = SubmitField(_l("OK"))


class LoanForm(FlaskForm):
    role = RadioField(
        _l("I want to"),
        choices=[
            SelectChoice("borrower", _l("borrow something")),
            SelectChoice("lender", _l("lend something")),
        ],
        default="borrower",
        validate_choice=False,  # the service refuses a bad role, in its own words
    )
    item = StringField(
        _l("What"),
        description=_l("For example: cordless drill, the blue tent."),
        render_kw={"required": True, "maxlength": 200},
    )
    counterparty_email = EmailField(
        _l("Their email address"),
        description=_l("If they have no account yet, we invite them."),
        render_kw={"autocomplete": "off", "required": True},
    )
    due_date = StringField(_l("Due back (optional)"), render_kw={"type": "date"})
    message = TextAreaField(_l("A message (optional)"), render_kw={"rows": 3, "maxlength": 2000})
    submit = SubmitField(_l("Send"))


class EventForm(FlaskForm):
    """One button on the loan page; `version` is the loan's as the page showed it."""

    event = HiddenField()
    version = HiddenField()
    due_date = StringField(_l("Due back (required)"), render_kw={"type": "date", "required": True})
    note = TextAreaField(_l("Note"), render_kw={"rows": 3, "maxlength": 500})


class CounterpartyForm(FlaskForm):
    """Send a request or offer to another address (the first one bounced, say)."""

    counterparty_email = EmailField(
        _l("Another address for them"),
        render_kw={"autocomplete": "off", "required": True},
    )
    version = HiddenField()
    submit = SubmitField(_l("Send it there"))
