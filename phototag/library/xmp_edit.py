"""Byte-level editing of an XMP packet: add keywords, change nothing else.

Fields: a tag 'A|B|C' adds its leaf 'C' to dc:subject (an rdf:Bag; an existing
rdf:Seq stays a Seq), 'A|B|C' to lr:hierarchicalSubject and 'A/B/C' to
digiKam:TagsList (not a tag with a '/' in a name, 'AC/DC': digiKam would read
it as two levels). A flat tag goes to dc:subject, and also to those two
hierarchical fields when the sidecar already has them (darktable reads
lr:hierarchicalSubject in preference to dc:subject, so a flat tag missing there
would be invisible to it). A tag is skipped when it is already there
(same tag identity, `phototag.tag_identity.tag_key`: case, spacing and Unicode
normal form do not matter): its leaf in dc:subject and, for a hierarchical tag, its
path in either hierarchical field.

Preservation: an existing sidecar is edited at the byte level. It is parsed
(defusedxml first, which refuses DTDs and entities, then expat for byte
offsets) only to find where to insert; new `<rdf:li>` items are spliced into
the existing containers, missing properties are added to the existing
rdf:Description, and a namespace declaration is added to its start tag only
when the namespace is not already in scope. Every other byte (processing
instructions, darktable:history, crs: settings, unknown namespaces,
whitespace) stays as it was. The result is parsed again and checked before it
is returned. A sidecar that cannot be parsed, is not UTF-8, or has an unexpected
structure raises SidecarError.
"""

from __future__ import annotations

import re
import xml.parsers.expat as expat
from dataclasses import dataclass, field
from typing import Optional, Sequence, Union
from xml.sax.saxutils import escape

from phototag import __version__
from phototag.library import xmp_namespaces as ns
from phototag.library.xmp_namespaces import DC_SUBJECT, DIGIKAM_TAGS, LR_HIERARCHICAL
from phototag.library.xmp_read import MAX_SIDECAR_BYTES, too_large
from phototag.tag_identity import tag_key

# Editing costs a Python call per element: a sidecar with more markup than this (a million
# keywords, say) is refused at once instead of blocking a write run for minutes. Real
# sidecars, darktable's long histories included, have a few thousand.
MAX_EDITED_TAGS = 100_000

SEPARATOR = {LR_HIERARCHICAL: "|", DIGIKAM_TAGS: "/"}
FIELDS = (DC_SUBJECT, LR_HIERARCHICAL, DIGIKAM_TAGS)  # the keyword properties phototag writes

# What a new sidecar starts from; tags are then added by the same editing code. The toolkit
# (x:xmptk) names phototag: an existing sidecar's toolkit is never changed.
XMP_TOOLKIT = f"phototag {__version__}"
NEW_SIDECAR = (
    '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
    f'<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="{XMP_TOOLKIT}">\n'
    f' <rdf:RDF xmlns:rdf="{ns.RDF}">\n'
    '  <rdf:Description rdf:about=""\n'
    f'    xmlns:dc="{ns.DC}"\n'
    f'    xmlns:lr="{ns.LIGHTROOM}"\n'
    f'    xmlns:digiKam="{ns.DIGIKAM}">\n'
    "  </rdf:Description>\n"
    " </rdf:RDF>\n"
    "</x:xmpmeta>\n"
    '<?xpacket end="w"?>\n'
).encode("utf-8")

_INVALID_XML_CHARS = re.compile(
    "[\x00-\x1f\x7f\ud800-\udfff\ufffe\uffff]"
)  # control chars, line breaks, tabs, lone surrogates


class SidecarError(Exception):
    """A sidecar that phototag will not edit (one-line reason)."""


# ---------------------------------------------------------------- tags


# What XML 1.0 cannot carry, whitespace aside (whitespace becomes a space in writable_text).
_UNCARRIABLE = re.compile("[\x00-\x08\x0e-\x1b\x7f\ud800-\udfff\ufffe\uffff]")


def writable_text(text: str) -> str:
    """A keyword as a sidecar can hold it: every run of whitespace (tab, line break, ...) one space, as the
    display shows it, and the other control characters (which XML 1.0 cannot carry) left out."""
    return " ".join(_UNCARRIABLE.sub("", text).split())


