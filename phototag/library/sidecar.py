"""Writing accepted tags into XMP sidecars: minimal edits, atomic writes, a journal for undo.

Only this module writes into a person's folders, and it only ever writes `.xmp`
sidecars; image files are never opened for writing.

Sidecar naming rule (names compared case-insensitively, as in
`phototag.library.walk.match_sidecars`):
  1. A photo's existing sidecars are reused: `IMG_0001.CR2.xmp` (darktable,
     digiKam) and `IMG_0001.xmp` (Lightroom, Capture One). When both exist,
     both are updated, so each editor sees the tags in the file it reads.
     darktable duplicates (`IMG_0001_01.CR2.xmp`) are left alone.
  2. When the photo has none, a new one follows the convention the folder
     already uses (the majority of its existing sidecars; a name whose stem
     ends in a photo extension counts as darktable style).
  3. Otherwise (no sidecars in the folder, or a tie) `style` decides:
     "darktable" (default) -> `IMG_0001.CR2.xmp`, which never collides for a
     RAW+JPEG pair; "lightroom" -> `IMG_0001.xmp`.

Fields: a tag 'A|B|C' adds its leaf 'C' to dc:subject (an rdf:Bag; an existing
rdf:Seq stays a Seq), 'A|B|C' to lr:hierarchicalSubject and 'A/B/C' to
digiKam:TagsList. A flat tag goes to dc:subject, and also to those two
hierarchical fields when the sidecar already has them (darktable reads
lr:hierarchicalSubject in preference to dc:subject, so a flat tag missing there
would be invisible to it). A tag is skipped when it is already there
(case-insensitively): its leaf in dc:subject and, for a hierarchical tag, its
path in either hierarchical field. Provenance (tags, model, date) goes to the
index journal, never into a private XMP namespace.

Preservation: an existing sidecar is edited at the byte level. It is parsed
(defusedxml first, which refuses DTDs and entities, then expat for byte
offsets) only to find where to insert; new `<rdf:li>` items are spliced into
the existing containers, missing properties are added to the existing
rdf:Description, and a namespace declaration is added to its start tag only
when the namespace is not already in scope. Every other byte (processing
instructions, darktable:history, crs: settings, unknown namespaces,
whitespace) stays as it was. The result is parsed again and checked before it
is written. A sidecar that cannot be parsed, is not UTF-8, or has an unexpected
structure is left untouched and reported.

Safety: the new content goes to a hidden temp file in the same folder, is
fsynced, gets the original's permission bits (a new sidecar gets the photo's,
without execute bits), and is renamed over the old one; the folders written to
are fsynced once at the end of the batch (`flush()`; review flushes after each
photo). A reader, a crash or a power cut sees either the old or the new file,
never a mix. Temp files of a killed writer are removed by the next write to
that folder. Each write is journaled in the index (`write_batches`, `write_journal`)
before the rename, with the previous and the new content, so `undo_last_batch`
restores the previous bytes exactly and deletes sidecars phototag created
(only when they are unchanged since phototag wrote them).
"""

from __future__ import annotations

import difflib
import errno
import json
import os
import re
import sys
import time
import xml.parsers.expat as expat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence, TextIO
from xml.sax.saxutils import escape

from phototag.library.index import Index
from phototag.library.walk import PHOTO_EXTENSIONS

NS_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
NS_DC = "http://purl.org/dc/elements/1.1/"
NS_LR = "http://ns.adobe.com/lightroom/1.0/"
NS_DIGIKAM = "http://www.digikam.org/ns/1.0/"

DC_SUBJECT = (NS_DC, "subject")
LR_HIERARCHICAL = (NS_LR, "hierarchicalSubject")
DIGIKAM_TAGS = (NS_DIGIKAM, "TagsList")
PREFERRED_PREFIX = {NS_DC: "dc", NS_LR: "lr", NS_DIGIKAM: "digiKam", NS_RDF: "rdf"}
SEPARATOR = {LR_HIERARCHICAL: "|", DIGIKAM_TAGS: "/"}
FIELDS = (DC_SUBJECT, LR_HIERARCHICAL, DIGIKAM_TAGS)

STYLES = ("darktable", "lightroom")
MAX_SIDECAR_BYTES = 32 * 1024 * 1024  # a hostile or broken file, not a sidecar
TEMP_MARKER = ".phototag-"
FOLDER_LISTING_TTL = 2.0  # seconds

