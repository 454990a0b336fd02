"""The loan's state machine as an inline SVG, drawn from the table the code runs.

`state_diagram(current)` lays out `LOAN` (app/lending/states.py) itself, so the
picture cannot drift from the rules: no Graphviz, nothing hand-drawn. States and
events are labelled with their human names (app.lending.words, through the
workflow's `state_names` and `event_names`); `current` None draws no state as current
(the "How loans work" page). The layout is
a small layered one (Sugiyama-style): a start dot, then one row per layer of the
longest path from creation, long edges routed through invisible waypoints, rows
ordered by the barycentre of their parents. Rows are stacked top to bottom so that
the drawing stays narrow enough to read on a phone; the viewBox lets it scale.

The `<svg>` is `role="img"` with a title naming the current state and a description
listing every transition in words, which is what a screen reader announces; the
current state's node is also drawn filled and carries `aria-current="step"`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import pairwise

from flask_babel import gettext as _
from markupsafe import Markup, escape

from app import i18n
from app.i18n import N_
from app.lending.states import LOAN
from app.workflow import Workflow

FONT = 14
LABEL_FONT = 12
NODE_HEIGHT = 34
NODE_PAD = 14  # each side of a state's name
ROW_GAP = 78  # between rows: room for two stacked edge labels
COLUMN_GAP = 26
DUMMY_WIDTH = 12
MARGIN = 16
START_RADIUS = 7
LABEL_STEP = 17  # vertical distance between stacked labels above one state

# The roles, as the description says who takes a step.
ROLES = {"lender": N_("lender"), "borrower": N_("borrower"), "system": N_("system")}


def _text_width(text: str, size: int) -> float:
    """A generous estimate of a sans-serif string's width: layout needs no fonts."""
    return len(text) * size * 0.62


@dataclass
class _Node:
    key: str  # a state name, or "~<n>" for a waypoint of a long edge
    layer: int
    width: float
    right_extra: float = 0.0  # room for a self-loop and its label
    x: float = 0.0  # left edge
    order: float = 0.0

    @property
    def dummy(self) -> bool:
        return self.key.startswith("~")

    @property
    def centre(self) -> float:
        return self.x + self.width / 2


@dataclass
class _Edge:
    """One drawn line: source state → waypoints → dest state, in a label group."""

    source: str | None  # None: the start dot
    dest: str
    group: tuple[str, str]  # (label, dest): edges that share one label
    path: list[str] = field(default_factory=list)  # node keys, waypoints included


@dataclass
class _Layout:
    nodes: dict[str, _Node]
    rows: list[list[str]]
    edges: list[_Edge]
    labels: dict[tuple[str, str], str]
    loops: list[tuple[str, str]]  # (state, event)
    width: float
    row_y: list[float]  # top of each row
    start_x: float
    start_y: float


def _event(workflow: Workflow, event: str) -> str:
    name = workflow.event_names.get(event)
    return _(name) if name else event  # in the reader's language


def _state(workflow: Workflow, state: str) -> str:
    name = workflow.state_names.get(state)
    return _(name) if name else state


def _who(roles) -> str:
    return _(" or ").join(_(ROLES[role]) if role in ROLES else role for role in sorted(roles))


def _label(step, workflow: Workflow) -> str:
    name = _event(workflow, step.event)
    if step.source is None:
        creators = [s for s in workflow.steps if s.source is None and s.event == step.event]
        if len(creators) > 1:  # by who starts it: "Borrower starts", "Lender starts"
            if step.who == {"borrower"}:
                return _("Borrower starts")
            if step.who == {"lender"}:
                return _("Lender starts")
            return f"{' or '.join(sorted(step.who)).capitalize()} starts"
    return name


def _layers(workflow: Workflow) -> dict[str, int]:
    """Each state's row: the longest path to it from creation (the table is acyclic
    apart from self-loops), so every edge points down."""
    layer: dict[str, int] = {}
    for s in workflow.steps:
        if s.source is None and s.dest:
            layer[s.dest] = 0
    changed = True
    while changed:
        changed = False
        for s in workflow.steps:
            if not s.source or not s.dest:
                continue
            for source in s.source:
                if source in layer and s.dest != source and layer.get(s.dest, -1) <= layer[source]:
                    layer[s.dest] = layer[source] + 1
                    changed = True
                    if layer[s.dest] > len(workflow.states):
                        raise ValueError(f"{workflow.name}: the table has a cycle")
    # A state no step reaches still gets drawn, in the last row.
    last = max(layer.values(), default=0)
    for state in workflow.states:
        layer.setdefault(state, last + 1)
    return layer


