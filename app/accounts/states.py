"""The account workflow, as data: the table "The account" of docs/architecture.md.

Roles: "self" (the account's owner, whoever holds its signed link, or, for sign-up,
whoever typed the address: the mail goes to the address, so only its owner can act
on it), "inviter" (someone whose loan names an address with no account), "system"
(the admin CLI).
The recipient "self" is the account itself.
"""

from __future__ import annotations

from app.workflow import Workflow, step

STATES = ("invited", "pending", "active", "closing", "closed")

STEPS = (
    # event               from                      to          who        emailed
    step("invite",        None,                     "invited",  "inviter", {"self": "invitation"}),
    step("sign_up",       None,                     "pending",  "self",    {"self": "signup_confirmation"}),
    step("sign_up",       "invited",                "pending",  "self",    {"self": "signup_confirmation"}),
    # Signing up again for an address waiting to be confirmed sends a fresh link; for
    # a taken address the owner is told someone tried, and the form answers the same.
    step("sign_up",       "pending",                None,       "self",    {"self": "signup_confirmation"}),
    step("sign_up",       ("active", "closing"),    None,       "self",    {"self": "signup_attempt"}),
    step("resend_confirmation", "pending",          None,       "self",    {"self": "signup_confirmation"}),
    step("create_admin",  None,                     "active",   "system"),
    # The emailed link proves the address; whoever follows it chooses the password.
    step("activate",      "pending",                "active",   "self",    {"self": "welcome"}),
    step("reset_password", ("active", "closing"),   None,       "self",    {"self": "password_reset"}),
    step("change_password", ("active", "closing"),  None,       "self",    {"self": "password_changed"}),
    step("start_disconnect", "active",              "closing",  "self",    {"self": "disconnect_confirmation"}),
    step("disconnect",    "closing",                "closed",   "self",    {"self": "farewell"}),
    step("abort_disconnect", "closing",             "active",   "self"),
    # An address that stopped getting mail (it bounced, or its owner marked our mail as
    # spam): its owner asks for a link from the account page, the one mail that still
    # reaches it; following the link lets it get mail again.
    step("request_address_confirmation", ("active", "closing"), None, "self",
         {"self": "address_confirmation"}),
    step("confirm_address", ("active", "closing"),  None,       "self"),
)  # fmt: skip

ACCOUNT = Workflow("account", STATES, STEPS)
