"""What an `eval --html` page holds, read back with the standard library's HTML parser (tests only)."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser


@dataclass
class Page:
    plots: list[str] = field(default_factory=list)  # aria-label of each plot's SVG
    error_bars: int = 0  # <path> elements in the plots (one per point with a spread)
    tables: list[list[list[str]]] = field(default_factory=list)  # the figure tables: rows of cell texts
    images: list[str] = field(default_factory=list)  # src of every <img>
    chips: list[tuple[str, str]] = field(default_factory=list)  # (class, text) of every tag chip
    headings: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)  # every href/src that is not a data URI


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.page = Page()
        self._text: list[str] | None = None
        self._chip: str | None = None
        self._heading = False
        self._in_figures = False
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs) -> None:
        a = dict(attrs)
        for name in ("href", "src"):
            if a.get(name) and not a[name].startswith("data:"):
                self.page.links.append(a[name])
        if tag == "svg" and a.get("role") == "img":
            self.page.plots.append(a["aria-label"])
        elif tag == "path":
            self.page.error_bars += 1
        elif tag == "img":
            self.page.images.append(a["src"])
        elif tag == "span" and "chip" in (a.get("class") or "").split():
            self._chip, self._text = a["class"], []
        elif tag in ("h1", "h2"):
            self._heading, self._text = True, []
        elif tag == "table" and a.get("class") == "figures":
            self._in_figures = True
            self.page.tables.append([])
        elif tag == "tr" and self._in_figures:
            self.page.tables[-1].append([])
        elif tag in ("td", "th") and self._in_figures:
            self._cell = []

    def handle_endtag(self, tag) -> None:
        if tag == "span" and self._chip is not None:
            self.page.chips.append((self._chip, "".join(self._text or []).strip()))
            self._chip = self._text = None
        elif tag in ("h1", "h2") and self._heading:
            self.page.headings.append("".join(self._text or []).strip())
            self._heading, self._text = False, None
        elif tag == "table":
            self._in_figures = False
        elif tag in ("td", "th") and self._cell is not None:
            self.page.tables[-1][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data) -> None:
        if self._text is not None:
            self._text.append(data)
        if self._cell is not None:
            self._cell.append(data)


def read_page(html: str) -> Page:
    reader = _Reader()
    reader.feed(html)
    return reader.page