# A tag to write: 'Animals|Cat', or a path given part by part (('AC|DC',) is one flat keyword with a '|').
Tag = Union[str, tuple[str, ...]]


def tag_path(tag: Tag) -> Optional[tuple[str, ...]]:
    """'Animals | Cat' -> ('Animals', 'Cat'); None for an empty or unwritable tag."""
    given = tag.split("|") if isinstance(tag, str) else tag
    if any(_INVALID_XML_CHARS.search(part) for part in given):
        return None
    parts = tuple(p.strip() for p in given if p.strip())
    return parts or None


def _key(parts: Sequence[str]) -> tuple[str, ...]:
    """What is compared to find a tag already there: each part's tag identity (phototag.tag_identity)."""
    return tuple(tag_key(p) for p in parts)


# ------------------------------------------------------------- parsing


@dataclass
class _Element:
    uri: Optional[str]
    local: str
    prefix: Optional[str]
    start: int  # offset of '<'
    tag_close: int  # offset of the '>' that ends the start tag
    self_closing: bool
    scope: dict  # prefix (None = default) -> uri, in scope for the children
    parent: Optional["_Element"]
    end: Optional[int] = None  # offset of '</' of the end tag (None when self-closing)
    children: list = field(default_factory=list)
    text: list = field(default_factory=list)

    @property
    def qname(self) -> str:
        return f"{self.prefix}:{self.local}" if self.prefix else self.local

    def is_(self, uri: str, local: str) -> bool:
        return self.uri == uri and self.local == local


@dataclass
class _Property:
    element: _Element
    container: _Element  # rdf:Bag / rdf:Seq / rdf:Alt
    items: list  # rdf:li elements
    values: list  # their text


@dataclass
class _Document:
    data: bytes
    rdf: _Element
    descriptions: list
    properties: dict  # (uri, local) -> _Property


_TAG_BODY = re.compile(rb"""(?:[^>"']+|"[^"]*"|'[^']*')*>""")


def _find_tag_close(data: bytes, start: int) -> int:
    """Offset of the '>' closing the tag starting at `start` ('>' may appear inside quotes)."""
    match = _TAG_BODY.match(data, start + 1)
    if match is None:
        raise SidecarError("truncated tag")
    return match.end() - 1


# How UTF-16 and UTF-32 text starts (with a byte order mark, or '<' in the wide form).
_WIDE_TEXT = (
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\x00<", "UTF-32"),
    (b"<\x00\x00\x00", "UTF-32"),
    (b"\xfe\xff", "UTF-16"),
    (b"\xff\xfe", "UTF-16"),
    (b"\x00<", "UTF-16"),
    (b"<\x00", "UTF-16"),
)


def _check_encoding(data: bytes) -> None:
    """Only UTF-8 text is edited; the reason says what the file is instead."""
    for start, name in _WIDE_TEXT:
        if data.startswith(start):
            raise SidecarError(f"not UTF-8: {name} text (only UTF-8 sidecars are edited)")
    if b"\x00" in data:
        raise SidecarError("not a text file (binary data)")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise SidecarError(f"not UTF-8 text (invalid byte at offset {error.start:,})") from None
    head = data[:200].lstrip(b"\xef\xbb\xbf")
    if head.startswith(b"<?xml"):
        declared = re.search(rb"""encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""", head.split(b"?>", 1)[0])
        if declared and declared.group(1).lower() not in (b"utf-8", b"utf8"):
            raise SidecarError(f"declared encoding {declared.group(1).decode()} is not UTF-8")


def _parse(data: bytes, checked: bool = False) -> _Document:
    """Parse a sidecar, keeping byte offsets of the elements we may edit.

    `checked`: the bytes are our own edit of a document that already passed the
    defusedxml check (only escaped text was inserted), so that pass is skipped.
    """
    _check_safe(data, checked)
    tree = _OffsetTree(data)
    tree.parse()
    if tree.rdf is None:
        raise SidecarError("no rdf:RDF element")
    return _Document(data, tree.rdf, tree.descriptions, _keyword_properties(tree.descriptions))


