"""The review page in a real browser (headless Debian chromium through selenium): accept a chip,
type a tag, Write, check the sidecar with exiftool, Undo restores it byte for byte."""

from __future__ import annotations

import json
import subprocess

import pytest

from .conftest import start_review, wait_for

pytestmark = pytest.mark.slow  # a real CLI process and a real browser


def exif_keywords(exiftool: str, sidecar) -> dict:
    shown = subprocess.run(
        [exiftool, "-j", "-XMP-dc:Subject", "-XMP-lr:HierarchicalSubject", str(sidecar)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    record = json.loads(shown)[0]
    as_list = lambda value: value if isinstance(value, list) else [value] if value is not None else []  # noqa: E731
    return {"subject": as_list(record.get("Subject")), "hierarchical": as_list(record.get("HierarchicalSubject"))}


def open_page(browser, review):
    browser.get(review.url)
    wait_for(
        lambda: browser.find_element("css selector", "body").get_attribute("data-loaded"), message="the first page"
    )


def card(browser, name: str):
    for node in browser.find_elements("css selector", "article.card"):
        if node.find_element("css selector", ".name").text == name:
            return node
    raise LookupError(f"no card for {name}")  # wait_for: not yet (the page may be redrawing)


def chip(browser, name: str, tag: str):
    return card(browser, name).find_element("css selector", f'.chip[data-tag="{tag}"]')


def test_accept_type_write_and_undo_in_the_browser(review, browser, library, exiftool):
    sidecar = library / "a.jpg.xmp"
    before = sidecar.read_bytes()
    open_page(browser, review)
    names = [n.text for n in browser.find_elements("css selector", "article.card .name")]
    assert names == ["a.jpg", "c.jpg"]  # untagged only, like `suggest`: b.jpg and trip/d.jpg have tags
    # the thumbnails load (served by id, decoded by the pipeline)
    wait_for(
        lambda: browser.execute_script(
            "return [...document.querySelectorAll('.thumb img')].every(i => i.complete && i.naturalWidth > 0)"
        ),
        message="thumbnails",
    )
    scores = [c.text for c in card(browser, "a.jpg").find_elements("css selector", ".chip .score")]
    assert scores == ["0.91", "0.72", "0.55"]

    chip(browser, "a.jpg", "sea").find_element("css selector", ".chip-main").click()
    wait_for(lambda: "accept" in chip(browser, "a.jpg", "sea").get_attribute("class"), message="sea accepted")
    chip(browser, "a.jpg", "evening").find_element("css selector", ".chip-x").click()
    wait_for(lambda: "reject" in chip(browser, "a.jpg", "evening").get_attribute("class"), message="evening rejected")

    # a typed tag the library knows as a hierarchy is written as its path
    field = card(browser, "a.jpg").find_element("css selector", "input.add")
    field.send_keys("harbour\n")
    wait_for(
        lambda: card(browser, "a.jpg").find_elements("css selector", '.chip.typed[data-tag="Places|Harbour"]'),
        message="the typed tag",
    )
    assert browser.find_element("id", "write").text == "Write (1)"

    browser.find_element("id", "write").click()
    wait_for(lambda: browser.find_element("id", "result").get_attribute("open") is not None, message="the write report")
    report = browser.find_element("id", "result").text
    assert "1 sidecar(s)" in report and "a.jpg: + sea, Places|Harbour → a.jpg.xmp" in report

    written = exif_keywords(exiftool, sidecar)
    assert written["subject"] == ["sea", "Harbour"] and written["hierarchical"] == ["sea", "Places|Harbour"]
    assert b"Ann" in sidecar.read_bytes()  # the sidecar was edited, not replaced
    browser.find_element("id", "result-close").click()
    # a.jpg has tags now: it leaves the untagged view; among all photos it shows them as its own
    wait_for(
        lambda: [n.text for n in browser.find_elements("css selector", "article.card .name")] == ["c.jpg"],
        message="a.jpg out of the untagged view",
    )
    browser.find_element("id", "f-untagged").click()
    wait_for(
        lambda: (
            [p.text for p in card(browser, "a.jpg").find_elements("css selector", ".present .pill")]
            == ["sea", "Places|Harbour"]
        ),
        message="the present tags",
    )
    assert browser.find_element("id", "write").text == "Write"

    browser.find_element("id", "undo").click()
    wait_for(lambda: browser.find_element("id", "result").get_attribute("open") is not None, message="the undo report")
    assert "1 sidecar(s) restored" in browser.find_element("id", "result").text
    assert sidecar.read_bytes() == before
    assert exif_keywords(exiftool, sidecar)["subject"] == []


def test_keyboard_and_selection_accept_a_tag_for_several_photos(review, browser, library, exiftool):
    open_page(browser, review)
    body = browser.find_element("css selector", "body")
    body.send_keys("1")  # the first photo (a.jpg): its first suggestion
    wait_for(lambda: "accept" in chip(browser, "a.jpg", "sea").get_attribute("class"), message="key 1")
    for name in ("a.jpg", "c.jpg"):
        card(browser, name).find_element("css selector", ".thumb").click()
    assert browser.find_element("id", "bulk-count").text == "2 selected"
    bulk = browser.find_element("id", "bulk-tag")
    bulk.send_keys("summer")
    browser.find_element("id", "bulk-accept").click()
    wait_for(
        lambda: all(
            card(browser, n).find_elements("css selector", '.chip[data-tag="summer"]') for n in ("a.jpg", "c.jpg")
        ),
        message="summer on both",
    )
    body.send_keys("w")
    wait_for(lambda: browser.find_element("id", "result").get_attribute("open") is not None, message="the write report")
    assert exif_keywords(exiftool, library / "a.jpg.xmp")["subject"] == ["sea", "summer"]
    assert exif_keywords(exiftool, library / "c.jpg.xmp")["subject"] == ["summer"]  # a new sidecar


def test_filters_and_paging(review, browser):
    open_page(browser, review)
    browser.find_element("id", "f-untagged").click()  # all photos
    wait_for(lambda: len(browser.find_elements("css selector", "article.card")) == 4, message="all four photos")
    select = browser.find_element("id", "f-folder")
    select.find_element("css selector", 'option[value="trip"]').click()
    wait_for(
        lambda: [n.text for n in browser.find_elements("css selector", "article.card .name")] == ["d.jpg"],
        message="the trip folder",
    )
    select.find_element("css selector", 'option[value="*"]').click()
    field = browser.find_element("id", "f-tag")
    field.send_keys("harbour\n")
    wait_for(
        lambda: [n.text for n in browser.find_elements("css selector", "article.card .name")] == ["b.jpg"],
        message="the tag filter",
    )
    assert "page 1 of 1 · 1 photos" in browser.find_element("id", "pageinfo").text


def test_live_suggestions_appear_on_the_open_page(library, browser, tmp_path):
    server = start_review(library, tmp_path / "index.sqlite", "--device", "onnx-int8", "--min-score", "0", "--new-tags")
    try:
        open_page(browser, server)  # at once: the ranking runs in the background
        assert [n.text for n in browser.find_elements("css selector", "article.card .name")] == ["a.jpg", "c.jpg"]
        wait_for(
            lambda: "suggestions ready" in browser.find_element("id", "status").text,
            timeout=240,
            interval=0.5,
            message="the background ranking",
        )
        wait_for(
            lambda: card(browser, "a.jpg").find_elements("css selector", ".chip"),
            message="chips drawn without a reload",
        )
    finally:
        assert server.stop() == 0


def as_phone(browser) -> None:
    """A phone's screen: 390 x 844 CSS pixels, twice as many device pixels, touch."""
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride", {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True}
    )
    browser.execute_cdp_cmd("Emulation.setTouchEmulationEnabled", {"enabled": True, "maxTouchPoints": 5})


def tap(browser, element) -> None:
    """A finger's tap in the middle of `element` (touch events: the page sees pointerType "touch")."""
    box = browser.execute_script(
        "const r = arguments[0].getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]", element
    )
    point = {"x": box[0], "y": box[1]}
    browser.execute_cdp_cmd("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [point]})
    browser.execute_cdp_cmd("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})


LAYOUT = """
const box = (id) => document.getElementById(id).getBoundingClientRect();
const pager = ["prev", "pageinfo", "next"].map(box);
return {
  header: box("top").height, viewport: innerHeight, width: innerWidth,
  pagerTops: pager.map((r) => Math.round(r.top + r.height / 2)), pageinfoHeight: pager[1].height,
  bulk: getComputedStyle(document.getElementById("bulk")).display,
  filters: getComputedStyle(document.getElementById("filters")).display,
  filtersButton: getComputedStyle(document.getElementById("filters-button")).display,
  small: [...document.querySelectorAll("button, input:not([type=checkbox]), select, .chip-main")]
    .filter((e) => e.getClientRects().length && getComputedStyle(e).visibility !== "hidden")
    .map((e) => [e.id || e.className || e.tagName, e.getBoundingClientRect()])
    .filter(([name, r]) => r.height < 40 || (r.width < 40 && !name.includes("chip")))
    .map(([name, r]) => `${name} ${Math.round(r.width)}x${Math.round(r.height)}`),
};
"""


def test_on_a_phone_the_header_is_small_targets_are_big_and_a_tap_shows_the_photo(review, browser):
    as_phone(browser)
    open_page(browser, review)
    layout = browser.execute_script(LAYOUT)
    print("phone layout:", layout)
    assert layout["width"] == 390 and layout["viewport"] == 844
    assert layout["header"] <= 844 / 4, layout  # the photos get three quarters of the screen at least
    assert max(layout["pagerTops"]) - min(layout["pagerTops"]) <= 2, layout  # the pager on one line
    assert layout["pageinfoHeight"] < 30, layout
    assert layout["bulk"] == "none" and layout["filters"] == "none" and layout["filtersButton"] != "none"
    assert layout["small"] == [], layout["small"]  # every touch target is 40 px or more

    browser.find_element("id", "filters-button").click()  # the filters unfold, and fold again
    assert browser.execute_script(LAYOUT)["filters"] == "flex"
    browser.find_element("id", "filters-button").click()
    assert browser.execute_script(LAYOUT)["filters"] == "none"

    tap(browser, card(browser, "c.jpg").find_element("css selector", ".thumb img"))  # a tap: the photo large
    wait_for(lambda: browser.find_element("id", "viewer").get_attribute("open") is not None, message="the large view")
    assert browser.find_element("id", "viewer-name").text == "c.jpg"
    tap(browser, browser.find_element("id", "viewer-img"))
    wait_for(
        lambda: browser.find_element("id", "viewer").get_attribute("open") is None, message="the large view closed"
    )
    assert browser.find_elements("css selector", "article.card.selected") == []  # a tap does not select

    tap(browser, card(browser, "a.jpg").find_element("css selector", ".pick"))  # the round toggle selects
    wait_for(lambda: browser.find_element("id", "bulk-count").text == "1 selected", message="the selection bar")
    tap(browser, browser.find_element("id", "bulk-clear"))
    wait_for(lambda: browser.execute_script(LAYOUT)["bulk"] == "none", message="the selection bar hidden again")

    browser.find_element("id", "help-button").click()
    help_text = browser.find_element("id", "help").text
    assert "tap a photo" in help_text and "show it large" in help_text and "hold the photo" in help_text


def test_on_a_desktop_the_header_is_one_row_and_the_selection_bar_only_shows_with_a_selection(review, browser):
    open_page(browser, review)
    layout = browser.execute_script(LAYOUT)
    print("desktop layout:", layout)
    assert layout["width"] >= 1200 and layout["header"] <= 110, layout  # title, pager and buttons; the filters
    assert max(layout["pagerTops"]) - min(layout["pagerTops"]) <= 2 and layout["pageinfoHeight"] < 30, layout
    assert layout["bulk"] == "none" and layout["filters"] == "flex" and layout["filtersButton"] == "none"
    assert "page 1 of 1 · 2 photos" in browser.find_element("id", "pageinfo").text

    card(browser, "a.jpg").find_element("css selector", ".thumb").click()  # a click selects
    wait_for(lambda: browser.execute_script(LAYOUT)["bulk"] == "flex", message="the selection bar")
    chip(browser, "a.jpg", "sea").find_element("css selector", ".chip-main").click()
    wait_for(
        lambda: "1 photo not written yet" in browser.find_element("id", "status").text, message="the pending count"
    )
    browser.find_element("id", "write").click()
    wait_for(lambda: browser.find_element("id", "result").get_attribute("open") is not None, message="the write report")
    browser.find_element("id", "result-close").click()
    # a.jpg is tagged now and left the untagged view: the selection forgets it, the bar goes
    wait_for(
        lambda: [n.text for n in browser.find_elements("css selector", "article.card .name")] == ["c.jpg"],
        message="a.jpg out of the grid",
    )
    wait_for(lambda: browser.execute_script(LAYOUT)["bulk"] == "none", message="the selection bar hidden")
    assert "not written" not in browser.find_element("id", "status").text
