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
        capture_output=True, text=True, check=True,
    ).stdout
    record = json.loads(shown)[0]
    as_list = lambda value: value if isinstance(value, list) else [value] if value is not None else []  # noqa: E731
    return {"subject": as_list(record.get("Subject")), "hierarchical": as_list(record.get("HierarchicalSubject"))}


def open_page(browser, review):
    browser.get(review.url)
    wait_for(lambda: browser.find_element("css selector", "body").get_attribute("data-loaded"), message="the first page")


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
    wait_for(lambda: browser.execute_script(
        "return [...document.querySelectorAll('.thumb img')].every(i => i.complete && i.naturalWidth > 0)"), message="thumbnails")
    scores = [c.text for c in card(browser, "a.jpg").find_elements("css selector", ".chip .score")]
    assert scores == ["0.91", "0.72", "0.31"]

    chip(browser, "a.jpg", "sea").find_element("css selector", ".chip-main").click()
    wait_for(lambda: "accept" in chip(browser, "a.jpg", "sea").get_attribute("class"), message="sea accepted")
    chip(browser, "a.jpg", "evening").find_element("css selector", ".chip-x").click()
    wait_for(lambda: "reject" in chip(browser, "a.jpg", "evening").get_attribute("class"), message="evening rejected")

    # a typed tag the library knows as a hierarchy is written as its path
    field = card(browser, "a.jpg").find_element("css selector", "input.add")
    field.send_keys("harbour\n")
    wait_for(lambda: card(browser, "a.jpg").find_elements("css selector", '.chip.typed[data-tag="Places|Harbour"]'),
             message="the typed tag")
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
    wait_for(lambda: [n.text for n in browser.find_elements("css selector", "article.card .name")] == ["c.jpg"],
             message="a.jpg out of the untagged view")
    browser.find_element("id", "f-untagged").click()
    wait_for(lambda: [p.text for p in card(browser, "a.jpg").find_elements("css selector", ".present .pill")]
             == ["sea", "Places|Harbour"], message="the present tags")
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
    wait_for(lambda: all(card(browser, n).find_elements("css selector", '.chip[data-tag="summer"]') for n in ("a.jpg", "c.jpg")),
             message="summer on both")
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
    wait_for(lambda: [n.text for n in browser.find_elements("css selector", "article.card .name")] == ["d.jpg"],
             message="the trip folder")
    select.find_element("css selector", 'option[value="*"]').click()
    field = browser.find_element("id", "f-tag")
    field.send_keys("harbour\n")
    wait_for(lambda: [n.text for n in browser.find_elements("css selector", "article.card .name")] == ["b.jpg"],
             message="the tag filter")
    assert "page 1 of 1 · 1 photos" in browser.find_element("id", "pageinfo").text


def test_live_suggestions_appear_on_the_open_page(library, browser, tmp_path):
    server = start_review(library, tmp_path / "index.sqlite", "--device", "onnx-int8", "--min-score", "0", "--new-tags")
    try:
        open_page(browser, server)  # at once: the ranking runs in the background
        assert [n.text for n in browser.find_elements("css selector", "article.card .name")] == ["a.jpg", "c.jpg"]
        wait_for(lambda: "suggestions ready" in browser.find_element("id", "status").text, timeout=240, interval=0.5,
                 message="the background ranking")
        wait_for(lambda: card(browser, "a.jpg").find_elements("css selector", ".chip"), message="chips drawn without a reload")
    finally:
        assert server.stop() == 0
