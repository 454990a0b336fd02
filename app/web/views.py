"""The browser pages. Each view is thin: a form, a service call, then a redirect
with a flash (POST-redirect-GET), or the page again with the service's refusal shown
where it belongs (a field's error, or a message at the top)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from flask import (
    Blueprint,
    abort,
    flash,
    has_request_context,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import refresh
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import Field

from app import i18n
from app.accounts import service as accounts
from app.accounts.tokens import read_token
from app.cursors import make_cursor, read_cursor
from app.errors import InvalidInput, MoochError
from app.extensions import db
from app.lending import service as lending
from app.lending import words
from app.lending.mail_view import SeenMail, mail_as_seen
from app.models import Loan, User
from app.notifications import preferences, suppression
from app.notifications.failures import Failure, explain
from app.notifications.notifiers import OPTIONAL
from app.security import safe_next
from app.web import forms, labels, story
from app.web.errors import CSRF_EXPIRED
from app.web.progress import progress

web = Blueprint(
    "web",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/static/web",
)


@web.app_context_processor
def page_globals() -> dict:
    # App-wide, so that error pages outside the blueprint have them too; but the
    # worker renders mail with no request, where a form (and its CSRF token) cannot be.
    if not has_request_context():
        return {}
    return {"labels": labels, "logout_form": forms.ButtonForm(prefix="logout")}


# -- helpers ----------------------------------------------------------------------


def submitted(form: FlaskForm) -> bool:
    """A POST whose form validates. CSRFProtect refuses a bad token before any view
    runs (app.web.errors shows it as "reload and try again"); this checks the form's
    own token too, so a view is safe even if exempted from CSRFProtect."""
    if request.method != "POST":
        return False
    if form.validate():
        return True
    if "csrf_token" in form.errors:
        form.form_errors.append(_(CSRF_EXPIRED))
    return False


def refuse(form: FlaskForm, exc: MoochError) -> None:
    """Put a service's refusal on the field it names, or on the form as a whole."""
    field = getattr(form, exc.field, None) if exc.field else None
    if isinstance(field, Field):
        field.errors = [*field.errors, exc.message]
    else:
        form.form_errors.append(exc.message)


def status_of(form: FlaskForm, refused: MoochError | None = None) -> int:
    if refused is not None:
        return refused.status
    return 400 if form.errors or form.form_errors else 200


# -- home and dashboard -------------------------------------------------------------


# Open loans are what the dashboard is for: up to OPEN_SHOWN of them, the newest,
# and how many more. Finished ones are history, read a page at a time.
OPEN_SHOWN = 100
FINISHED_SHOWN = 20


