"""Reading a notification for its delivery: the row and every row its mail shows
(recipient, loan, both parties, the event and who fired it) in one Core statement,
made into detached model instances.

The ORM's own load of the same join (Session.get with joined loads) costs a worker
more CPU than building and sending the mail: it sets up a loader for each of the
seven entities on every call. Here the statement is built once and its row is cut
into the models' columns. The instances are the models themselves (their methods and
properties work as on any loaded row) but belong to no session: whatever the read did
not load (a loan's other events, an event's subject) raises DetachedInstanceError
when touched instead of being read lazily, so a template that reaches further fails
loudly in the tests rather than quietly costing a query per mail.
"""

from __future__ import annotations

from sqlalchemy import Connection, bindparam, inspect, select
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from app.models import AuditEvent, Loan, Notification, User


def _columns(model: type, table) -> tuple[list[str], list]:
    """The model's attribute names and the matching columns of `table` (the model's
    table or an alias of it)."""
    keys, columns = [], []
    for prop in inspect(model).column_attrs:
        keys.append(prop.key)
        columns.append(table.c[prop.columns[0].key])
    return keys, columns


def _statement():
    users = User.__table__
    notifications = Notification.__table__
    recipient, lender, borrower, actor = (
        users.alias(name) for name in ("recipient", "lender", "borrower", "actor")
    )
    loan = Loan.__table__.alias("loan")
    event = AuditEvent.__table__.alias("event")
    parts = [
        ("notification", Notification, notifications),
        ("recipient", User, recipient),
        ("loan", Loan, loan),
        ("lender", User, lender),
        ("borrower", User, borrower),
        ("event", AuditEvent, event),
        ("actor", User, actor),
    ]
    layout, selected = [], []
    for name, model, table in parts:
        keys, columns = _columns(model, table)
        layout.append((name, model, keys, slice(len(selected), len(selected) + len(keys))))
        selected += columns
    joined = (
        notifications.join(recipient, recipient.c.id == notifications.c.recipient_id)
        .outerjoin(loan, loan.c.id == notifications.c.loan_id)
        .outerjoin(lender, lender.c.id == loan.c.lender_id)
        .outerjoin(borrower, borrower.c.id == loan.c.borrower_id)
        .outerjoin(event, event.c.id == notifications.c.audit_event_id)
        .outerjoin(actor, actor.c.id == event.c.actor_id)
    )
    statement = select(*selected).select_from(joined).where(notifications.c.id == bindparam("nid"))
    return statement, layout


_STATEMENT, _LAYOUT = _statement()


def _instance(model: type, keys: list[str], values) -> object:
    instance = inspect(model).class_manager.new_instance()
    for key, value in zip(keys, values, strict=True):
        set_committed_value(instance, key, value)
    return instance


def read(connection: Connection, notification_id: int) -> Notification | None:
    """The notification `notification_id` with its recipient, loan (with lender and
    borrower) and audit event (with its actor), as detached instances; None if there is
    no such row. One statement on `connection`, run in whatever transaction it is in."""
    row = connection.execute(_STATEMENT, {"nid": notification_id}).first()
    if row is None:
        return None
    read_: dict[str, object | None] = {}
    users: dict[int, User] = {}  # one instance per person, as a session's identity map
    for name, model, keys, where in _LAYOUT:
        values = row[where]
        if values[0] is None:  # the primary key: no such row was joined
            read_[name] = None
        elif model is User:
            if values[0] not in users:
                users[values[0]] = _instance(model, keys, values)
            read_[name] = users[values[0]]
        else:
            read_[name] = _instance(model, keys, values)
    notification, loan, event = read_["notification"], read_["loan"], read_["event"]
    set_committed_value(notification, "recipient", read_["recipient"])
    set_committed_value(notification, "loan", loan)
    set_committed_value(notification, "audit_event", event)
    if loan is not None:
        set_committed_value(loan, "lender", read_["lender"])
        set_committed_value(loan, "borrower", read_["borrower"])
    if event is not None:
        set_committed_value(event, "actor", read_["actor"])
    for instance in {id(i): i for i in read_.values() if i is not None}.values():
        make_transient_to_detached(instance)
    return notification
