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


class SignUpForm(FlaskForm):
    name = StringField("Your name", render_kw={"autocomplete": "name", "required": True})
    email = EmailField("Email address", render_kw={"autocomplete": "email", "required": True})
    password = PasswordField(
        "Password",
        description="At least 8 characters.",
        render_kw={"autocomplete": "new-password", "required": True, "minlength": 8},
    )
    submit = SubmitField("Sign up")


class LogInForm(FlaskForm):
    email = EmailField("Email address", render_kw={"autocomplete": "email", "required": True})
    password = PasswordField(
        "Password", render_kw={"autocomplete": "current-password", "required": True}
    )
    submit = SubmitField("Log in")


class ForgotPasswordForm(FlaskForm):
    email = EmailField("Email address", render_kw={"autocomplete": "email", "required": True})
    submit = SubmitField("Send me a link")


class ResetPasswordForm(FlaskForm):
    password = PasswordField(
        "New password",
        description="At least 8 characters.",
        render_kw={"autocomplete": "new-password", "required": True, "minlength": 8},
    )
    submit = SubmitField("Set my password")


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
    due_date = StringField("Due back", render_kw={"type": "date"})