def _check_safe(data: bytes, checked: bool) -> None:
    """Refuse what must not be edited: huge, empty, not UTF-8, DTDs, entities, malformed XML."""
    import defusedxml.ElementTree as SafeET

    if len(data) > MAX_SIDECAR_BYTES:
        raise SidecarError(too_large(len(data)))
    if not data.strip():
        raise SidecarError("empty file")
    _check_encoding(data)
    tags = data.count(b"<")  # elements, comments and processing instructions: a cheap upper bound
    if tags > MAX_EDITED_TAGS and not checked:
        raise SidecarError(f"{tags:,} XML tags, more than the {MAX_EDITED_TAGS:,} phototag edits")
    try:
        # Safety first: refuses DTDs, entity declarations and malformed XML.
        if not checked:
            SafeET.fromstring(data, forbid_dtd=True)
    except Exception as error:  # ParseError, DTDForbidden, EntitiesForbidden, ...
        raise SidecarError(f"cannot parse XML: {error}") from None


class _OffsetTree:
    """The element tree of a sidecar as expat sees it, with the byte offsets of every tag."""

    def __init__(self, data: bytes):
        self.data = data
        self.rdf: Optional[_Element] = None
        self.descriptions: list[_Element] = []  # the rdf:Description children of rdf:RDF
        self._stack: list[_Element] = []
        self._pending: dict = {}  # namespace declarations of the next start tag
        self._parser = expat.ParserCreate(namespace_separator=" ")
        self._parser.namespace_prefixes = True
        self._parser.buffer_text = True
        self._parser.StartNamespaceDeclHandler = self._on_namespace
        self._parser.StartElementHandler = self._on_start
        self._parser.EndElementHandler = self._on_end
        self._parser.CharacterDataHandler = self._on_text

    def parse(self) -> None:
        try:
            self._parser.Parse(self.data, True)
        except expat.ExpatError as error:
            raise SidecarError(f"cannot parse XML: {error}") from None

    def _on_namespace(self, prefix, uri) -> None:
        self._pending[prefix] = uri

    def _on_start(self, name, attrs) -> None:
        parts = name.split(" ")
        uri, local, prefix = (parts + [None, None])[:3] if len(parts) > 1 else (None, parts[0], None)
        start = self._parser.CurrentByteIndex
        close = _find_tag_close(self.data, start)
        parent = self._stack[-1] if self._stack else None
        scope = dict(parent.scope if parent else {"xml": ns.XML})
        scope.update(self._pending)
        self._pending = {}
        element = _Element(uri, local, prefix, start, close, self.data[close - 1] == 0x2F, scope, parent)
        if parent is not None:
            parent.children.append(element)
        if element.is_(ns.RDF, "RDF") and self.rdf is None:
            self.rdf = element
        elif element.is_(ns.RDF, "Description") and parent is not None and parent is self.rdf:
            self.descriptions.append(element)
            for key in attrs:
                attr = key.split(" ")
                if len(attr) > 1 and (attr[0], attr[1]) in FIELDS:
                    raise SidecarError(f"{attr[2] if len(attr) > 2 else attr[1]} in attribute form")
        self._stack.append(element)

    def _on_end(self, name) -> None:
        element = self._stack.pop()
        if not element.self_closing:
            element.end = self._parser.CurrentByteIndex

    def _on_text(self, text) -> None:
        if self._stack:
            self._stack[-1].text.append(text)


def _keyword_properties(descriptions: list[_Element]) -> dict:
    """(uri, local) -> _Property for the keyword fields phototag writes.

    A field written twice (two dc:subject blocks, in one rdf:Description or two) is read by exiftool
    from its last block only: that is the one edited, so exiftool sees the new tags. Every block must
    have the expected structure."""
    properties: dict = {}
    for description in descriptions:
        for element in description.children:
            key = (element.uri, element.local)
            if key not in FIELDS:
                continue
            containers = [c for c in element.children if c.uri == ns.RDF and c.local in ("Bag", "Seq", "Alt")]
            if len(containers) != 1 or len(element.children) != 1:
                raise SidecarError(f"{element.qname} is not an rdf:Bag or rdf:Seq")
            container = containers[0]
            items = [c for c in container.children if c.is_(ns.RDF, "li")]
            properties[key] = _Property(element, container, items, ["".join(i.text) for i in items])
    return properties