# What a new sidecar starts from; tags are then added by the same editing code.
NEW_SIDECAR = (
    '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
    '<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="XMP Core 4.4.0-Exiv2">\n'
    ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
    '  <rdf:Description rdf:about=""\n'
    '    xmlns:dc="http://purl.org/dc/elements/1.1/"\n'
    '    xmlns:lr="http://ns.adobe.com/lightroom/1.0/"\n'
    '    xmlns:digiKam="http://www.digikam.org/ns/1.0/">\n'
    "  </rdf:Description>\n"
    " </rdf:RDF>\n"
    "</x:xmpmeta>\n"
    '<?xpacket end="w"?>\n'
).encode("utf-8")

_INVALID_XML_CHARS = re.compile("[\x00-\x1f\x7f\ud800-\udfff\ufffe\uffff]")  # control chars, line breaks, tabs, lone surrogates


class SidecarError(Exception):
    """A sidecar that phototag will not edit (one-line reason)."""


# ---------------------------------------------------------------- tags


def tag_path(tag: str) -> Optional[tuple[str, ...]]:
    """'Animals | Cat' -> ('Animals', 'Cat'); None for an empty or unwritable tag."""
    if _INVALID_XML_CHARS.search(tag):
        return None
    parts = tuple(p.strip() for p in tag.split("|") if p.strip())
    return parts or None


def _key(parts: Sequence[str]) -> tuple[str, ...]:
    return tuple(p.casefold() for p in parts)


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


def _check_encoding(data: bytes) -> None:
    if data.startswith((b"\xfe\xff", b"\xff\xfe")) or b"\x00" in data[:64]:
        raise SidecarError("not UTF-8 (UTF-16 sidecars are not edited)")
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
    import defusedxml.ElementTree as SafeET

    if len(data) > MAX_SIDECAR_BYTES:
        raise SidecarError(f"larger than {MAX_SIDECAR_BYTES // (1024 * 1024)} MiB")
    if not data.strip():
        raise SidecarError("empty file")
    _check_encoding(data)
    try:
        # Safety first: refuses DTDs, entity declarations and malformed XML.
        if not checked:
            SafeET.fromstring(data, forbid_dtd=True)
    except Exception as error:  # ParseError, DTDForbidden, EntitiesForbidden, ...
        raise SidecarError(f"cannot parse XML: {error}") from None

    parser = expat.ParserCreate(namespace_separator=" ")
    parser.namespace_prefixes = True
    parser.buffer_text = True
    stack: list[_Element] = []
    pending: dict = {}
    root_scope: dict = {"xml": "http://www.w3.org/XML/1998/namespace"}
    found: dict = {"rdf": None, "descriptions": []}

    def on_ns(prefix, uri):
        pending[prefix] = uri

    def on_start(name, attrs):
        nonlocal pending
        parts = name.split(" ")
        uri, local, prefix = (parts + [None, None])[:3] if len(parts) > 1 else (None, parts[0], None)
        start = parser.CurrentByteIndex
        close = _find_tag_close(data, start)
        parent = stack[-1] if stack else None
        scope = dict(parent.scope if parent else root_scope)
        scope.update(pending)
        pending = {}
        element = _Element(uri, local, prefix, start, close, data[close - 1] == 0x2F, scope, parent)
        if parent is not None:
            parent.children.append(element)
        if element.is_(NS_RDF, "RDF") and found["rdf"] is None:
            found["rdf"] = element
        elif element.is_(NS_RDF, "Description") and parent is not None and parent is found["rdf"]:
            found["descriptions"].append(element)
            for key in attrs:
                attr = key.split(" ")
                if len(attr) > 1 and (attr[0], attr[1]) in FIELDS:
                    raise SidecarError(f"{attr[2] if len(attr) > 2 else attr[1]} in attribute form")
        stack.append(element)

    def on_end(name):
        element = stack.pop()
        if not element.self_closing:
            element.end = parser.CurrentByteIndex

    def on_text(text):
        if stack:
            stack[-1].text.append(text)

    parser.StartNamespaceDeclHandler = on_ns
    parser.StartElementHandler = on_start
    parser.EndElementHandler = on_end
    parser.CharacterDataHandler = on_text
    try:
        parser.Parse(data, True)
    except expat.ExpatError as error:
        raise SidecarError(f"cannot parse XML: {error}") from None
    if found["rdf"] is None:
        raise SidecarError("no rdf:RDF element")

    properties: dict = {}
    for description in found["descriptions"]:
        for element in description.children:
            key = (element.uri, element.local)
            if key not in FIELDS or key in properties:
                continue
            containers = [c for c in element.children if c.uri == NS_RDF and c.local in ("Bag", "Seq", "Alt")]
            if len(containers) != 1 or len(element.children) != 1:
                raise SidecarError(f"{element.qname} is not an rdf:Bag or rdf:Seq")
            container = containers[0]
            items = [c for c in container.children if c.is_(NS_RDF, "li")]
            properties[key] = _Property(element, container, items, ["".join(i.text) for i in items])
    return _Document(data, found["rdf"], found["descriptions"], properties)


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
    base = PREFERRED_PREFIX.get(uri, "ns")
    prefix, n = base, 1
    while prefix in scope or prefix in taken:
        prefix, n = f"{base}{n}", n + 1
    return prefix, True


