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
    step("invite",        None,                                     "invited",  "inviter", {"self": "invitation"}),  # noqa: E501
    step("sign_up",       None,                                     "pending",  "self",    {"self": "signup_confirmation"}),  # noqa: E501
    step("sign_up",       "invited",                                "pending",  "self",    {"self": "signup_confirmation"}),  # noqa: E501
    step("create_admin",  None,                                     "active",   "system"),  # noqa: E501
    step("activate",      "pending",                                "active",   "self",    {"self": "welcome"}),  # noqa: E501
    step("reset_password", ("invited", "pending", "active", "closing"), None,   "self",    {"self": "password_reset"}),  # noqa: E501
    step("start_disconnect", "active",                              "closing",  "self",    {"self": "disconnect_confirmation"}),  # noqa: E501
    step("disconnect",    "closing",                                "closed",   "self",    {"self": "farewell"}),  # noqa: E501
    step("abort_disconnect", "closing",                             "active",   "self"),  # noqa: E501
)  # fmt: skip

ACCOUNT = Workflow("account", STATES, STEPS)
