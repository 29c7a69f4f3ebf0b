"""The XMP namespaces phototag reads and writes, and the keyword properties in them.

One table for reading (`xmp_read`) and editing (`xmp_edit`). Properties are matched
by namespace URI, never by prefix; the prefixes here are the ones editors use and the
ones phototag declares when it adds a property.
"""

from __future__ import annotations

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
DC = "http://purl.org/dc/elements/1.1/"
LIGHTROOM = "http://ns.adobe.com/lightroom/1.0/"
DIGIKAM = "http://www.digikam.org/ns/1.0/"
MEDIAPRO = "http://ns.iview-multimedia.com/mediapro/1.0/"
MICROSOFT_PHOTO = "http://ns.microsoft.com/photo/1.0/"
# Windows Photo Gallery is seen with and without the final slash (exiftool writes none)
MICROSOFT_PHOTO_NO_SLASH = "http://ns.microsoft.com/photo/1.0"
XMP_NOTE = "http://ns.adobe.com/xmp/note/"
XML = "http://www.w3.org/XML/1998/namespace"
EXIF = "http://ns.adobe.com/exif/1.0/"
XMP_BASIC = "http://ns.adobe.com/xap/1.0/"
PHOTOSHOP = "http://ns.adobe.com/photoshop/1.0/"

PREFIXES = {
    RDF: "rdf",
    DC: "dc",
    LIGHTROOM: "lr",
    DIGIKAM: "digiKam",
    MEDIAPRO: "mediapro",
    MICROSOFT_PHOTO: "MicrosoftPhoto",
    MICROSOFT_PHOTO_NO_SLASH: "MicrosoftPhoto",
    XMP_NOTE: "xmpNote",
    EXIF: "exif",
    XMP_BASIC: "xmp",
    PHOTOSHOP: "photoshop",
}

# (namespace, local name) of the keyword properties phototag reads
DC_SUBJECT = (DC, "subject")
LR_HIERARCHICAL = (LIGHTROOM, "hierarchicalSubject")
DIGIKAM_TAGS = (DIGIKAM, "TagsList")
MEDIAPRO_CATALOG_SETS = (MEDIAPRO, "CatalogSets")
MICROSOFT_KEYWORDS = (MICROSOFT_PHOTO, "LastKeywordXMP")
KEYWORD_PROPERTIES = (
    DC_SUBJECT,
    LR_HIERARCHICAL,
    DIGIKAM_TAGS,
    MEDIAPRO_CATALOG_SETS,
    MICROSOFT_KEYWORDS,
    (MICROSOFT_PHOTO_NO_SLASH, "LastKeywordXMP"),
)
DC_CREATOR = (DC, "creator")
HAS_EXTENDED_XMP = (XMP_NOTE, "HasExtendedXMP")
# When and where the photo was taken (read only; see phototag.library.capture)
CAPTURE_DATE_PROPERTIES = ((EXIF, "DateTimeOriginal"), (PHOTOSHOP, "DateCreated"), (XMP_BASIC, "CreateDate"))
GPS_LATITUDE = (EXIF, "GPSLatitude")
GPS_LONGITUDE = (EXIF, "GPSLongitude")


def qualified_name(prop: tuple[str, str]) -> str:
    """('http://purl.org/dc/elements/1.1/', 'subject') -> 'dc:subject' (the name reported in keywords)."""
    uri, local = prop
    return f"{PREFIXES[uri]}:{local}"


def clark(prop: tuple[str, str]) -> str:
    """('http://purl.org/dc/elements/1.1/', 'subject') -> '{http://purl.org/dc/elements/1.1/}subject'
    (ElementTree's form)."""
    uri, local = prop
    return f"{{{uri}}}{local}"