def _plan(existing: dict, tags: Sequence[str]) -> tuple[dict, list[str]]:
    present: dict = {f: set() for f in FIELDS}
    present[DC_SUBJECT] = {v.strip().casefold() for v in existing.get(DC_SUBJECT, [])}
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
            if (hierarchical or f in existing) and key not in present[f]:
                additions[f].append(SEPARATOR[f].join(parts))
                present[f].add(key)
                changed = True
        hierarchical_present.add(key)
        if changed:
            added.append(tag)
    return {f: v for f, v in additions.items() if v}, added


def _split(value: str, separator: str) -> list[str]:
    return [p.strip() for p in value.split(separator) if p.strip()]


def _seed(existing: dict, field_: tuple) -> list[str]:
    """The keywords a new hierarchical field must start with so editors that read it first lose none.

    darktable reads lr:hierarchicalSubject instead of dc:subject and digiKam reads
    digiKam:TagsList first: a new one holding only the new tags would hide the
    old ones. So it starts with the other hierarchical field's paths plus the
    dc:subject keywords that are not leaves of those paths.
    """
    other = DIGIKAM_TAGS if field_ == LR_HIERARCHICAL else LR_HIERARCHICAL
    paths = [_split(v, SEPARATOR[other]) for v in existing.get(other, [])]
    paths = [p for p in paths if p]
    covered = {part.casefold() for p in paths for part in p}
    flat = [v.strip() for v in existing.get(DC_SUBJECT, []) if v.strip() and v.strip().casefold() not in covered]
    seed = [SEPARATOR[field_].join(p) for p in paths] + flat
    return list(dict.fromkeys(seed))


def plan_additions(existing: dict, tags: Sequence[str]) -> tuple[dict, list[str]]:
    """Which values to add to which field. `existing`: field -> current values.

    Returns (field -> values to append, tags that add anything).
    """
    additions, added = _plan(existing, tags)
    created = [f for f in (LR_HIERARCHICAL, DIGIKAM_TAGS) if f in additions and f not in existing]
    seeds = {f: _seed(existing, f) for f in created}
    if created:
        # Once a hierarchical field exists, flat tags of this batch belong in it too.
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


def edit_xmp(data: bytes, tags: Sequence[str]) -> tuple[bytes, list[str]]:
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


# ------------------------------------------------------------- naming


def _is_darktable_name(name: str) -> bool:
    stem = name[: -len(".xmp")]
    _, dot, ext = stem.rpartition(".")
    return bool(dot) and ext.lower() in PHOTO_EXTENSIONS


def sidecar_names_for(photo_name: str) -> tuple[str, str]:
    """(darktable name, lightroom name) of a photo's sidecar."""
    stem = photo_name.rpartition(".")[0] or photo_name
    return f"{photo_name}.xmp", f"{stem}.xmp"


def folder_style(sidecar_names: Sequence[str], default: str) -> str:
    """The convention most sidecars of a folder follow; `default` when none or tied."""
    darktable = sum(1 for n in sidecar_names if _is_darktable_name(n))
    lightroom = len(sidecar_names) - darktable
    if darktable > lightroom:
        return "darktable"
    if lightroom > darktable:
        return "lightroom"
    return default