@web.get("/")
def dashboard():
    if not current_user.is_authenticated:
        return render_template("web/welcome.html")
    states = {"act": lending.ACTIONABLE, "wait": lending.WAITING}
    totals = {name: lending.count_loans(current_user, states=s) for name, s in states.items()}
    # Half the room each, and either takes what the other leaves: a crowd of loans
    # waiting on others never pushes the ones that need you off the page.
    act = min(totals["act"], max(OPEN_SHOWN - totals["wait"], OPEN_SHOWN // 2))
    shown = {"act": act, "wait": min(totals["wait"], OPEN_SHOWN - act)}
    groups = {}
    day = lending.today()
    for name, limit in shown.items():
        loans = lending.loan_page(current_user, limit, states=states[name]).loans if limit else []
        rows = [story.seen(loan, current_user, day) for loan in loans]
        if name == "act":  # overdue first, then due soon, newest first within each
            rows.sort(key=lambda row: {"overdue": 0, "due-soon": 1}.get(row.urgency, 2))
        groups[name] = {"rows": rows, "total": totals[name]}
    cursor = request.args.get("cursor")
    done, newer, older = _finished_page(cursor)
    return render_template(
        "web/dashboard.html", groups=groups, done=done, newer=newer, older=older, paged=cursor
    )


def _finished_page(cursor: str | None) -> tuple[list, str | None, str | None]:
    """The finished loans a cursor points at (the newest without one), and the
    links to the newer and the older pages either side, where there are any."""
    side, edge = "before", None
    if cursor is not None:
        try:
            side, edge = read_cursor("finished", cursor)
        except InvalidInput:
            raise InvalidInput(
                _("That link to a page of finished loans is not valid any more.")
            ) from None
    page = lending.loan_page(current_user, FINISHED_SHOWN, states=lending.FINISHED, **{side: edge})
    if side == "after" and not page.more:
        # Less than a page is newer: show the newest page, full, rather than a short one.
        side, edge = "before", None
        page = lending.loan_page(current_user, FINISHED_SHOWN, states=lending.FINISHED)
    loans = page.loans
    newer = older = None
    if loans:
        if side == "after" or edge is not None:
            newer = _page_link("after", loans[0].id)
        if side == "after" or page.more:
            older = _page_link("before", loans[-1].id)
    elif edge is not None:
        newer = url_for("web.dashboard", _anchor="done")
    day = lending.today()
    return [story.seen(loan, current_user, day) for loan in loans], newer, older


def _page_link(side: str, loan_id: int) -> str:
    return url_for("web.dashboard", cursor=make_cursor("finished", side, loan_id), _anchor="done")


# -- sessions ---------------------------------------------------------------------


def start_session(user: User) -> None:
    """Log `user` in on this browser: a new server-side session, whose secret the
    cookie carries. Whatever the cookie held before (another user's session, a
    half-filled form) is dropped first."""
    secret = accounts.log_in(user, "web")
    session.clear()
    login_user(user)
    session["sid"] = secret


def end_session() -> None:
    """Log this browser out, on the server too: a copy of the cookie is now anonymous."""
    accounts.log_out(session.get("sid"))
    forget_login()


def forget_login() -> None:
    """Drop this browser's login (its server-side session already ended or about to)."""
    logout_user()
    session.clear()


# -- signing up, confirming, logging in ---------------------------------------------


@web.route("/signup", methods=["GET", "POST"])
def signup():
    if current_user.is_authenticated:
        return redirect(url_for("web.dashboard"))
    form = forms.SignUpForm()
    if request.method == "GET" and request.args.get("email"):
        form.email.data = request.args["email"]
    # The same answer for a new address and a taken one: the mail differs.
    # The browser's language and time zone become the account's (changeable on the
    # account page): its first mail, the link to confirm, is already in them.
    return _mail_me(
        form,
        lambda: accounts.sign_up(
            form.email.data,
            form.name.data,
            locale=i18n.best_match(request.accept_languages),
            time_zone=form.time_zone.data,
        ),
        "signup",
        "web/signup.html",
    )


def _mail_me(form: FlaskForm, send, why: str, template: str):
    """A form whose answer is "check your email", the same whatever the address: the
    page again with the refusal, or on to /check-email."""
    refused = None
    if submitted(form):
        try:
            send()
        except MoochError as exc:
            refused = exc
            refuse(form, exc)
        else:
            return redirect(url_for("web.check_email", why=why))
    return render_template(template, form=form), status_of(form, refused)


@web.route("/signup/resend", methods=["GET", "POST"])
def resend_confirmation():
    form = forms.EmailForm()
    if request.method == "GET" and request.args.get("email"):
        form.email.data = request.args["email"]
    return _mail_me(
        form, lambda: accounts.resend_confirmation(form.email.data), "resend", "web/resend.html"
    )


@web.get("/check-email")
def check_email():
    why = request.args.get("why", "signup")
    if why not in ("signup", "resend", "reset", "close"):
        why = "signup"
    return render_template("web/check_email.html", why=why)


def link_failed(exc: MoochError, status: int = 400):
    return render_template("web/link_failed.html", message=exc.message), status


@web.route("/confirm/<token>", methods=["GET", "POST"])
def confirm(token: str):
    """The emailed sign-up link: opening it changes nothing (mail scanners open
    links); its page asks for the password, and only that POST confirms and logs in.
    A used link logs nobody in, whoever opens it."""
    try:
        user = accounts.confirmable(token)
    except MoochError as exc:
        return link_failed(exc)
    if current_user.is_authenticated and current_user.id != user.id:
        # Never switch a logged-in browser to another account behind its user's back.
        return render_template("web/confirm_other.html", user=user), 409
    form = forms.ConfirmForm()
    if request.method == "GET":
        form.name.data = user.name
    refused = None
    if submitted(form):
        try:
            user = accounts.activate(token, form.password.data, form.name.data)
        except MoochError as exc:
            if exc.field == "token":
                return link_failed(exc, exc.status)
            refused = exc
            refuse(form, exc)
        else:
            start_session(user)
            flash(
                _(
                    "Welcome, %(name)s: your address is confirmed and you are logged in.",
                    name=user.name,
                ),
                "success",
            )
            return redirect(url_for("web.dashboard"))
    return render_template("web/confirm.html", form=form, user=user), status_of(form, refused)


@web.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next")))
    form = forms.LogInForm()
    if submitted(form):
        try:
            user = accounts.authenticate(form.email.data, form.password.data)
        except MoochError as exc:
            form.form_errors.append(exc.message)
            return render_template("web/login.html", form=form), exc.status
        else:
            start_session(user)
            flash(_("Hello, %(name)s.", name=user.name), "success")
            return redirect(safe_next(request.args.get("next")))
    return render_template("web/login.html", form=form), status_of(form)


@web.post("/logout")
def logout():
    form = forms.ButtonForm(prefix="logout")
    if submitted(form):
        end_session()
        flash(_("You are logged out."), "info")
    return redirect(url_for("web.dashboard"))


@web.route("/forgot-password", methods=["GET", "POST"])
def forgot_password():
    form = forms.EmailForm()
    return _mail_me(
        form,
        lambda: accounts.request_password_reset(form.email.data),
        "reset",
        "web/forgot_password.html",
    )


@web.route("/reset-password/<token>", methods=["GET", "POST"])
def reset_password(token: str):
    try:
        accounts.resettable(token)
    except MoochError as exc:
        return link_failed(exc)
    form = forms.ResetPasswordForm()
    refused = None
    if submitted(form):
        try:
            accounts.reset_password(token, form.password.data)
        except MoochError as exc:
            if exc.field == "token":
                return link_failed(exc, exc.status)
            refused = exc
            refuse(form, exc)
        else:
            if current_user.is_authenticated:
                end_session()
            flash(
                _(
                    "Your password is changed, and you are logged out everywhere: "
                    "log in with the new one."
                ),
                "success",
            )
            return redirect(url_for("web.login"))
    return render_template("web/reset_password.html", form=form), status_of(form, refused)


# -- the account --------------------------------------------------------------------


def _account_page(
    name_form=None,
    password_form=None,
    close_form=None,
    refused: MoochError | None = None,
    mail_form=None,
    mail_typed: dict[str, str | None] | None = None,
    address_form=None,
    language_form=None,
):
    name_form = name_form or forms.NameForm(formdata=None, name=current_user.name)
    language_form = language_form or forms.LanguageForm(
        formdata=None,
        prefix="language",
        locale=i18n.locale_of(current_user),
        time_zone=i18n.zone_name_of(current_user),
    )
    password_form = password_form or forms.ChangePasswordForm(formdata=None)
    close_form = close_form or forms.ButtonForm(prefix="close")
    mail_form = mail_form or forms.ButtonForm(prefix="mail")
    status = (
        refused.status
        if refused
        else max(status_of(name_form), status_of(password_form), status_of(language_form))
    )
    address_form = address_form or forms.ButtonForm(prefix="address")
    buttons = (close_form, mail_form, address_form)
    if any(form.form_errors for form in buttons) and not refused:
        status = 400
    # Each optional mail with its choice: as saved, or as just typed if refused.
    chosen = preferences.choices_for(current_user)
    mail_choices = {name: (mail_typed or {}).get(name) or choice for name, choice in chosen.items()}
    return (
        render_template(
            "web/account.html",
            name_form=name_form,
            password_form=password_form,
            language_form=language_form,
            close_form=close_form,
            keep_form=forms.ButtonForm(prefix="keep"),
            everywhere_form=forms.ButtonForm(prefix="everywhere"),
            mail_form=mail_form,
            mail_choices=mail_choices,
            mail_about=OPTIONAL,
            mail_labels=preferences.CHOICES,
            # The person's own address, when Mooch stopped emailing it (web/address.py).
            stopped=suppression.suppressed(current_user.email),
            address_form=address_form,
        ),
        status,
    )


@web.get("/account")
@login_required
def account():
    return _account_page()


@web.post("/account/name")
@login_required
def change_name():
    form = forms.NameForm()
    if submitted(form):
        try:
            accounts.change_name(current_user, form.name.data)
        except MoochError as exc:
            refuse(form, exc)
        else:
            flash(_("Your name is saved."), "success")
            return redirect(url_for("web.account"))
    return _account_page(name_form=form)


@web.post("/account/language")
@login_required
def change_language():
    """The language and time zone of the pages and mail. A refusal shows the page
    again with what was chosen still chosen, and the error on its field."""
    form = forms.LanguageForm(prefix="language")
    refused = None
    if submitted(form):
        try:
            accounts.change_language(current_user, form.locale.data, form.time_zone.data)
        except MoochError as exc:
            refused = exc
            refuse(form, exc)
        else:
            refresh()  # this request speaks the new language from here on: the flash too
            flash(_("Your language and time zone are saved."), "success")
            return redirect(url_for("web.account", _anchor="language"))
    return _account_page(language_form=form, refused=refused)


@web.post("/account/password")
@login_required
def change_password():
    form = forms.ChangePasswordForm()
    refused = None
    if submitted(form):
        try:
            accounts.change_password(
                current_user,
                form.current_password.data,
                form.new_password.data,
                keep=session.get("sid"),
            )
        except MoochError as exc:
            refused = exc
            refuse(form, exc)
        else:
            flash(
                _(
                    "Your password is changed. Every other browser and API token logged in "
                    "to your account has been logged out."
                ),
                "success",
            )
            return redirect(url_for("web.account"))
    return _account_page(password_form=form, refused=refused)


@web.post("/account/logout-everywhere")
@login_required
def log_out_everywhere():
    form = forms.ButtonForm(prefix="everywhere")
    if not submitted(form):
        flash(_(CSRF_EXPIRED), "error")
        return redirect(url_for("web.account"))
    accounts.log_out_everywhere(current_user)
    forget_login()
    flash(_("You are logged out everywhere: on every browser, and every API token."), "info")
    return redirect(url_for("web.login"))


@web.post("/account/close")
@login_required
def start_close():
    form = forms.ButtonForm(prefix="close")
    if submitted(form):
        try:
            accounts.start_disconnect(current_user)
        except MoochError as exc:
            form.form_errors.append(exc.message)
            return _account_page(close_form=form, refused=exc)
        return redirect(url_for("web.check_email", why="close"))
    return _account_page(close_form=form)


@web.post("/account/close/cancel")
@login_required
def cancel_close():
    form = forms.ButtonForm(prefix="keep")
    if submitted(form):
        try:
            accounts.abort_disconnect(current_user)
        except MoochError as exc:
            flash(exc.message, "error")
        else:
            flash(_("Your account stays open."), "success")
    else:
        flash(_(CSRF_EXPIRED), "error")
    return redirect(url_for("web.account"))


@web.route("/account/close/<token>", methods=["GET", "POST"])
def close_account(token: str):
    """The emailed link opens a page with one button; closing takes that POST, so
    that a mail scanner fetching the link cannot close anyone's account."""
    try:
        user = db.session.get(User, read_token("disconnect", token))
    except MoochError as exc:
        return link_failed(exc)
    form = forms.ButtonForm(prefix="bye")
    if submitted(form):
        try:
            accounts.disconnect(token)
        except MoochError as exc:
            return link_failed(exc, exc.status)
        if current_user.is_authenticated and current_user.id == user.id:
            forget_login()
        flash(_("Your account is closed. Goodbye, and thank you."), "info")
        return redirect(url_for("web.dashboard"))
    if user is None or user.state != "closing":
        message = _("This account is not waiting to be closed.")
        if user is not None and user.state == "closed":
            message = _("This account is already closed.")
        return render_template("web/link_failed.html", message=message), 400
    return render_template("web/close_account.html", form=form, user=user), status_of(form)


# -- loans --------------------------------------------------------------------------


@web.route("/loans/new", methods=["GET", "POST"])
@login_required
def new_loan():
    form = forms.LoanForm()
    if request.method == "GET" and request.args.get("role") in ("borrower", "lender"):
        form.role.data = request.args["role"]
    refused = None
    if submitted(form):
        try:
            loan = lending.create_loan(
                current_user,
                form.role.data,
                form.counterparty_email.data,
                form.item.data,
                due_date=form.due_date.data or None,
                message=form.message.data,
            )
        except MoochError as exc:
            refused = exc
            refuse(form, exc)
        else:
            other = loan.shown_name(loan.other_party(current_user), current_user)
            if loan.state == "offered":
                flash(_("Your offer is on its way to %(other)s.", other=other), "success")
            else:
                flash(_("Your request is on its way to %(other)s.", other=other), "success")
            return redirect(url_for("web.loan", loan_id=loan.id))
    return render_template("web/new_loan.html", form=form), status_of(form, refused)


@dataclass(frozen=True)
class Undelivered:
    """Mail to the other party that failed, for the loan page to say so."""

    mail: SeenMail
    failure: Failure


def _undelivered(loan: Loan, seen: list[SeenMail]) -> list[Undelivered]:
    found = []
    other = loan.other_party(current_user)
    for each in seen:
        # Mail to the other party as the loan names them now (not an address replaced).
        if each.status == "failed" and each.row.recipient_id == other.id:
            whose = loan.shown_name(each.row.recipient, current_user)
            found.append(Undelivered(each, explain(each.row.last_error, whose)))
    return found


def _loan_page(
    loan_id: int,
    refused: MoochError | None = None,
    failed_form: forms.EventForm | None = None,
    csrf_failed: bool = False,
    address_form: forms.CounterpartyForm | None = None,
):
    loan = lending.loan_for(current_user, loan_id)
    events = story.in_order(lending.allowed_events(loan, current_user))
    event_forms = []
    for event in events:
        if failed_form is not None and failed_form.event.data == event:
            form = failed_form
            form.version.data = str(loan.version)
        else:
            form = forms.EventForm(formdata=None, event=event, version=str(loan.version))
            if loan.due_date:
                form.due_date.data = loan.due_date.isoformat()
        # Each form's fields get ids of their own: several forms share this page.
        form.due_date.id = f"due_date-{event}"
        form.note.id = f"note-{event}"
        form.note.label.field_id = form.note.id
        form.due_date.label.field_id = form.due_date.id
        form.note.label.text = _(story.NOTE_LABELS.get(event, story.NOTE))
        if event in story.NOTE_LABELS:
            form.note.render_kw = {**(form.note.render_kw or {}), "required": True}
        event_forms.append(form)
    mail = defaultdict(list)
    events = {event.id for event in loan.events}
    seen_mail = mail_as_seen(loan, current_user)
    for seen in seen_mail:
        # An invitation is the invited account's own step: show it with the loan's start.
        about = seen.row.audit_event_id
        mail[about if about in events else loan.events[0].id].append(seen)
    if not lending.can_change_counterparty(loan, current_user):
        address_form = None
    elif address_form is None:
        address_form = forms.CounterpartyForm(formdata=None, version=str(loan.version))
    # A refusal about a field of a form on this page is shown on that field.
    on_a_field = refused is not None and refused.field in ("due_date", "note", "counterparty_email")
    message = refused.message if refused is not None and not on_a_field else None
    if csrf_failed:
        message = _(CSRF_EXPIRED)
    status = refused.status if refused is not None else (400 if csrf_failed else 200)
    return (
        render_template(
            "web/loan.html",
            loan=loan,
            role=loan.role_of(current_user),
            other=loan.other_party(current_user),
            event_forms=event_forms,
            mail=mail,
            undelivered=_undelivered(loan, seen_mail),
            address_form=address_form,
            retry_form=forms.ButtonForm(prefix="retry"),
            refusal=message,
            refusal_kind=refused.code if refused is not None else None,
            progress=progress(loan),
            note_required=lending.NOTE_REQUIRED,
            seen=story.seen(loan, current_user),
            other_moves=story.other_moves(loan, current_user),
            confirm_text=story.CONFIRM,
        ),
        status,
    )


@web.get("/loans/<int:loan_id>")
@login_required
def loan(loan_id: int):
    return _loan_page(loan_id)


@web.post("/loans/<int:loan_id>/events")
@login_required
def fire_event(loan_id: int):
    form = forms.EventForm()
    if not submitted(form):
        lending.loan_for(current_user, loan_id)  # not yours: 404 before anything else
        return _loan_page(loan_id, csrf_failed=True)
    version = form.version.data or ""
    try:
        loan = lending.fire_event(
            current_user,
            loan_id,
            form.event.data,
            due_date=form.due_date.data or None,
            # 0 is no loan's version: a missing or mangled field is a stale page.
            expected_version=int(version) if version.isdigit() else 0,
            note=form.note.data or None,
        )
    except InvalidInput as exc:
        if exc.field in ("due_date", "note"):
            getattr(form, exc.field).errors = [exc.message]
            return _loan_page(loan_id, refused=exc, failed_form=form)
        return _loan_page(loan_id, refused=InvalidInput(exc.message), failed_form=form)
    except MoochError as exc:
        if exc.status == 404:
            abort(404)
        # What was typed (a note, a date) stays in its form, if that move still exists.
        return _loan_page(loan_id, refused=exc, failed_form=form)
    other = loan.shown_name(loan.other_party(current_user), current_user)
    flash(
        words.flash(loan.events[-1].event, other=other, item=loan.item, due=loan.due_date),
        "success",
    )
    return redirect(url_for("web.loan", loan_id=loan_id))


@web.post("/loans/<int:loan_id>/mail/<int:notification_id>/retry")
@login_required
def retry_mail(loan_id: int, notification_id: int):
    form = forms.ButtonForm(prefix="retry")
    if not submitted(form):
        lending.loan_for(current_user, loan_id)
        return _loan_page(loan_id, csrf_failed=True)
    try:
        lending.retry_mail(current_user, loan_id, notification_id)
    except MoochError as exc:
        if exc.status == 404:
            abort(404)
        return _loan_page(loan_id, refused=exc)
    flash(_("We are trying that mail again; this page shows how it goes."), "success")
    return redirect(url_for("web.loan", loan_id=loan_id))


@web.post("/loans/<int:loan_id>/counterparty")
@login_required
def change_counterparty(loan_id: int):
    form = forms.CounterpartyForm()
    if not submitted(form):
        lending.loan_for(current_user, loan_id)
        return _loan_page(loan_id, csrf_failed=True)
    version = form.version.data or ""
    try:
        loan = lending.change_counterparty(
            current_user,
            loan_id,
            form.counterparty_email.data,
            expected_version=int(version) if version.isdigit() else 0,
        )
    except MoochError as exc:
        if exc.status == 404:
            abort(404)
        if exc.field == "counterparty_email":
            form.counterparty_email.errors = [exc.message]
            return _loan_page(loan_id, refused=exc, address_form=form)
        return _loan_page(loan_id, refused=exc)
    other = loan.shown_name(loan.other_party(current_user), current_user)
    flash(_("Sent to %(other)s instead.", other=other), "success")
    return redirect(url_for("web.loan", loan_id=loan_id))


def shown_name(loan: Loan, party: User | None) -> str:
    """`party`'s name as the logged-in viewer may see it (Loan.shown_name)."""
    if party is None:
        return "Mooch"
    return loan.shown_name(party, current_user)


# The loan's words, in every page and in macros imported without context.
web.add_app_template_global(words, "words")
web.add_app_template_global(shown_name)
