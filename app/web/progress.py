"""The loan page's progress line: the states this loan went through, where it is
now, and the likely next steps, in the loan's own words.

The path comes from the loan's audit events; the next steps are read off the table
the code runs (app.lending.states.LOAN): from the current state, follow the "main
road" (the step that is not a detour such as a cancel or a dispute) until a finished
state, at most `AHEAD` steps. No path is written down here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from app.lending import words
from app.lending.states import LOAN
from app.workflow import Workflow

# Steps off the happy path: calling the loan off, or something going wrong. The next
# steps shown never take one of these.
DETOURS = frozenset({"cancel", "decline", "dispute", "expire", "mark_overdue"})
# How many likely next steps the line shows.
AHEAD = 3

Status = Literal["done", "current", "next"]


@dataclass(frozen=True)
class Step:
    state: str
    name: str  # the state's human name (words.STATE_NAMES)
    status: Status
    at: datetime | None = None  # when the loan entered it (None: not yet, or unknown)


def progress(loan, workflow: Workflow = LOAN) -> list[Step]:
    """The loan's path (done), its state (current) and its likely next steps (next)."""
    path: list[tuple[str, datetime | None]] = []
    for event in loan.events:
        to_state = event.to_state
        if not to_state or to_state not in workflow.states:
            continue
        if path and path[-1][0] == to_state:  # a reminder, a note: no move
            continue
        path.append((to_state, event.created_at))
    if not path or path[-1][0] != loan.state:  # no history (or not the last word)
        path.append((loan.state, None))
    steps = [Step(state, _name(state), "done", at) for state, at in path[:-1]]
    state, at = path[-1]
    steps.append(Step(state, _name(state), "current", at))
    seen = {s for s, _ in path}
    steps += [Step(s, _name(s), "next") for s in main_road(state, workflow, seen=seen)]
    return steps


def main_road(state: str, workflow: Workflow = LOAN, *, seen=()) -> list[str]:
    """The states ahead of `state` on the happy path, at most `AHEAD` of them: at each
    state, the first step of the table that moves the loan and is not a detour."""
    ahead: list[str] = []
    visited = set(seen) | {state}
    while len(ahead) < AHEAD:
        forward = next(
            (
                s.dest
                for s in workflow.steps
                if s.source
                and state in s.source
                and s.dest
                and s.dest != state
                and s.event not in DETOURS
                and s.dest not in visited
            ),
            None,
        )
        if forward is None:
            break
        ahead.append(forward)
        visited.add(forward)
        state = forward
    return ahead


def _name(state: str) -> str:
    return words.state_name(state) if state in words.STATE_NAMES else state