def choose_sidecars(photo: Path, folder_sidecars: Sequence[str], style: str) -> tuple[list[Path], Optional[Path]]:
    """(existing sidecars to update, new sidecar to create or None) following the naming rule."""
    darktable, lightroom = sidecar_names_for(photo.name)
    by_lower: dict[str, str] = {}
    for name in sorted(folder_sidecars):
        by_lower.setdefault(name.lower(), name)
    existing = [by_lower[n.lower()] for n in dict.fromkeys((darktable, lightroom)) if n.lower() in by_lower]
    if existing:
        return [photo.parent / n for n in existing], None
    chosen = folder_style(folder_sidecars, style)
    return [], photo.parent / (darktable if chosen == "darktable" else lightroom)


# ------------------------------------------------------------- files


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot fsync a directory
    finally:
        os.close(fd)


def atomic_write(
    path: Path, content: bytes, mode: int, owner: Optional[tuple[int, int]] = None, sync_folder: bool = True
) -> None:
    """Replace `path` with `content`: hidden temp file in the same folder, fsync, rename, fsync folder.

    With sync_folder=False the caller fsyncs the folder later (once for many files):
    until then a power cut may undo the rename, leaving the old file, never a torn one.
    """
    folder = path.parent
    temp = folder / f".{path.name}{TEMP_MARKER}{os.getpid()}-{time.monotonic_ns()}.tmp"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        try:
            view = memoryview(content)
            while view:
                view = view[os.write(fd, view) :]
            os.fchmod(fd, mode & 0o7777)
            if owner is not None and os.geteuid() == 0:
                try:
                    os.fchown(fd, *owner)
                except OSError:
                    pass
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise
    if sync_folder:
        _fsync_dir(folder)