# ------------------------------------------------------------- editing


def _line_indent(data: bytes, pos: int) -> Optional[bytes]:
    """The whitespace before `pos` on its line, or None when something else precedes it."""
    line_start = data.rfind(b"\n", 0, pos) + 1
    before = data[line_start:pos]
    return before if not before.strip() else None


class _Edits:
    """Insertions/replacements on the original bytes, applied in one pass."""

    def __init__(self, data: bytes):
        self.data = data
        self.newline = "\r\n" if b"\r\n" in data else "\n"  # a Windows-made sidecar keeps CRLF
        self.edits: list[tuple[int, int, int, bytes]] = []

    def add(self, pos: int, end: int, text: str) -> None:
        self.edits.append((pos, len(self.edits), end, text.encode("utf-8")))

    def apply(self) -> bytes:
        out, cursor = [], 0
        for pos, _, end, text in sorted(self.edits):
            out.append(self.data[cursor:pos])
            out.append(text)
            cursor = max(cursor, end)
        out.append(self.data[cursor:])
        return b"".join(out)


def _render(lines: list[tuple[int, str]], indent: Optional[str], step: str) -> list[str]:
    """Lines with relative levels -> text lines (None indent: everything on one line)."""
    if indent is None:
        return ["".join(text for _, text in lines)]
    return [indent + step * level + text for level, text in lines]


def _append_children(edits: _Edits, element: _Element, blocks: list[list[tuple[int, str]]]) -> None:
    """Append child markup at the end of `element`, matching the surrounding indentation."""
    data = edits.data
    own_indent = _line_indent(data, element.start)
    own = own_indent.decode() if own_indent is not None else None
    if element.children:
        first = _line_indent(data, element.children[0].start)
        child_indent = first.decode() if first is not None else None
    else:
        child_indent = own + " " if own is not None else None
    step = " "
    if own is not None and child_indent is not None and len(child_indent) > len(own) and child_indent.startswith(own):
        step = child_indent[len(own) :]

    nl = edits.newline

    def indented() -> str:
        return "".join(line + nl for block in blocks for line in _render(block, child_indent, step))

    def inline() -> str:
        return "".join(line for block in blocks for line in _render(block, None, step))

    multiline = child_indent is not None and own is not None
    if element.self_closing:
        slash = data.rfind(b"/", element.start, element.tag_close + 1)
        body = nl + indented() + own if multiline else inline()
        edits.add(slash, element.tag_close + 1, f">{body}</{element.qname}>")
        return
    assert element.end is not None
    empty = not element.children and not "".join(element.text).strip()
    closing_indent = _line_indent(data, element.end)
    if child_indent is not None and closing_indent is not None:
        # The end tag is on its own line: new lines go just before it.
        line_start = element.end - len(closing_indent)
        edits.add(line_start, line_start, indented())
    elif multiline and empty:
        # An empty element written on one line: open it up.
        edits.add(element.tag_close + 1, element.end, nl + indented() + own)
    else:
        edits.add(element.end, element.end, inline())


def _declare(edits: _Edits, element: _Element, prefix: str, uri: str) -> None:
    """Add xmlns:prefix="uri" to the start tag of `element`, in the style of its other attributes."""
    data = edits.data
    close = element.tag_close - 1 if element.self_closing else element.tag_close
    pos = close
    while pos > element.start and data[pos - 1 : pos].isspace():
        pos -= 1
    tag = data[element.start : close]
    declaration = f'xmlns:{prefix}="{escape(uri, {chr(34): "&quot;"})}"'
    if b"\n" in tag:
        last_line = tag[tag.rfind(b"\n") + 1 :]
        indent = last_line[: len(last_line) - len(last_line.lstrip())].decode()
        edits.add(pos, pos, f"{edits.newline}{indent}{declaration}")
    else:
        edits.add(pos, pos, f" {declaration}")