def _layout(workflow: Workflow) -> _Layout:
    layer = _layers(workflow)
    nodes = {
        s: _Node(s, layer[s], _text_width(_state(workflow, s), FONT) + 2 * NODE_PAD)
        for s in workflow.states
    }
    labels: dict[tuple[str, str], str] = {}
    edges: list[_Edge] = []
    loops: list[tuple[str, str]] = []
    waypoints = 0

    for s in workflow.steps:
        sources: tuple[str | None, ...] = s.source if s.source is not None else (None,)
        for source in sources:
            if s.dest is None or s.dest == source:
                loops.append((source, s.event))
                loop_width = _text_width(_event(workflow, s.event), LABEL_FONT) + 40
                nodes[source].right_extra = max(nodes[source].right_extra, loop_width)
                continue
            group = (_label(s, workflow), s.dest)
            labels[group] = group[0]
            edge = _Edge(source, s.dest, group)
            top = -1 if source is None else layer[source]
            path = [] if source is None else [source]
            for row in range(top + 1, layer[s.dest]):
                waypoints += 1
                key = f"~{waypoints}"
                nodes[key] = _Node(key, row, DUMMY_WIDTH)
                path.append(key)
            path.append(s.dest)
            edge.path = path
            edges.append(edge)

    rows: list[list[str]] = [[] for _ in range(max(n.layer for n in nodes.values()) + 1)]
    rank = {state: i for i, state in enumerate(workflow.states)}
    for key, node in nodes.items():
        rows[node.layer].append(key)

    parents: dict[str, list[str]] = defaultdict(list)
    children: dict[str, list[str]] = defaultdict(list)
    for edge in edges:
        for a, b in pairwise(edge.path):
            parents[b].append(a)
            children[a].append(b)

    def tiebreak(key: str) -> float:
        if not nodes[key].dummy:
            return rank[key]
        edge = next(e for e in edges if key in e.path)
        return rank[edge.dest] + 0.5

    rows[0].sort(key=tiebreak)
    for i, key in enumerate(rows[0]):
        nodes[key].order = i

    def sweep(row: list[str], neighbours: dict[str, list[str]]) -> None:
        def barycentre(key: str) -> float:
            near = neighbours.get(key)
            if not near:
                return nodes[key].order
            return sum(nodes[n].order for n in near) / len(near)

        row.sort(key=lambda k: (barycentre(k), tiebreak(k)))
        for i, key in enumerate(row):
            nodes[key].order = i

    for row in rows[1:]:
        row.sort(key=tiebreak)
        for i, key in enumerate(row):
            nodes[key].order = i
    for _round in range(2):  # down then up, twice: few crossings, always the same result
        for row in rows[1:]:
            sweep(row, parents)
        for row in reversed(rows[:-1]):
            sweep(row, children)

    def row_width(row: list[str]) -> float:
        return sum(nodes[k].width + nodes[k].right_extra for k in row) + COLUMN_GAP * (len(row) - 1)

    inner = max(row_width(row) for row in rows)
    for text in labels.values():  # a wide label above a lone state
        inner = max(inner, _text_width(text, LABEL_FONT) + 8)
    for row in rows:
        x = MARGIN + (inner - row_width(row)) / 2
        for key in row:
            nodes[key].x = x
            x += nodes[key].width + nodes[key].right_extra + COLUMN_GAP

    top = MARGIN + 2 * START_RADIUS + ROW_GAP
    row_y = [top + i * (NODE_HEIGHT + ROW_GAP) for i in range(len(rows))]
    return _Layout(
        nodes=nodes,
        rows=rows,
        edges=edges,
        labels=labels,
        loops=loops,
        width=inner + 2 * MARGIN,
        row_y=row_y,
        start_x=MARGIN + inner / 2,
        start_y=MARGIN + START_RADIUS,
    )


