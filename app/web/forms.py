"""The pages' forms. Flask-WTF brings the CSRF token; the services check the values
and name the field that is wrong, so the fields here are named as the services name
them (email, password, name, item, counterparty_email, due_date, message)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    EmailField,
    HiddenField,
    PasswordField,
    RadioField,
    SelectChoice,
    StringField,
    SubmitField,
    TextAreaField,
)

NEW_PASSWORD_HINT = "At least 12 characters. A few uncommon words make a good one."


def new_password(label: str) -> PasswordField:
    return PasswordField(
        label,
        description=NEW_PASSWORD_HINT,
        render_kw={"autocomplete": "new-password", "required": True, "minlength": 12},
    )


class SignUpForm(FlaskForm):
    name = StringField("Your name", render_kw={"autocomplete": "name", "required": True})
    email = EmailField(
        "Email address",
        description="We email you a link: you choose your password there.",
        render_kw={"autocomplete": "email", "required": True},
    )
    submit = SubmitField("Sign up")


class ConfirmForm(FlaskForm):
    """The page the emailed sign-up link opens: the address is proven, so here its
    owner chooses the password (and may correct the name)."""

    name = StringField("Your name", render_kw={"autocomplete": "name", "required": True})
    password = new_password("Choose a password")
    submit = SubmitField("Confirm and log in")


class EmailForm(FlaskForm):
    """One address: forgot my password, send the sign-up link again."""

    email = EmailField("Email address", render_kw={"autocomplete": "email", "required": True})
    submit = SubmitField("Send me a link")


class LogInForm(FlaskForm):
    email = EmailField("Email address", render_kw={"autocomplete": "email", "required": True})
    password = PasswordField(
        "Password", render_kw={"autocomplete": "current-password", "required": True}
    )
    submit = SubmitField("Log in")


class ResetPasswordForm(FlaskForm):
    password = new_password("New password")
    submit = SubmitField("Set my password")


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField(
        "Current password", render_kw={"autocomplete": "current-password", "required": True}
    )
    new_password = new_password("New password")
    submit = SubmitField("Change my password")


class NameForm(FlaskForm):
    name = StringField("Your name", render_kw={"autocomplete": "name", "required": True})
    submit = SubmitField("Save")


class ButtonForm(FlaskForm):
    """A form that is only a button: log out, close or keep an account."""

    submit = SubmitField("OK")


class LoanForm(FlaskForm):
    role = RadioField(
        "I want to",
        choices=[
            SelectChoice("borrower", "borrow something"),
            SelectChoice("lender", "lend something"),
        ],
        default="borrower",
        validate_choice=False,  # the service refuses a bad role, in its own words
    )
    item = StringField(
        "What",
        description="For example: cordless drill, the blue tent.",
        render_kw={"required": True, "maxlength": 200},
    )
    counterparty_email = EmailField(
        "Their email address",
        description="If they have no account yet, we invite them.",
        render_kw={"autocomplete": "off", "required": True},
    )
    due_date = StringField("Due back (optional)", render_kw={"type": "date"})
    message = TextAreaField("A message (optional)", render_kw={"rows": 3, "maxlength": 2000})
    submit = SubmitField("Send")


class EventForm(FlaskForm):
    """One button on the loan page; `version` is the loan's as the page showed it."""

    event = HiddenField()
    version = HiddenField()
    due_date = StringField("Due back (required)", render_kw={"type": "date", "required": True})
    note = TextAreaField("Note", render_kw={"rows": 3, "maxlength": 500})


class CounterpartyForm(FlaskForm):
    """Send a request or offer to another address (the first one bounced, say)."""

    counterparty_email = EmailField(
        "Another address for them",
        render_kw={"autocomplete": "off", "required": True},
    )
    version = HiddenField()
    submit = SubmitField("Send it there")
