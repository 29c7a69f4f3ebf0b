"""Making real test photos and sidecars (Pillow images, hand-written XMP)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Optional
from xml.sax.saxutils import escape

from PIL import Image


def make_jpeg(path: Path, size=(96, 64), color=(200, 40, 40), **save_args) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.new("RGB", size, color)
    # a little structure so JPEG data is not trivial
    for x in range(0, size[0], 8):
        image.putpixel((x, size[1] // 2), (255, 255, 255))
    image.save(path, "JPEG", quality=90, **save_args)
    return path


def with_embedded_xmp(photo: Path, packet: bytes) -> Path:
    """Splice an APP1 XMP segment right after the JPEG's SOI marker."""
    payload = b"http://ns.adobe.com/xap/1.0/\0" + packet
    data = photo.read_bytes()
    photo.write_bytes(data[:2] + b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload + data[2:])
    return photo


def xmp_sidecar(
    subjects: Iterable[str] = (),
    hierarchical: Iterable[str] = (),
    creator: Optional[str] = None,
    seq: bool = False,
    digikam: Iterable[str] = (),
) -> str:
    """A Lightroom-like XMP sidecar document."""
    container = "rdf:Seq" if seq else "rdf:Bag"

    def items(values: Iterable[str]) -> str:
        return "".join(f"<rdf:li>{escape(v)}</rdf:li>" for v in values)

    parts = []
    subjects, hierarchical, digikam = list(subjects), list(hierarchical), list(digikam)
    if subjects:
        parts.append(f"<dc:subject><{container}>{items(subjects)}</{container}></dc:subject>")
    if hierarchical:
        parts.append(f"<lr:hierarchicalSubject><rdf:Bag>{items(hierarchical)}</rdf:Bag></lr:hierarchicalSubject>")
    if digikam:
        parts.append(f"<digiKam:TagsList><rdf:Seq>{items(digikam)}</rdf:Seq></digiKam:TagsList>")
    if creator:
        parts.append(f"<dc:creator><rdf:Seq><rdf:li>{escape(creator)}</rdf:li></rdf:Seq></dc:creator>")
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
        ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
        '  <rdf:Description rdf:about=""\n'
        '    xmlns:dc="http://purl.org/dc/elements/1.1/"\n'
        '    xmlns:lr="http://ns.adobe.com/lightroom/1.0/"\n'
        '    xmlns:digiKam="http://www.digikam.org/ns/1.0/">\n'
        f"   {''.join(parts)}\n"
        "  </rdf:Description>\n"
        " </rdf:RDF>\n"
        "</x:xmpmeta>\n"
        '<?xpacket end="w"?>\n'
    )


def write_sidecar(path: Path, **kwargs) -> Path:
    path.write_text(xmp_sidecar(**kwargs), encoding="utf-8")
    return path
