"""The browser pages. Each view is thin: a form, a service call, then a redirect
with a flash (POST-redirect-GET), or the page again with the service's refusal shown
where it belongs (a field's error, or a message at the top)."""

from __future__ import annotations

from collections import defaultdict

from flask import (
    Blueprint,
    abort,
    flash,
    has_request_context,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import Field

from app.accounts import service as accounts
from app.accounts.tokens import read_token
from app.errors import InvalidInput, MoochError
from app.extensions import db
from app.lending import service as lending
from app.lending.diagram import state_diagram
from app.models import Loan, User
from app.web import forms, labels
from app.web.errors import CSRF_EXPIRED

web = Blueprint(
    "web",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/static/web",
)


@web.app_context_processor
def words() -> dict:
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
        form.form_errors.append(CSRF_EXPIRED)
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


def safe_next(target: str | None) -> str:
    """Only a path on this site: never another host, however it is spelled."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return url_for("web.dashboard")


# -- home and dashboard -------------------------------------------------------------


@web.get("/")
def dashboard():
    if not current_user.is_authenticated:
        return render_template("web/welcome.html")
    groups: dict[str, list] = {"act": [], "wait": [], "done": []}
    for loan in lending.loans_for(current_user):
        events = lending.allowed_events(loan, current_user)
        if events:
            groups["act"].append((loan, events))
        elif loan.state in labels.FINISHED:
            groups["done"].append((loan, events))
        else:
            groups["wait"].append((loan, events))
    return render_template("web/dashboard.html", groups=groups)


# -- signing up, confirming, logging in ---------------------------------------------


@web.route("/signup", methods=["GET", "POST"])
def signup():
    if current_user.is_authenticated:
        return redirect(url_for("web.dashboard"))
    form = forms.SignUpForm()
    if request.method == "GET" and request.args.get("email"):
        form.email.data = request.args["email"]
    if submitted(form):
        try:
            accounts.sign_up(form.email.data, form.password.data, form.name.data)
        except MoochError as exc:
            refuse(form, exc)
        else:
            return redirect(url_for("web.check_email", why="signup"))
    return render_template("web/signup.html", form=form), status_of(form)


@web.get("/check-email")
def check_email():
    why = request.args.get("why", "signup")
    if why not in ("signup", "reset", "close"):
        why = "signup"
    return render_template("web/check_email.html", why=why)


@web.get("/confirm/<token>")
def confirm(token: str):
    try:
        user = accounts.activate(token)
    except MoochError as exc:
        return render_template("web/link_failed.html", message=exc.message), 400
    login_user(user)
    flash(f"Welcome, {user.name}: your address is confirmed and you are logged in.", "success")
    return redirect(url_for("web.dashboard"))


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
            login_user(user)
            flash(f"Hello, {user.name}.", "success")
            return redirect(safe_next(request.args.get("next")))
    return render_template("web/login.html", form=form), status_of(form)


@web.post("/logout")
def logout():
    form = forms.ButtonForm(prefix="logout")
    if submitted(form):
        logout_user()
        flash("You are logged out.", "info")
    return redirect(url_for("web.dashboard"))


@web.route("/forgot-password", methods=["GET", "POST"])
def forgot_password():
    form = forms.ForgotPasswordForm()
    if submitted(form):
        try:
            accounts.request_password_reset(form.email.data)
        except MoochError as exc:
            refuse(form, exc)
        else:
            return redirect(url_for("web.check_email", why="reset"))
    return render_template("web/forgot_password.html", form=form), status_of(form)


@web.route("/reset-password/<token>", methods=["GET", "POST"])
def reset_password(token: str):
    try:
        read_token("reset", token)
    except MoochError as exc:
        return render_template("web/link_failed.html", message=exc.message), 400
    form = forms.ResetPasswordForm()
    if submitted(form):
        try:
            accounts.reset_password(token, form.password.data)
        except MoochError as exc:
            if exc.field == "token":
                return render_template("web/link_failed.html", message=exc.message), 400
            refuse(form, exc)
        else:
            if current_user.is_authenticated:
                logout_user()
            flash("Your password is changed: log in with the new one.", "success")
            return redirect(url_for("web.login"))
    return render_template("web/reset_password.html", form=form), status_of(form)


# -- the account --------------------------------------------------------------------


def _account_page(name_form=None, close_form=None, refused: MoochError | None = None):
    name_form = name_form or forms.NameForm(formdata=None, name=current_user.name)
    close_form = close_form or forms.ButtonForm(prefix="close")
    status = refused.status if refused else status_of(name_form)
    if close_form.form_errors and not refused:
        status = 400
    return (
        render_template(
            "web/account.html",
            name_form=name_form,
            close_form=close_form,
            keep_form=forms.ButtonForm(prefix="keep"),
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
            flash("Your name is saved.", "success")
            return redirect(url_for("web.account"))
    return _account_page(name_form=form)


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
            flash("Your account stays open.", "success")
    else:
        flash(CSRF_EXPIRED, "error")
    return redirect(url_for("web.account"))


@web.route("/account/close/<token>", methods=["GET", "POST"])
def close_account(token: str):
    """The emailed link opens a page with one button; closing takes that POST, so
    that a mail scanner fetching the link cannot close anyone's account."""
    try:
        user = db.session.get(User, read_token("disconnect", token))
    except MoochError as exc:
        return render_template("web/link_failed.html", message=exc.message), 400
    form = forms.ButtonForm(prefix="bye")
    if submitted(form):
        try:
            accounts.disconnect(token)
        except MoochError as exc:
            return render_template("web/link_failed.html", message=exc.message), exc.status
        if current_user.is_authenticated and current_user.id == user.id:
            logout_user()
        flash("Your account is closed. Goodbye, and thank you.", "info")
        return redirect(url_for("web.dashboard"))
    if user is None or user.state != "closing":
        message = "This account is not waiting to be closed."
        if user is not None and user.state == "closed":
            message = "This account is already closed."
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
            other = loan.borrower if loan.lender_id == current_user.id else loan.lender
            sent = "offer" if loan.state == "offered" else "request"
            flash(f"Your {sent} is on its way to {other.name}.", "success")
            return redirect(url_for("web.loan", loan_id=loan.id))
    return render_template("web/new_loan.html", form=form), status_of(form, refused)


def _loan_page(
    loan_id: int,
    refused: MoochError | None = None,
    failed_form: forms.EventForm | None = None,
    csrf_failed: bool = False,
):
    loan = lending.loan_for(current_user, loan_id)
    events = lending.allowed_events(loan, current_user)
    event_forms = []
    for event in events:
        if failed_form is not None and failed_form.event.data == event:
            form = failed_form
            form.version.data = str(loan.version)
        else:
            form = forms.EventForm(formdata=None, event=event, version=str(loan.version))
            if loan.due_date:
                form.due_date.data = loan.due_date.isoformat()
        event_forms.append(form)
    mail = defaultdict(list)
    for row in loan.notifications:
        mail[row.audit_event_id].append(row)
    message = refused.message if refused is not None and not refused.field else None
    if csrf_failed:
        message = CSRF_EXPIRED
    status = refused.status if refused is not None else (400 if csrf_failed else 200)
    return (
        render_template(
            "web/loan.html",
            loan=loan,
            role=loan.role_of(current_user),
            other=loan.borrower if loan.lender_id == current_user.id else loan.lender,
            event_forms=event_forms,
            mail=mail,
            refusal=message,
            refusal_kind=refused.code if refused is not None else None,
            diagram=state_diagram(loan.state),
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
        lending.fire_event(
            current_user,
            loan_id,
            form.event.data,
            due_date=form.due_date.data or None,
            # 0 is no loan's version: a missing or mangled field is a stale page.
            expected_version=int(version) if version.isdigit() else 0,
        )
    except InvalidInput as exc:
        if exc.field == "due_date":
            form.due_date.errors = [exc.message]
            return _loan_page(loan_id, refused=exc, failed_form=form)
        return _loan_page(loan_id, refused=InvalidInput(exc.message))
    except MoochError as exc:
        if exc.status == 404:
            abort(404)
        return _loan_page(loan_id, refused=exc)
    flash(f"Done: {labels.EVENTS.get(form.event.data, form.event.data)}.", "success")
    return redirect(url_for("web.loan", loan_id=loan_id))


def loan_title(loan: Loan, viewer: User) -> str:
    if loan.lender_id == viewer.id:
        return f"You lend {loan.item} to {loan.borrower.name}"
    return f"You borrow {loan.item} from {loan.lender.name}"


web.add_app_template_global(loan_title)
