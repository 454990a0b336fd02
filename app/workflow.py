"""A state machine declared as data, run by `transitions`.

Both the loan and the account are described by a table of `Step`s (see
app/lending/states.py and app/accounts/states.py). This module turns such a table
into a `transitions.Machine` bound to one row at a time, and answers the questions
the services ask: which step does this event take from this state, may this actor
fire it, what does it change, who is emailed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from flask_babel import gettext as _
from transitions import Machine, MachineError

from app.errors import Forbidden, InvalidInput, NotAllowedInState


@dataclass(frozen=True)
class Step:
    """One row of a workflow table.

    `source` None is a creation (the row does not exist yet); `dest` None is a step
    that changes nothing (a reminder). `who` names the roles that may fire it;
    `notify` lists (recipient role, notifier) pairs; `needs` names inputs it requires.
    """

    event: str
    source: tuple[str, ...] | None
    dest: str | None
    who: frozenset[str]
    notify: tuple[tuple[str, str], ...] = ()
    needs: tuple[str, ...] = ()

    def target(self, current: str | None) -> str:
        return self.dest or current or ""


def step(
    event: str,
    source: str | Iterable[str] | None,
    dest: str | None,
    who: str | Iterable[str],
    notify: dict[str, str] | None = None,
    needs: Iterable[str] = (),
) -> Step:
    """Shorthand used by the tables so each row reads like a line of docs/architecture.md."""
    sources = (source,) if isinstance(source, str) else (tuple(source) if source else None)
    roles = frozenset((who,) if isinstance(who, str) else who)
    return Step(event, sources, dest, roles, tuple((notify or {}).items()), tuple(needs))


class _Bound:
    """What `transitions` drives: a stand-in whose `state` is the row's state column.

    The machine writes trigger methods onto its model; binding a stand-in instead of
    the ORM row keeps those names off the mapped class.
    """

    def __init__(self, row: object, attribute: str) -> None:
        self._row = row
        self._attribute = attribute

    @property
    def state(self) -> str:
        return getattr(self._row, self._attribute)

    @state.setter
    def state(self, value: str) -> None:
        setattr(self._row, self._attribute, value)


@dataclass
class Workflow:
    name: str
    states: tuple[str, ...]
    steps: tuple[Step, ...]
    # The human names refusals use ("Mark as returned", "on loan"); raw names otherwise.
    event_names: Mapping[str, str] = field(default_factory=dict)
    state_names: Mapping[str, str] = field(default_factory=dict)
    events: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        self.events = frozenset(s.event for s in self.steps)
        if self.event_names or self.state_names:
            missing = [e for e in self.events if e not in self.event_names]
            missing += [s for s in self.states if s not in self.state_names]
            if missing:
                raise ValueError(f"{self.name}: no names for {sorted(missing)}")
        seen: set[tuple[str, str]] = set()
        for s in self.steps:
            for state in (s.source or ()) + ((s.dest,) if s.dest else ()):
                if state not in self.states:
                    raise ValueError(f"{self.name}: {s.event} names unknown state {state!r}")
            for source in s.source or ():
                if (s.event, source) in seen:
                    raise ValueError(f"{self.name}: two steps for {s.event} from {source}")
                seen.add((s.event, source))

    # -- questions -------------------------------------------------------------

    def creation(self, event: str, role: str) -> Step:
        for s in self.steps:
            if s.source is None and s.event == event and role in s.who:
                return s
        raise Forbidden(f"A {role} cannot {self._say(event)} this.")

    def step_from(self, state: str, event: str) -> Step | None:
        for s in self.steps:
            if s.event == event and s.source and state in s.source:
                return s
        return None

    def check(self, state: str, event: str, role: str | None) -> Step:
        """The step `role` may take with `event` from `state`, or a typed refusal."""
        if self.step_from_any(event) is None:
            raise InvalidInput(f"Unknown event {event!r}.", field="event")
        found = self.step_from(state, event)
        if found is None:
            if self.name == "loan":  # the one a person meets, on the loan page
                raise NotAllowedInState(
                    _(
                        "%(event)s is not possible now: this loan is %(state)s.",
                        event=self._say(event, capital=True),
                        state=self._say_state(state),
                    )
                )
            raise NotAllowedInState(
                f"{self._say(event, capital=True)} is not possible now: this {self.name} is "
                f"{self._say_state(state)}."
            )
        if role not in found.who:
            who = " or ".join(sorted(found.who))
            if self.name == "loan" and who in ("lender", "borrower"):
                message = {
                    "lender": _("Only the lender can %(event)s this loan.", event=self._say(event)),
                    "borrower": _(
                        "Only the borrower can %(event)s this loan.", event=self._say(event)
                    ),
                }[who]
                raise Forbidden(message)
            raise Forbidden(f"Only the {who} can {self._say(event)} this {self.name}.")
        return found

    def _say(self, event: str, capital: bool = False) -> str:
        # Names are messages of the catalogue (app.lending.words): said in the
        # reader's language, in its quotation marks.
        name = self.event_names.get(event)
        if name:
            return _("“%(name)s”", name=_(name))
        said = event.replace("_", " ")
        return said.capitalize() if capital else said

    def _say_state(self, state: str) -> str:
        name = self.state_names.get(state)
        return _("“%(name)s”", name=_(name)) if name else state

    def step_from_any(self, event: str) -> Step | None:
        return next((s for s in self.steps if s.event == event and s.source), None)

    def allowed(self, state: str, role: str | None) -> list[str]:
        return [s.event for s in self.steps if s.source and state in s.source and role in s.who]

    # -- running ---------------------------------------------------------------

    def machine_for(self, row: object, attribute: str = "state") -> tuple[Machine, _Bound]:
        """A `transitions` machine bound to `row`, starting from the row's own state."""
        model = _Bound(row, attribute)
        transitions = [
            {"trigger": s.event, "source": list(s.source), "dest": s.dest}
            for s in self.steps
            if s.source
        ]
        machine = Machine(
            model=model,
            states=list(self.states),
            transitions=transitions,
            initial=model.state,
            auto_transitions=False,
            send_event=True,
            model_attribute="state",
        )
        return machine, model

    def fire(
        self,
        row: object,
        event: str,
        after: Callable[[str, str], None] | None = None,
        attribute: str = "state",
    ) -> tuple[str, str]:
        """Fire `event` on `row` through the machine; returns (from, to).

        `after(from, to)` runs inside the transition, after the state changed, so
        what it writes belongs to the same database transaction as the change.
        """
        machine, model = self.machine_for(row, attribute)
        before = model.state
        if after is not None:
            machine.after_state_change = [lambda event_data: after(before, model.state)]
        try:
            getattr(model, event)()
        except (MachineError, AttributeError) as exc:
            raise NotAllowedInState(
                f"Cannot {event.replace('_', ' ')} a {self.name} that is {before}."
            ) from exc
        return before, model.state