def _prefix_for(scope: dict, uri: str, taken: set) -> tuple[str, bool]:
    """A prefix bound to `uri` in scope (False: no declaration needed), or a free one to declare."""
    for prefix, bound in scope.items():
        if bound == uri and prefix:
            return prefix, False
    base = ns.PREFIXES.get(uri, "ns")
    prefix, n = base, 1
    while prefix in scope or prefix in taken:
        prefix, n = f"{base}{n}", n + 1
    return prefix, True


def _plan(existing: dict, tags: Sequence[Tag]) -> tuple[dict, list[Tag]]:
    present: dict = {f: set() for f in FIELDS}
    present[DC_SUBJECT] = {tag_key(v) for v in existing.get(DC_SUBJECT, [])}
    hierarchical_present: set = set()
    for f in (LR_HIERARCHICAL, DIGIKAM_TAGS):
        for value in existing.get(f, []):
            parts = _key(_split(value, SEPARATOR[f]))
            present[f].add(parts)
            hierarchical_present.add(parts)
    additions: dict = {f: [] for f in FIELDS}
    added: list[str] = []
    for tag in tags:
        parts = tag_path(tag)
        if parts is None:
            continue
        key = _key(parts)
        leaf_missing = key[-1] not in present[DC_SUBJECT]
        hierarchical = len(parts) > 1
        if not leaf_missing and (not hierarchical or key in hierarchical_present):
            continue
        changed = False
        if leaf_missing:
            additions[DC_SUBJECT].append(parts[-1])
            present[DC_SUBJECT].add(key[-1])
            changed = True
        for f in (LR_HIERARCHICAL, DIGIKAM_TAGS):
            # Flat tags join a hierarchical field only when the sidecar keeps one.
            if (hierarchical or f in existing) and key not in present[f] and _fits(f, parts):
                additions[f].append(SEPARATOR[f].join(parts))
                present[f].add(key)
                changed = True
        hierarchical_present.add(key)
        if changed:
            added.append(tag)
    return {f: v for f, v in additions.items() if v}, added


def _fits(field_: tuple, parts: Sequence[str]) -> bool:
    """Whether a path can be written in a hierarchical field: no part holds its separator.

    digiKam reads every '/' of digiKam:TagsList as a level and has no escape for it (its own
    tag paths use '/', so it cannot name a tag 'AC/DC' either; exiftool writes the text as given).
    So 'AC/DC' stays out of TagsList rather than become a tag 'DC' under 'AC'; it is kept in
    dc:subject and lr:hierarchicalSubject, where '/' is a plain character."""
    return not any(SEPARATOR[field_] in part for part in parts)


def _split(value: str, separator: str) -> list[str]:
    return [p.strip() for p in value.split(separator) if p.strip()]


def _seed(existing: dict, field_: tuple) -> list[str]:
    """The keywords a new keyword field must start with so editors that read it first lose none.

    darktable reads lr:hierarchicalSubject instead of dc:subject and digiKam reads
    digiKam:TagsList first: a new one holding only the new tags would hide the
    old ones. So it starts with the other hierarchical field's paths plus the
    dc:subject keywords that are not leaves of those paths. A new dc:subject (in a
    sidecar that has only hierarchical keywords) starts with the leaves of their paths,
    so that tools reading dc:subject alone see them too.
    """
    if field_ == DC_SUBJECT:
        paths = [_split(v, SEPARATOR[f]) for f in (LR_HIERARCHICAL, DIGIKAM_TAGS) for v in existing.get(f, [])]
        leaves: dict = {}
        for path in paths:
            if path:
                leaves.setdefault(tag_key(path[-1]), path[-1])
        return list(leaves.values())
    other = DIGIKAM_TAGS if field_ == LR_HIERARCHICAL else LR_HIERARCHICAL
    paths = [_split(v, SEPARATOR[other]) for v in existing.get(other, [])]
    paths = [p for p in paths if p]
    covered = {tag_key(part) for p in paths for part in p}
    flat = [[v.strip()] for v in existing.get(DC_SUBJECT, []) if v.strip() and tag_key(v) not in covered]
    seed = [SEPARATOR[field_].join(p) for p in paths + flat if _fits(field_, p)]
    return list(dict.fromkeys(seed))