def _fmt(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")


def _spread(left: float, width: float, count: int, index: int) -> float:
    return left + width * (index + 1) / (count + 1)


def _render(workflow: Workflow, current: str | None) -> str:
    lay = _layout(workflow)
    nodes = lay.nodes
    uid = f"{workflow.name}-diagram-{current or 'all'}"
    height = lay.row_y[-1] + NODE_HEIGHT + MARGIN

    # Ports: outgoing edges leave a state's bottom spread by where they go; each
    # label group enters its destination's top at one point, under its label.
    out_ports: dict[tuple[str, int], float] = {}
    by_source: dict[str, list[int]] = defaultdict(list)
    for i, edge in enumerate(lay.edges):
        if edge.source is not None:
            by_source[edge.source].append(i)
    for source, indices in by_source.items():
        node = nodes[source]
        indices.sort(key=lambda i: (nodes[lay.edges[i].path[1]].centre, i))
        for n, i in enumerate(indices):
            out_ports[(source, i)] = _spread(node.x, node.width, len(indices), n)

    groups_into: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for edge in lay.edges:
        if edge.group not in groups_into[edge.dest]:
            groups_into[edge.dest].append(edge.group)
    in_ports: dict[tuple[str, str], float] = {}
    label_rank: dict[tuple[str, str], int] = {}
    for dest, groups in groups_into.items():

        def mean_source_x(group: tuple[str, str]) -> float:
            xs = [
                nodes[e.path[-2]].centre if len(e.path) > 1 else lay.start_x
                for e in lay.edges
                if e.group == group
            ]
            return sum(xs) / len(xs)

        groups.sort(key=mean_source_x)
        node = nodes[dest]
        for n, group in enumerate(groups):
            in_ports[group] = _spread(node.x, node.width, len(groups), n)
            label_rank[group] = n

    out: list[str] = []
    title = (
        _("Loan states: this loan is now %(state)s", state=_state(workflow, current))
        if current
        else _("How a loan moves from step to step")
    )
    out.append(
        f'<svg xmlns="http://www.w3.org/2000/svg" class="state-diagram" role="img" '
        f'viewBox="0 0 {_fmt(lay.width)} {_fmt(height)}" width="100%" '
        f'style="max-width:{_fmt(lay.width * 1.25)}px;height:auto" '
        f'aria-labelledby="{uid}-title {uid}-desc" font-family="system-ui, sans-serif">'
    )
    out.append(f'<title id="{uid}-title">{escape(title)}</title>')
    out.append(f'<desc id="{uid}-desc">{escape(_describe(workflow, current))}</desc>')
    out.append(
        f'<defs><marker id="{uid}-arrow" viewBox="0 0 10 10" refX="9" refY="5" '
        'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
        '<path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>'
    )
    arrow = f'marker-end="url(#{uid}-arrow)"'
    line = 'fill="none" stroke="#777" stroke-width="1.4"'

    start = escape(_("start: a new loan"))
    out.append(
        f'<circle class="start" cx="{_fmt(lay.start_x)}" cy="{_fmt(lay.start_y)}" '
        f'r="{START_RADIUS}" fill="#333"><title>{start}</title></circle>'
    )

    for i, edge in enumerate(lay.edges):
        points: list[tuple[float, float]] = []
        if edge.source is None:
            points.append((lay.start_x, lay.start_y + START_RADIUS))
        else:
            src = nodes[edge.source]
            points.append((out_ports[(edge.source, i)], lay.row_y[src.layer] + NODE_HEIGHT))
        for key in edge.path[1:-1] if edge.source is not None else edge.path[:-1]:
            way = nodes[key]
            points.append((way.centre, lay.row_y[way.layer]))
            points.append((way.centre, lay.row_y[way.layer] + NODE_HEIGHT))
        dest = nodes[edge.dest]
        points.append((in_ports[edge.group], lay.row_y[dest.layer] - 1))
        d = f"M{_fmt(points[0][0])},{_fmt(points[0][1])}"
        for (x0, y0), (x1, y1) in pairwise(points):
            if x0 == x1:
                d += f" L{_fmt(x1)},{_fmt(y1)}"
            else:
                mid = (y0 + y1) / 2
                d += f" C{_fmt(x0)},{_fmt(mid)} {_fmt(x1)},{_fmt(mid)} {_fmt(x1)},{_fmt(y1)}"
        source_name = edge.source or "start"
        out.append(
            f'<path class="edge" data-event="{escape(edge.group[0])}" '
            f'data-from="{source_name}" data-to="{edge.dest}" d="{d}" {line} {arrow}/>'
        )

    for (text, dest), rank in sorted(label_rank.items(), key=lambda kv: kv[0]):
        x = in_ports[(text, dest)]
        y = lay.row_y[nodes[dest].layer] - 12
        if len(groups_into[dest]) == 2:  # side by side, each beside its own line
            anchor = "end" if rank == 0 else "start"
            out.append(_edge_label(text, x + (-5 if rank == 0 else 5), y, anchor))
        else:
            out.append(_edge_label(text, x, y - rank * LABEL_STEP))

    for state, event in lay.loops:
        node = nodes[state]
        y = lay.row_y[node.layer]
        right = node.x + node.width
        d = (
            f"M{_fmt(right)},{_fmt(y + 9)} C{_fmt(right + 36)},{_fmt(y - 12)} "
            f"{_fmt(right + 36)},{_fmt(y + NODE_HEIGHT + 12)} {_fmt(right + 1)},"
            f"{_fmt(y + NODE_HEIGHT - 9)}"
        )
        out.append(
            f'<path class="edge loop" data-event="{event}" data-from="{state}" '
            f'data-to="{state}" d="{d}" {line} {arrow}/>'
        )
        out.append(
            _edge_label(
                _event(workflow, event), right + 34, y + NODE_HEIGHT / 2 + 4, anchor="start"
            )
        )

    terminal = {
        s for s in workflow.states if not any(s in (t.source or ()) for t in workflow.steps)
    }
    for key in (k for row in lay.rows for k in row):
        node = nodes[key]
        if node.dummy:
            continue
        y = lay.row_y[node.layer]
        is_current = key == current
        if is_current:
            fill, stroke, ink, weight, width = "#1d4ed8", "#1e3a8a", "#fff", "700", "2.5"
        elif key in terminal:
            fill, stroke, ink, weight, width = "#f1f1f1", "#777", "#222", "400", "1.2"
        else:
            fill, stroke, ink, weight, width = "#fff", "#555", "#222", "400", "1.2"
        extra = ' aria-current="step"' if is_current else ""
        name = escape(_state(workflow, key))
        spoken = _("%(name)s (now)", name=name) if is_current else name
        out.append(
            f'<g class="state{" current" if is_current else ""}" data-state="{key}"{extra}>'
            f"<title>{spoken}</title>"
            f'<rect x="{_fmt(node.x)}" y="{_fmt(y)}" width="{_fmt(node.width)}" '
            f'height="{NODE_HEIGHT}" rx="{NODE_HEIGHT / 2:g}" fill="{fill}" '
            f'stroke="{stroke}" stroke-width="{width}"/>'
            f'<text x="{_fmt(node.centre)}" y="{_fmt(y + NODE_HEIGHT / 2 + FONT * 0.35)}" '
            f'text-anchor="middle" font-size="{FONT}" font-weight="{weight}" '
            f'fill="{ink}">{name}</text></g>'
        )
    out.append("</svg>")
    return "".join(out)


def _edge_label(text: str, x: float, y: float, anchor: str = "middle") -> str:
    # A white box under the label keeps it readable where it sits on its line.
    width = _text_width(text, LABEL_FONT) + 6
    left = {"middle": x - width / 2, "start": x - 3, "end": x - width + 3}[anchor]
    return (
        f'<rect x="{_fmt(left)}" y="{_fmt(y - LABEL_FONT + 1)}" width="{_fmt(width)}" '
        f'height="{LABEL_FONT + 4}" rx="3" fill="#fff" fill-opacity="0.9"/>'
        f'<text class="event" x="{_fmt(x)}" y="{_fmt(y)}" text-anchor="{anchor}" '
        f'font-size="{LABEL_FONT}" fill="#333">{escape(text)}</text>'
    )


def _describe(workflow: Workflow, current: str | None) -> str:
    """The diagram in words, for screen readers: every transition of the table."""
    parts = []
    for s in workflow.steps:
        said = {"event": _event(workflow, s.event), "who": _who(s.who)}
        sources = _(" or ").join(_state(workflow, source) for source in s.source or ())
        if s.source is None:
            state = _state(workflow, s.dest)
            parts.append(
                _("%(event)s (by the %(who)s) starts it as %(state)s", state=state, **said)
            )
        elif s.dest is None:
            parts.append(
                _("%(event)s (by the %(who)s) leaves it %(states)s", states=sources, **said)
            )
        else:
            dest = _state(workflow, s.dest)
            parts.append(
                _(
                    "%(event)s (by the %(who)s) moves %(states)s to %(state)s",
                    states=sources,
                    state=dest,
                    **said,
                )
            )
    now = _("This loan is now %(state)s. ", state=_state(workflow, current)) if current else ""
    return now + "; ".join(parts) + "."


@lru_cache(maxsize=64)
def _cached(workflow_name: str, current: str | None, language: str) -> str:
    # `language`: a drawing per language (its names, and the widths they need).
    return _render(_WORKFLOWS[workflow_name], current)


_WORKFLOWS = {LOAN.name: LOAN}


def state_diagram(current: str | None = None) -> Markup:
    """The loan state machine as inline SVG with `current` highlighted (cached); with
    no `current`, the whole machine and no state marked ("How loans work")."""
    if current is not None and current not in LOAN.states:
        raise ValueError(f"unknown loan state {current!r}")
    return Markup(_cached(LOAN.name, current, i18n.current_locale()))
