"""Reading keywords, the creator, the capture date and GPS position out of one XMP packet (sidecar file or embedded).

The packet is parsed with defusedxml and DTDs are refused outright: an XMP packet
never needs one, and refusing it stops billion-laughs expansion and external
entities (a sidecar pointing at a local file) before anything is resolved.

Properties are matched by namespace URI, never by prefix, so a packet that binds
Dublin Core to `xmp:` (legal, if odd) reads the same as one that uses `dc:`.
The RDF forms editors actually write are understood: rdf:Bag / rdf:Seq / rdf:Alt
lists, attribute-form simple values, `rdf:nodeID` references to a list declared
elsewhere in the packet, and `rdf:value` qualifiers on list items.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional
from xml.etree.ElementTree import Element, ParseError

import defusedxml
import defusedxml.ElementTree as SafeET

from phototag.library import xmp_namespaces as ns
from phototag.library.xmp_namespaces import clark, qualified_name

# {namespace}localName -> the field name reported in Keyword.field
KEYWORD_PROPERTIES = {clark(prop): qualified_name(prop) for prop in ns.KEYWORD_PROPERTIES}
CREATOR = clark(ns.DC_CREATOR)
HAS_EXTENDED = clark(ns.HAS_EXTENDED_XMP)
CAPTURE_DATES = {clark(prop): qualified_name(prop) for prop in ns.CAPTURE_DATE_PROPERTIES}
LATITUDE, LONGITUDE = clark(ns.GPS_LATITUDE), clark(ns.GPS_LONGITUDE)

_RDF_RDF = f"{{{ns.RDF}}}RDF"
_DESCRIPTION = f"{{{ns.RDF}}}Description"
_LI = f"{{{ns.RDF}}}li"
_CONTAINERS = {f"{{{ns.RDF}}}Bag", f"{{{ns.RDF}}}Seq", f"{{{ns.RDF}}}Alt"}
_NODE_ID = f"{{{ns.RDF}}}nodeID"
_RESOURCE = f"{{{ns.RDF}}}resource"
_VALUE = f"{{{ns.RDF}}}value"
_PARSE_TYPE = f"{{{ns.RDF}}}parseType"
_WANTED = set(KEYWORD_PROPERTIES) | set(CAPTURE_DATES) | {CREATOR, HAS_EXTENDED, LATITUDE, LONGITUDE}


MAX_SIDECAR_BYTES = 32 << 20  # a larger file is hostile or broken, not a sidecar: neither read nor edited


def too_large(size: int) -> str:
    """The one wording of the size limit, for the reader and the writer alike."""
    return f"{size:,} bytes, more than the {MAX_SIDECAR_BYTES >> 20} MiB a sidecar may have"


class XmpError(Exception):
    """The packet was not read; the message is one line and says why."""


@dataclass
class XmpValues:
    keywords: list[tuple[str, str]] = field(default_factory=list)  # (field, text) in document order
    creator: Optional[str] = None  # first dc:creator entry
    extended_guid: Optional[str] = None  # xmpNote:HasExtendedXMP (JPEG ExtendedXMP)
    dates: list[tuple[str, str]] = field(default_factory=list)  # (field, text): exif:DateTimeOriginal, ...
    latitude: Optional[str] = None  # exif:GPSLatitude as written ('51,30.5N')
    longitude: Optional[str] = None


def parse_xmp(data: bytes) -> XmpValues:
    """Parse one XMP packet. Raises XmpError (one-line message) when it cannot or must not be read."""
    root = _parse(_trim(data))
    values = XmpValues()
    if root.tag == _RDF_RDF:
        rdf_blocks = [root]
    else:
        rdf_blocks = list(root.iter(_RDF_RDF))
    for rdf in rdf_blocks:
        nodes = _node_ids(rdf)
        for description in rdf:
            if description.tag != _DESCRIPTION:
                continue  # typed nodes and lists declared for rdf:nodeID references
            _read_description(description, nodes, values)
    return values


_WIDE = (  # how a packet in UTF-16/32 starts (XMP allows them; the BOM is often only inside the PI)
    (b"\0\0\xfe\xff", "utf-32"),
    (b"\xff\xfe\0\0", "utf-32"),
    (b"\0\0\0<", "utf-32-be"),
    (b"<\0\0\0", "utf-32-le"),
    (b"\xfe\xff", "utf-16"),
    (b"\xff\xfe", "utf-16"),
    (b"\0<", "utf-16-be"),
    (b"<\0", "utf-16-le"),
)
_XML_DECLARATION = re.compile(rb"^\s*<\?xml[^>]*\?>")


def _trim(data: bytes) -> bytes:
    """Make the packet plain UTF-8 XML: cut the xpacket wrappers (writers put control bytes
    in them), padding, and trailing bytes after the packet (GIF trailers, NULs)."""
    for start, codec in _WIDE:
        if data.startswith(start):
            try:
                data = data.decode(codec).encode("utf-8")
            except UnicodeError:
                return data  # let the parser say what is wrong
            data = _XML_DECLARATION.sub(b"", data)  # it names the old encoding
            break
    end = data.rfind(b"<?xpacket end")
    if end >= 0:
        data = data[:end]
    start = data.find(b"<?xpacket begin")
    if start >= 0:
        close = data.find(b"?>", start)
        if close >= 0:
            data = data[:start] + data[close + 2 :]  # keeps an XML declaration before it
    data = data.strip(b"\0 \t\r\n")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    start = data.find(b"<")
    return data[start:] if start > 0 else data


def _parse(data: bytes) -> Element:
    if not data.strip():
        raise XmpError("empty XMP packet")
    try:
        return SafeET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except defusedxml.DTDForbidden:
        raise XmpError("XMP refused: it declares a DTD (entities and external references are never followed)") from None
    except defusedxml.EntitiesForbidden:
        raise XmpError("XMP refused: it declares entities (never expanded)") from None
    except defusedxml.ExternalReferenceForbidden:
        raise XmpError("XMP refused: it refers to an external resource (never followed)") from None
    except defusedxml.DefusedXmlException as error:
        raise XmpError(f"XMP refused: {type(error).__name__}") from None
    except ParseError as error:
        raise XmpError(f"malformed XMP: {error}") from None
    except (ValueError, LookupError) as error:  # e.g. an unknown encoding in the XML declaration
        raise XmpError(f"malformed XMP: {error}") from None


def _node_ids(rdf: Element) -> dict[str, Element]:
    """rdf:nodeID -> the node element that carries content (a list or a description)."""
    nodes: dict[str, Element] = {}
    for element in rdf.iter():
        node_id = element.get(_NODE_ID)
        if node_id is None or not (element.tag in _CONTAINERS or element.tag == _DESCRIPTION):
            continue
        known = nodes.get(node_id)
        if known is None or (not len(known) and len(element)):
            nodes[node_id] = element  # the first one with content wins
    return nodes


def _read_description(description: Element, nodes: dict[str, Element], values: XmpValues) -> None:
    # Attribute form: <rdf:Description dc:subject="one"> (only valid for simple values, but written)
    for name, text in description.attrib.items():
        if name in _WANTED:
            _store(values, name, [text] if text.strip() else [])
    for prop in description:
        if prop.tag in _WANTED:
            _store(values, prop.tag, _property_values(prop, nodes))


def _store(values: XmpValues, name: str, items: list[str]) -> None:
    if not items:
        return
    if name == CREATOR:
        if values.creator is None:
            values.creator = items[0].strip() or None
    elif name == HAS_EXTENDED:
        values.extended_guid = items[0].strip()
    elif name in CAPTURE_DATES:
        values.dates.append((CAPTURE_DATES[name], items[0]))
    elif name == LATITUDE:
        values.latitude = values.latitude or items[0]
    elif name == LONGITUDE:
        values.longitude = values.longitude or items[0]
    else:
        field_name = KEYWORD_PROPERTIES[name]
        values.keywords.extend((field_name, text) for text in items)


def _property_values(prop: Element, nodes: dict[str, Element]) -> list[str]:
    children = list(prop)
    if not children:
        node_id = prop.get(_NODE_ID)
        if node_id is not None:
            target = nodes.get(node_id)
            if target is None:
                return []
            return _items(target) if target.tag in _CONTAINERS else _qualified_value(target)
        if prop.get(_RESOURCE) is not None or prop.get(_PARSE_TYPE) is not None:
            return []  # a URI or an empty struct, not text
        value = prop.get(_VALUE)
        text = prop.text if value is None else value
        return [text] if text and text.strip() else []
    first = children[0]
    if first.tag in _CONTAINERS:
        return _items(first)
    if prop.get(_PARSE_TYPE) == "Resource" or first.tag == _DESCRIPTION:
        return _qualified_value(first if first.tag == _DESCRIPTION else prop)
    return []


def _items(container: Element) -> list[str]:
    items: list[str] = []
    for li in container:
        if li.tag != _LI:
            continue
        if len(li):
            # <rdf:li><rdf:Description rdf:value="x" .../></rdf:li> or parseType="Resource" with rdf:value
            inner = li[0] if li[0].tag == _DESCRIPTION else li
            items.extend(_qualified_value(inner))
            continue
        if li.get(_RESOURCE) is not None:
            continue
        value = li.get(_VALUE)
        text = li.text if value is None else value
        if text and text.strip():
            items.append(text)
    return items


def _qualified_value(node: Element) -> list[str]:
    """The rdf:value of a qualified value (attribute or child element), if any."""
    value = node.get(_VALUE)
    if value is None:
        child = node.find(_VALUE)
        value = child.text if child is not None and not len(child) else None
    return [value] if value and value.strip() else []
