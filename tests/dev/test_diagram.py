"""The state diagram is drawn from the table the code runs, in human words, with one
state marked (or none, on the "How loans work" page)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from app.lending.states import LOAN, STATES
from app.lending.words import EVENTS, STATE_NAMES
from app.web.diagram import state_diagram

SVG = "{http://www.w3.org/2000/svg}"


def parse(current: str | None) -> ET.Element:
    return ET.fromstring(str(state_diagram(current)))


def test_every_state_and_event_of_the_table_is_drawn():
    root = parse("requested")
    assert root.tag == f"{SVG}svg" and root.get("role") == "img"
    assert root.get("viewBox") and root.find(f"{SVG}title") is not None
    drawn = {g.get("data-state") for g in root.iter(f"{SVG}g") if g.get("data-state")}
    assert drawn == set(STATES)
    # Each state and each event by its human name (app.lending.words), never the raw one.
    names = {g.get("data-state"): g.find(f"{SVG}text").text for g in root.iter(f"{SVG}g")}
    assert names == {s: STATE_NAMES[s] for s in STATES}
    labels = {t.text for t in root.iter(f"{SVG}text") if "event" in (t.get("class") or "")}
    for step in LOAN.steps:
        if step.source is None:  # two ways to start one: by who starts it
            assert f"{''.join(step.who).capitalize()} starts" in labels, step.who
        else:
            assert EVENTS[step.event].name in labels, step.event
    assert "mark_returned" not in (root.find(f"{SVG}desc").text or "")
    edges = {
        (p.get("data-from"), p.get("data-to"))
        for p in root.iter(f"{SVG}path")
        if p.get("class", "").startswith("edge")
    }
    for step in LOAN.steps:
        for source in step.source or ("start",):
            assert (source, step.dest or source) in edges, (step.event, source)


@pytest.mark.parametrize("current", STATES)
def test_exactly_the_current_state_is_highlighted(current):
    root = parse(current)
    marked = [g for g in root.iter(f"{SVG}g") if "current" in (g.get("class") or "").split()]
    assert [g.get("data-state") for g in marked] == [current]
    assert marked[0].get("aria-current") == "step"
    assert marked[0].find(f"{SVG}title").text == f"{STATE_NAMES[current]} (now)"
    assert [g.get("data-state") for g in root.iter(f"{SVG}g") if g.get("aria-current")] == [current]
    assert STATE_NAMES[current] in root.find(f"{SVG}title").text


def test_with_no_current_state_none_is_marked():
    root = parse(None)
    assert not [g for g in root.iter(f"{SVG}g") if g.get("aria-current")]
    assert {g.get("data-state") for g in root.iter(f"{SVG}g") if g.get("data-state")} == set(STATES)
    # The same size as the loan's: one inline style, one CSP hash (app.security).
    assert root.get("style") == parse("lent").get("style")


def test_cached_and_safe_to_inline():
    first = state_diagram("lent")
    assert state_diagram("lent") is not None and str(first) == str(state_diagram("lent"))
    assert first.__html__() == str(first)  # Markup: Jinja inlines it unescaped
    ids = [e.get("id") for e in ET.fromstring(str(first)).iter() if e.get("id")]
    other = [e.get("id") for e in ET.fromstring(str(state_diagram("closed"))).iter() if e.get("id")]
    assert not set(ids) & set(other)  # two diagrams on one page do not clash


def test_unknown_state_is_refused():
    with pytest.raises(ValueError):
        state_diagram("stolen")


def test_drawn_from_whatever_table_it_is_given():
    from app.web.diagram import _render
    from app.workflow import Workflow, step

    toy = Workflow(
        "toy",
        ("new", "done", "lost"),
        (
            step("make", None, "new", "me"),
            step("finish", "new", "done", "me"),
            step("drop", ("new", "done"), "lost", "me"),
            step("poke", "new", None, "me"),
        ),
    )
    root = ET.fromstring(_render(toy, "done"))
    drawn = {g.get("data-state") for g in root.iter(f"{SVG}g") if g.get("data-state")}
    assert drawn == {"new", "done", "lost"}
    labels = {t.text for t in root.iter(f"{SVG}text") if t.get("class") == "event"}
    assert labels == {"make", "finish", "drop", "poke"}
