"""The account workflow, as data: DESIGN.md's table "The account".

Roles: "self" (the account's owner, or whoever holds its signed link), "inviter"
(someone whose loan names an address with no account), "system" (the admin CLI).
The recipient "self" is the account itself.
"""

from __future__ import annotations

from app.workflow import Workflow, step

STATES = ("invited", "pending", "active", "closing", "closed")

STEPS = (
    # event               from                                      to          who        emailed
    step("invite",        None,                                     "invited",  "inviter", {"self": "invitation"}),
    step("sign_up",       None,                                     "pending",  "self",    {"self": "signup_confirmation"}),
    step("sign_up",       "invited",                                "pending",  "self",    {"self": "signup_confirmation"}),
    step("create_admin",  None,                                     "active",   "system"),
    step("activate",      "pending",                                "active",   "self",    {"self": "welcome"}),
    step("reset_password", ("invited", "pending", "active", "closing"), None,   "self",    {"self": "password_reset"}),
    step("start_disconnect", "active",                              "closing",  "self",    {"self": "disconnect_confirmation"}),
    step("disconnect",    "closing",                                "closed",   "self",    {"self": "farewell"}),
    step("abort_disconnect", "closing",                             "active",   "self"),
)  # fmt: skip

ACCOUNT = Workflow("account", STATES, STEPS)