def _read_current(path: Path) -> Optional[bytes]:
    """A sidecar's bytes, None when it does not exist (raises SidecarError when absurdly large)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_SIDECAR_BYTES + 1)
    except FileNotFoundError:
        return None
    if len(data) > MAX_SIDECAR_BYTES:
        raise SidecarError(f"larger than {MAX_SIDECAR_BYTES // (1024 * 1024)} MiB")
    return data


_TEMP_NAME = re.compile(r"\..+" + re.escape(TEMP_MARKER) + r"(\d+)-\d+\.tmp")


def _remove_stale_temps(folder: Path, names: Sequence[str]) -> None:
    """Delete temp files left by a phototag writer that was killed (its process is gone)."""
    for name in names:
        match = _TEMP_NAME.fullmatch(name)
        if match is None:
            continue
        try:
            os.kill(int(match.group(1)), 0)
            continue  # still running (or the pid was reused): leave it
        except ProcessLookupError:
            pass
        except (PermissionError, OverflowError):
            continue
        try:
            os.unlink(folder / name)
        except OSError:
            pass


def unified_diff(path: Path, old: Optional[bytes], new: Optional[bytes]) -> str:
    def lines(data: Optional[bytes]) -> list[str]:
        return [] if data is None else data.decode("utf-8", "replace").splitlines(keepends=True)

    shown = os.fsdecode(path)
    diff = difflib.unified_diff(
        lines(old), lines(new), "/dev/null" if old is None else f"a/{shown}", "/dev/null" if new is None else f"b/{shown}"
    )
    text = "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in diff)
    return text


# ------------------------------------------------------------- writer


@dataclass
class WriteResult:
    photo: Path
    added: list[str] = field(default_factory=list)  # tags that changed a sidecar (or would, in a dry run)
    sidecars: list[Path] = field(default_factory=list)  # sidecars changed (or that would change)
    created: list[Path] = field(default_factory=list)  # of those, the new ones
    skipped: list[str] = field(default_factory=list)  # one-line reasons for sidecars left alone

    @property
    def changed(self) -> bool:
        return bool(self.sidecars)


@dataclass
class WriterStats:
    photos: int = 0
    sidecars_written: int = 0
    sidecars_created: int = 0
    unchanged: int = 0
    skipped: int = 0
    tags_added: int = 0


class SidecarWriter:
    """Adds tags to photos' sidecars; one instance (a `with` block) is one journaled write batch."""

    def __init__(
        self,
        index: Index,
        command: str,
        *,
        dry_run: bool = False,
        style: str = "darktable",
        runlog=None,
        diff_out: Optional[TextIO] = None,
    ):
        if style not in STYLES:
            raise ValueError(f"sidecar style must be one of {', '.join(STYLES)}, not {style!r}")
        self.index = index
        self.command = command
        self.dry_run = dry_run
        self.style = style
        self.runlog = runlog
        self.diff_out = diff_out
        self.batch_id: Optional[int] = None
        self.stats = WriterStats()
        self._folders: dict[Path, tuple[float, list[str]]] = {}
        self._planned: dict[Path, bytes] = {}
        self._dirty: set[Path] = set()  # folders with renames not yet fsynced  # dry run: content as it would be after earlier photos

    def __enter__(self) -> "SidecarWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.flush()
        if self.batch_id is not None:
            with self.index.write() as db:
                db.execute("UPDATE write_batches SET finished_at = ? WHERE id = ?", (time.time(), self.batch_id))

    def flush(self) -> None:
        """Make the renames so far durable: fsync each folder written to (once, not once per file)."""
        for folder in self._dirty:
            _fsync_dir(folder)
        self._dirty.clear()

    # The batch row is created at the first real write: a run that changes nothing leaves no trace.
    def _batch(self) -> int:
        if self.batch_id is None:
            with self.index.write() as db:
                cur = db.execute(
                    "INSERT INTO write_batches(command, started_at) VALUES (?, ?)", (self.command, time.time())
                )
                self.batch_id = cur.lastrowid
        return self.batch_id

    def _folder_sidecars(self, folder: Path) -> list[str]:
        """The folder's sidecar names, listed at most every few seconds (review runs for minutes)."""
        cached = self._folders.get(folder)
        if cached is None or time.monotonic() - cached[0] > FOLDER_LISTING_TTL:
            try:
                names = os.listdir(folder)
            except OSError as error:
                raise SidecarError(f"cannot list folder: {error.strerror or error}") from None
            if not self.dry_run:
                _remove_stale_temps(folder, names)
            cached = (time.monotonic(), [n for n in names if n.lower().endswith(".xmp") and not n.startswith(".")])
            self._folders[folder] = cached
        return cached[1]

    def _skip(self, path: Path, reason: str, result: WriteResult) -> None:
        result.skipped.append(reason)
        self.stats.skipped += 1
        if self.runlog is not None:
            self.runlog.skip(path, reason)

    def add_tags(self, photo: Path, tags: Sequence[str], model: Optional[str] = None) -> WriteResult:
        """Add `tags` to the photo's sidecar(s), creating one when it has none."""
        photo = Path(photo)
        result = WriteResult(photo)
        self.stats.photos += 1
        tags = [t for t in tags if t and t.strip()]
        for tag in tags:
            if tag_path(tag) is None and self.runlog is not None:
                self.runlog.warn(f"{photo}: tag {tag!r} has characters XMP cannot hold; not written")
        if not tags:
            return result
        try:
            existing, new = choose_sidecars(photo, self._folder_sidecars(photo.parent), self.style)
        except SidecarError as error:
            self._skip(photo, str(error), result)
            return result
        targets = [(p, False) for p in existing] + ([(new, True)] if new is not None else [])
        for sidecar, create in targets:
            self._write_one(photo, sidecar, create, tags, model, result)
        if result.changed:
            self.stats.tags_added += len(result.added)
        return result

    def _write_one(self, photo: Path, sidecar: Path, create: bool, tags, model, result: WriteResult) -> None:
        target = Path(os.path.realpath(sidecar))  # a symlinked sidecar: edit the file it points to
        try:
            old = self._planned.get(target) if self.dry_run and target in self._planned else _read_current(target)
        except SidecarError as error:
            self._skip(sidecar, f"sidecar left untouched: {error}", result)
            return
        except OSError as error:
            self._skip(sidecar, f"cannot read sidecar: {error.strerror or error}", result)
            return
        if old is None and not create:
            create = True  # vanished since the folder was listed
        try:
            new, added = edit_xmp(NEW_SIDECAR if old is None else old, tags)
        except SidecarError as error:
            self._skip(sidecar, f"sidecar left untouched: {error}", result)
            return
        if not added:
            self.stats.unchanged += 1
            return
        if self.dry_run:
            self._planned[target] = new
            out = self.diff_out or sys.stdout
            out.write(unified_diff(sidecar, old, new))
        else:
            try:
                self._commit(photo, target, old, new, added, model)
            except SidecarError as error:
                self._skip(sidecar, f"cannot write sidecar: {error}", result)
                return
            except OSError as error:
                denied = error.errno in (errno.EPERM, errno.EACCES, errno.EROFS)
                reason = "folder is read-only" if denied else (error.strerror or str(error))
                self._skip(sidecar, f"cannot write sidecar: {reason}", result)
                return
        if old is None:
            result.created.append(sidecar)
            self.stats.sidecars_created += 1
            listing = self._folders.get(photo.parent)
            if listing is not None and sidecar.name not in listing[1]:
                listing[1].append(sidecar.name)
        result.sidecars.append(sidecar)
        self.stats.sidecars_written += 1
        for tag in added:
            if tag not in result.added:
                result.added.append(tag)

    def _commit(self, photo: Path, target: Path, old: Optional[bytes], new: bytes, added, model) -> None:
        if old is not None:
            info = os.stat(target)
            if not info.st_mode & 0o222:
                raise SidecarError("the sidecar file is read-only")
            mode, owner = info.st_mode, (info.st_uid, info.st_gid)
        else:
            info = os.stat(photo)
            mode, owner = info.st_mode & 0o666, None
        batch = self._batch()
        # Journal before the rename: a crash in between leaves a row whose `written`
        # content is not on disk, which undo recognises and leaves alone.
        with self.index.write() as db:
            cur = db.execute(
                "INSERT INTO write_journal(batch_id, sidecar, previous, written, tags, model, written_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (batch, os.fsencode(target), old, new, json.dumps(added, ensure_ascii=False), model, time.time()),
            )
            row = cur.lastrowid
        try:
            if _read_current(target) != old:  # an editor (or another phototag) wrote it meanwhile
                raise SidecarError("it changed while phototag was editing it; run again")
            atomic_write(target, new, mode, owner, sync_folder=False)
            self._dirty.add(target.parent)
        except BaseException:
            with self.index.write() as db:
                db.execute("DELETE FROM write_journal WHERE id = ?", (row,))
            raise