def plan_additions(existing: dict, tags: Sequence[Tag]) -> tuple[dict, list[Tag]]:
    """Which values to add to which field. `existing`: field -> current values.

    Returns (field -> values to append, tags that add anything).
    """
    additions, added = _plan(existing, tags)
    created = [f for f in FIELDS if f in additions and f not in existing]
    seeds = {f: _seed(existing, f) for f in created}
    if created:
        # Once a hierarchical field exists, flat tags of this batch belong in it too; a leaf already in
        # a seeded field is not added again.
        virtual = {**existing, **seeds}
        additions, added = _plan(virtual, tags)
        if not added:
            return {}, []
        for f in created:
            additions[f] = seeds[f] + additions.get(f, [])
    return additions, added


def read_fields(data: bytes, checked: bool = False) -> dict:
    """Current values of the keyword fields of a sidecar (raises SidecarError)."""
    document = _parse(data, checked)
    return {key: list(prop.values) for key, prop in document.properties.items()}


def edit_xmp(data: bytes, tags: Sequence[Tag]) -> tuple[bytes, list[Tag]]:
    """Add `tags` to sidecar bytes with a minimal edit. Returns (new bytes, tags added).

    Raises SidecarError when the sidecar should not be edited. Unchanged input
    (all tags present) returns the same bytes and an empty list.
    """
    document = _parse(data)
    existing = {key: prop.values for key, prop in document.properties.items()}
    additions, added = plan_additions(existing, tags)
    if not additions:
        return data, []
    edits = _Edits(data)

    # 1. Existing containers: append rdf:li items.
    new_properties = []
    for key, values in additions.items():
        prop = document.properties.get(key)
        if prop is None:
            new_properties.append((key, values))
            continue
        li = f"{prop.container.prefix}:li" if prop.container.prefix else "li"
        _append_children(edits, prop.container, [[(0, f"<{li}>{escape(v)}</{li}>")] for v in values])

    # 2. Missing properties: a new block in the Description that holds the others, else the first.
    if new_properties:
        holders = [p.element.parent for p in document.properties.values()]
        description = holders[0] if holders else (document.descriptions[0] if document.descriptions else None)
        if description is None:
            raise SidecarError("no rdf:Description to add keywords to")
        taken: set = set()
        blocks = []
        for (uri, local), values in new_properties:
            prefix, declare = _prefix_for(description.scope, uri, taken)
            if declare:
                taken.add(prefix)
                _declare(edits, description, prefix, uri)
            rdf_p = f"{description.prefix}:" if description.prefix else ""  # rdf:Description's own prefix
            container = "Seq" if (uri, local) == DIGIKAM_TAGS else "Bag"  # as digiKam itself writes it
            block = [(0, f"<{prefix}:{local}>"), (1, f"<{rdf_p}{container}>")]
            block += [(2, f"<{rdf_p}li>{escape(v)}</{rdf_p}li>") for v in values]
            block += [(1, f"</{rdf_p}{container}>"), (0, f"</{prefix}:{local}>")]
            blocks.append(block)
        _append_children(edits, description, blocks)

    result = edits.apply()
    if len(result) > MAX_SIDECAR_BYTES:  # it could not be read back (nor edited again)
        raise SidecarError(f"with the new tags it would be {too_large(len(result))}")
    _verify(result, existing, additions)
    return result, added


def _verify(result: bytes, before: dict, additions: dict) -> None:
    """Re-parse the edited bytes: every field must read as before plus the additions."""
    try:
        after = read_fields(result, checked=True)
    except SidecarError as error:
        raise SidecarError(f"internal error, edit not written: {error}") from None
    for key in FIELDS:
        expected = list(before.get(key, [])) + list(additions.get(key, []))
        if after.get(key, []) != expected:
            raise SidecarError(f"internal error, edit not written: {key[1]} reads back wrong")
