"""SNDlib network files (native text and XML) read into the raw graph of :mod:`.model`.

Both of SNDlib's published network formats are read (http://sndlib.zib.de, "I/O formats"):

* **native**: a ``?SNDlib native format; type: network; version: 1.0`` header, ``#``
  comments, and the sections ``META``, ``NODES``, ``LINKS``, ``DEMANDS`` and
  ``ADMISSIBLE_PATHS``, each ``NAME ( item* )``::

      node_id ( x y ) [( ... ) ( ... )]
      link_id ( source target ) pre_installed_capacity pre_installed_capacity_cost
              routing_cost setup_cost ( {module_capacity module_cost}* )
      demand_id ( source target ) routing_unit demand_value max_path_length

* **XML**: ``<network>`` with ``<networkStructure>`` (``<nodes coordinatesType=...>`` of
  ``<node id>`` with ``<coordinates><x/><y/></coordinates>``; ``<links>`` of ``<link id>``
  with ``<source>``, ``<target>``, ``<preInstalledModule><capacity/></preInstalledModule>``
  and ``<additionalModules>`` of ``<addModule><capacity/><cost/></addModule>``) and
  ``<demands>`` of ``<demand id>`` with ``<source>``, ``<target>``, ``<demandValue>`` (and
  an optional ``<routingUnit>``). A DOCTYPE is refused (SNDlib files have none).

What the raw graph gets (a ``networkx.MultiGraph``: SNDlib allows parallel links, and the
network file does not say whether links are directed, which only the separate model file
does; the links are taken as undirected):

* nodes, keyed by their SNDlib id in file order, ``label`` = the id. The coordinates as
  written are kept as ``x`` / ``y``; they become ``Longitude`` = x and ``Latitude`` = y only
  when they can be geographic: the XML does not declare ``coordinatesType="pixel"``, every
  located node lies within longitude [-180, 180] and latitude [-90, 90], and the nodes are
  not all at one point. The graph's ``coordinates`` attribute says which way it went and why.
* links: a pre-installed capacity > 0 becomes ``bandwidth_mbps`` with ``bandwidth_from =
  "sndlib:capacity"``. A link with no pre-installed capacity but installable modules gets its
  **largest** module (the fastest line the planner may put on it; most SNDlib instances
  install nothing in advance), ``bandwidth_from = "sndlib:module"``. A link with neither gets
  no speed (the configured default applies). SNDlib capacities have no fixed unit (they are
  "units" of the planning instance); they are **taken as Mbit/s** and recorded as such. The
  link id is kept as ``sndlib_id``.
* demands: the graph's ``demands`` is a list of ``{"src", "dst", "value_mbps"}`` in file
  order, ``value_mbps`` = demand_value × routing_unit (the capacity the demand takes, in
  the same unit as the capacities, so also taken as Mbit/s).
* the graph's ``format`` (``"sndlib-native"`` / ``"sndlib-xml"``) and, when the file has a
  ``META`` section, ``sndlib_meta`` (its keys and values as written).

A broken file raises :class:`~hcf_ray.graphs.errors.GraphError`, one line naming the file
and the line: ``net.txt:14: link L3: unknown node 'Q'``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from xml.parsers import expat

import networkx as nx

from hcf_ray.graphs.errors import GraphError

_HEADER = re.compile(r"\?\s*SNDlib\s+native\s+format\s*;\s*type\s*:\s*network\b", re.IGNORECASE)
_TOKEN = re.compile(r"\(|\)|[^\s()]+")
_SECTIONS = ("META", "NODES", "LINKS", "DEMANDS", "ADMISSIBLE_PATHS")


def read_sndlib(path: str | Path) -> nx.MultiGraph:
    """An SNDlib network file, native or XML (told apart by a leading ``<``), as a raw
    graph (see the module doc)."""
    path = Path(path)
    data = path.read_bytes()
    if data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"<":
        return _build(path, "sndlib-xml", *_parse_xml(path, data))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    return _build(path, "sndlib-native", *_parse_native(path, text))


def _fail(path: Path, line: int | None, message: str):
    where = f"{path}:{line}" if line else str(path)
    raise GraphError(f"{where}: {message}")


# -- what both formats give -----------------------------------------------------------------
@dataclass
class _Node:
    id: str
    line: int
    x: float | None
    y: float | None


@dataclass
class _Link:
    id: str
    line: int
    src: str
    dst: str
    capacity: float
    modules: list[float]


@dataclass
class _Demand:
    id: str
    line: int
    src: str
    dst: str
    unit: float
    value: float


def _number(path: Path, line: int, text: str | None, what: str, minimum: float = 0.0) -> float:
    try:
        value = float(text) if text is not None else math.nan
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        _fail(path, line, f"{what}: not a number: {text!r}")
    if value < minimum:
        _fail(path, line, f"{what}: {value:g} is below {minimum:g}")
    return value


def _build(path, fmt, nodes, coords_type, links, demands, meta) -> nx.MultiGraph:
    g = nx.MultiGraph()
    g.graph["format"] = fmt
    seen: dict[str, _Node] = {}
    for n in nodes:
        if n.id in seen:
            _fail(path, n.line, f"node {n.id!r} defined twice (first on line {seen[n.id].line})")
        seen[n.id] = n
    geo, note = _geographic(nodes, coords_type)
    g.graph["coordinates"] = note
    for n in nodes:
        attrs: dict = {"label": n.id}
        if n.x is not None:
            attrs.update(x=n.x, y=n.y)
            if geo:
                attrs.update(Longitude=n.x, Latitude=n.y)
        g.add_node(n.id, **attrs)
    link_ids: dict[str, int] = {}
    for x in links:
        what = f"link {x.id!r}"
        if x.id in link_ids:
            _fail(path, x.line, f"{what} defined twice (first on line {link_ids[x.id]})")
        link_ids[x.id] = x.line
        _ends(path, x.line, what, x.src, x.dst, seen)
        attrs = {"sndlib_id": x.id}
        if x.capacity > 0:
            attrs.update(bandwidth_mbps=x.capacity, bandwidth_from="sndlib:capacity")
        elif any(m > 0 for m in x.modules):
            attrs.update(bandwidth_mbps=max(x.modules), bandwidth_from="sndlib:module")
        g.add_edge(x.src, x.dst, **attrs)
    out = []
    for d in demands:
        _ends(path, d.line, f"demand {d.id!r}", d.src, d.dst, seen)
        out.append({"src": d.src, "dst": d.dst, "value_mbps": d.value * d.unit})
    if out:
        g.graph["demands"] = out
    if meta:
        g.graph["sndlib_meta"] = meta
    return g


def _ends(path, line, what, src, dst, seen) -> None:
    for end in (src, dst):
        if end not in seen:
            _fail(path, line, f"{what}: unknown node {end!r}")
    if src == dst:
        _fail(path, line, f"{what}: joins node {src!r} to itself")


def _geographic(nodes: list[_Node], coords_type: str | None) -> tuple[bool, str]:
    located = [n for n in nodes if n.x is not None]
    if not located:
        return False, "none in the file"
    if coords_type and coords_type.lower() == "pixel":
        return False, "pixel (x/y as written, not longitude/latitude)"
    for n in located:
        if not (-180 <= n.x <= 180 and -90 <= n.y <= 90):
            return False, (
                f"x/y as written, not longitude/latitude: node {n.id!r} at "
                f"({n.x:g}, {n.y:g}) is outside longitude [-180, 180] / latitude [-90, 90]"
            )
    if len(located) > 1 and len({(n.x, n.y) for n in located}) == 1:
        return False, "x/y as written, not longitude/latitude: every node at one point"
    return True, "longitude/latitude (x = longitude, y = latitude)"


# -- native ---------------------------------------------------------------------------------
class _Tokens:
    def __init__(self, path: Path, tokens: list[tuple[str, int]], last_line: int):
        self.path, self.tokens, self.i, self.last_line = path, tokens, 0, last_line
        self.section = ""

    def peek(self) -> str | None:
        return self.tokens[self.i][0] if self.i < len(self.tokens) else None

    def line(self) -> int:
        return self.tokens[self.i][1] if self.i < len(self.tokens) else self.last_line

    def take(self, what: str) -> tuple[str, int]:
        if self.i >= len(self.tokens):
            inside = f" inside {self.section}" if self.section else ""
            _fail(self.path, self.last_line, f"the file ends{inside}: {what} expected")
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def expect(self, want: str, what: str) -> int:
        tok, line = self.take(f"'{want}' ({what})")
        if tok != want:
            _fail(self.path, line, f"{what}: '{want}' expected, found {tok!r}")
        return line

    def word(self, what: str) -> tuple[str, int]:
        tok, line = self.take(what)
        if tok in ("(", ")"):
            _fail(self.path, line, f"{what} expected, found '{tok}'")
        return tok, line

    def number(self, what: str, minimum: float = 0.0) -> float:
        tok, line = self.word(what)
        return _number(self.path, line, tok, what, minimum)

    def skip_group(self, what: str) -> None:
        self.expect("(", what)
        depth = 1
        while depth:
            tok, _ = self.take(f"')' closing {what}")
            depth += {"(": 1, ")": -1}.get(tok, 0)


def _parse_native(path: Path, text: str):
    tokens: list[tuple[str, int]] = []
    header = False
    lines = text.splitlines()
    for i, raw in enumerate(lines, 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if not header:
            if not _HEADER.match(line):
                _fail(
                    path,
                    i,
                    "not an SNDlib native network file (no '?SNDlib native format; "
                    "type: network' header)",
                )
            header = True
            continue
        tokens += [(t, i) for t in _TOKEN.findall(line)]
    if not header:
        _fail(path, None, "empty SNDlib file")
    cur = _Tokens(path, tokens, len(lines))
    nodes: list[_Node] = []
    links: list[_Link] = []
    demands: list[_Demand] = []
    meta: dict[str, str] = {}
    done: dict[str, int] = {}
    while cur.peek() is not None:
        name, line = cur.word("a section name")
        if name not in _SECTIONS:
            _fail(path, line, f"unknown section {name!r} (SNDlib has {', '.join(_SECTIONS)})")
        if name in done:
            _fail(path, line, f"section {name} twice (first on line {done[name]})")
        done[name] = line
        cur.expect("(", f"section {name}")
        cur.section = name
        while cur.peek() != ")":
            if cur.peek() is None:
                cur.take("')' closing the section")
            if name == "NODES":
                nodes.append(_native_node(cur))
            elif name == "LINKS":
                links.append(_native_link(cur))
            elif name == "DEMANDS":
                demands.append(_native_demand(cur))
            elif name == "META":
                _native_meta(cur, meta)
            else:
                cur.word("a demand id")
                cur.skip_group("the admissible paths")
        cur.take("')'")
        cur.section = ""
    for need in ("NODES", "LINKS"):
        if need not in done:
            _fail(path, None, f"no {need} section")
    return nodes, None, links, demands, meta


def _native_node(cur: _Tokens) -> _Node:
    nid, line = cur.word("a node id")
    x = y = None
    if cur.peek() == "(":
        cur.take("'('")
        if cur.peek() != ")":
            x = cur.number(f"node {nid!r}: x-coordinate", -math.inf)
            y = cur.number(f"node {nid!r}: y-coordinate", -math.inf)
        cur.expect(")", f"node {nid!r}: coordinates")
        while cur.peek() == "(":  # node design ids / options (empty in SNDlib 1.0)
            cur.skip_group(f"node {nid!r}")
    return _Node(nid, line, x, y)


def _endpoints(cur: _Tokens, what: str) -> tuple[str, str]:
    cur.expect("(", f"{what}: source and target")
    src, _ = cur.word(f"{what}: source node")
    dst, _ = cur.word(f"{what}: target node")
    cur.expect(")", f"{what}: source and target")
    return src, dst


def _native_link(cur: _Tokens) -> _Link:
    lid, line = cur.word("a link id")
    what = f"link {lid!r}"
    src, dst = _endpoints(cur, what)
    capacity = cur.number(f"{what}: pre-installed capacity")
    for field in ("pre-installed capacity cost", "routing cost", "setup cost"):
        cur.number(f"{what}: {field}", -math.inf)
    modules: list[float] = []
    if cur.peek() == "(":
        cur.take("'('")
        while cur.peek() != ")":
            modules.append(cur.number(f"{what}: module capacity"))
            if cur.peek() == ")":
                _fail(cur.path, cur.line(), f"{what}: module capacity without a cost")
            cur.number(f"{what}: module cost", -math.inf)
        cur.take("')'")
    return _Link(lid, line, src, dst, capacity, modules)


def _native_demand(cur: _Tokens) -> _Demand:
    did, line = cur.word("a demand id")
    what = f"demand {did!r}"
    src, dst = _endpoints(cur, what)
    unit = cur.number(f"{what}: routing unit")
    value = cur.number(f"{what}: demand value")
    cur.word(f"{what}: max path length")
    return _Demand(did, line, src, dst, unit, value)


def _native_meta(cur: _Tokens, meta: dict[str, str]) -> None:
    key, line = cur.word("a META key")
    words = []
    while cur.peek() not in (None, ")") and cur.line() == line:
        words.append(cur.take("a META value")[0])
    if words[:1] == ["="]:
        words = words[1:]
    meta[key] = " ".join(words)


# -- XML ------------------------------------------------------------------------------------
class _El:
    __slots__ = ("attrs", "children", "line", "parts", "tag")

    def __init__(self, tag: str, attrs: dict, line: int):
        self.tag, self.attrs, self.line = tag.rsplit(":", 1)[-1], attrs, line
        self.children: list[_El] = []
        self.parts: list[str] = []

    def all(self, tag: str) -> list[_El]:
        return [c for c in self.children if c.tag == tag]

    def first(self, tag: str) -> _El | None:
        return next((c for c in self.children if c.tag == tag), None)

    def text(self, tag: str) -> tuple[str | None, int]:
        el = self.first(tag)
        return (None, self.line) if el is None else ("".join(el.parts).strip(), el.line)


class _Refused(Exception):
    pass


def _xml_tree(path: Path, data: bytes) -> _El:
    parser = expat.ParserCreate()
    stack: list[_El] = []
    roots: list[_El] = []

    def start(tag, attrs):
        el = _El(tag, attrs, parser.CurrentLineNumber)
        (stack[-1].children if stack else roots).append(el)
        stack.append(el)

    def end(_tag):
        stack.pop()

    def chars(text):
        if stack:
            stack[-1].parts.append(text)

    def doctype(*_args):
        raise _Refused("a DOCTYPE (SNDlib XML has none)")

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    parser.StartDoctypeDeclHandler = doctype
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        _fail(path, exc.lineno, f"not well-formed XML: {expat.ErrorString(exc.code)}")
    except _Refused as exc:
        _fail(path, parser.CurrentLineNumber, f"refused: {exc}")
    except LookupError as exc:  # an encoding Python does not know
        _fail(path, 1, f"not readable XML: {exc}")
    return roots[0]


def _parse_xml(path: Path, data: bytes):
    root = _xml_tree(path, data)
    if root.tag != "network":
        _fail(path, root.line, f"root element <{root.tag}>, not an SNDlib <network>")
    structure = root.first("networkStructure")
    if structure is None:
        _fail(path, root.line, "no <networkStructure>")
    nodes_el = structure.first("nodes")
    links_el = structure.first("links")
    if nodes_el is None or links_el is None:
        _fail(path, structure.line, "<networkStructure> needs <nodes> and <links>")
    nodes = [_xml_node(path, n) for n in nodes_el.all("node")]
    links = [_xml_link(path, x) for x in links_el.all("link")]
    demands_el = root.first("demands")
    demands = [_xml_demand(path, d) for d in demands_el.all("demand")] if demands_el else []
    meta_el = root.first("meta")
    meta = {c.tag: "".join(c.parts).strip() for c in meta_el.children} if meta_el else {}
    return nodes, nodes_el.attrs.get("coordinatesType"), links, demands, meta


def _xml_id(path: Path, el: _El) -> str:
    value = (el.attrs.get("id") or "").strip()
    if not value:
        _fail(path, el.line, f"<{el.tag}> without an id")
    return value


def _xml_word(path: Path, el: _El, tag: str, what: str) -> str:
    value, line = el.text(tag)
    if not value:
        _fail(path, line, f"{what}: no <{tag}>")
    return value


def _xml_node(path: Path, el: _El) -> _Node:
    nid = _xml_id(path, el)
    coords = el.first("coordinates")
    if coords is None:
        return _Node(nid, el.line, None, None)
    x, xl = coords.text("x")
    y, yl = coords.text("y")
    what = f"node {nid!r}"
    return _Node(
        nid,
        el.line,
        _number(path, xl, x, f"{what}: <x>", -math.inf),
        _number(path, yl, y, f"{what}: <y>", -math.inf),
    )


def _xml_link(path: Path, el: _El) -> _Link:
    lid = _xml_id(path, el)
    what = f"link {lid!r}"
    src = _xml_word(path, el, "source", what)
    dst = _xml_word(path, el, "target", what)
    capacity = 0.0
    pre = el.first("preInstalledModule")
    if pre is not None:
        text, line = pre.text("capacity")
        capacity = _number(path, line, text, f"{what}: pre-installed capacity")
    modules = []
    extra = el.first("additionalModules")
    for mod in extra.all("addModule") if extra is not None else []:
        text, line = mod.text("capacity")
        modules.append(_number(path, line, text, f"{what}: module capacity"))
    return _Link(lid, el.line, src, dst, capacity, modules)


def _xml_demand(path: Path, el: _El) -> _Demand:
    did = _xml_id(path, el)
    what = f"demand {did!r}"
    src = _xml_word(path, el, "source", what)
    dst = _xml_word(path, el, "target", what)
    text, line = el.text("demandValue")
    value = _number(path, line, text, f"{what}: <demandValue>")
    unit = 1.0
    if el.first("routingUnit") is not None:
        text, line = el.text("routingUnit")
        unit = _number(path, line, text, f"{what}: <routingUnit>")
    return _Demand(did, el.line, src, dst, unit, value)