# ------------------------------------------------------------- undo


@dataclass
class UndoResult:
    batch_id: Optional[int] = None
    command: str = ""
    started_at: Optional[float] = None
    restored: list[Path] = field(default_factory=list)
    deleted: list[Path] = field(default_factory=list)
    kept: list[tuple[Path, str]] = field(default_factory=list)  # changed since phototag wrote it
    already: int = 0  # rows whose sidecar already held the previous content


def last_batch(index: Index) -> Optional[tuple[int, str, float]]:
    return index.connection.execute(
        "SELECT id, command, started_at FROM write_batches WHERE undone_at IS NULL"
        " AND EXISTS (SELECT 1 FROM write_journal WHERE batch_id = write_batches.id)"
        " ORDER BY id DESC LIMIT 1"
    ).fetchone()


def undo_last_batch(index: Index, *, dry_run: bool = False, runlog=None, diff_out: Optional[TextIO] = None) -> UndoResult:
    """Put back what the last (not yet undone) write batch changed, newest write first.

    A sidecar is restored only when it still holds exactly what phototag wrote;
    one changed since (by an editor) is kept and reported.
    """
    result = UndoResult()
    batch = last_batch(index)
    if batch is None:
        return result
    result.batch_id, result.command, result.started_at = batch
    rows = index.connection.execute(
        "SELECT sidecar, previous, written FROM write_journal WHERE batch_id = ? ORDER BY id DESC", (batch[0],)
    ).fetchall()
    dirty: set[Path] = set()
    for raw, previous, written in rows:
        path = Path(os.fsdecode(bytes(raw)))
        previous = bytes(previous) if previous is not None else None
        written = bytes(written)

        def keep(reason: str, path: Path = path) -> None:
            result.kept.append((path, reason))
            if runlog is not None:
                runlog.skip(path, reason)

        try:
            current = _read_current(path)
        except (OSError, SidecarError) as error:
            keep(f"cannot read: {getattr(error, 'strerror', None) or error}")
            continue
        if current == previous:
            result.already += 1  # crash before the rename, or restored already
            continue
        if current != written:
            keep("changed since phototag wrote it; kept as it is")
            continue
        if dry_run:
            (diff_out or sys.stdout).write(unified_diff(path, current, previous))
        else:
            try:
                if previous is None:
                    os.unlink(path)
                else:
                    info = os.stat(path)
                    atomic_write(path, previous, info.st_mode, (info.st_uid, info.st_gid), sync_folder=False)
                dirty.add(path.parent)
            except OSError as error:
                keep(f"cannot restore: {error.strerror or error}")
                continue
        (result.deleted if previous is None else result.restored).append(path)
    for folder in dirty:
        _fsync_dir(folder)
    if not dry_run:
        with index.write() as db:
            db.execute("UPDATE write_batches SET undone_at = ? WHERE id = ?", (time.time(), batch[0]))
    return result
