"""The web page in real headless Chromium (the system's, as .ci/run installs it) via Playwright:
boxes on every face of a group photo, enrol then identify, delete."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from service_server import Server, make_key

pytest.importorskip("fastapi")
sync_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    if not Path(CHROMIUM).exists():
        if os.environ.get("FACEPRINT_REQUIRE_DATA"):
            pytest.fail(f"{CHROMIUM} is missing (apt-get install chromium)")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    g = str(tmp_path_factory.mktemp("web") / "g.db")
    key = make_key(g, "admin")
    s = Server([g]).start()
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        pg = browser.new_page()
        pg.on("dialog", lambda d: d.accept())
        pg.goto(s.url + "/")
        pg.fill("#key", key)
        pg.dispatch_event("#key", "change")
        yield pg
        browser.close()
    s.stop()


def test_boxes_on_every_face(page, fr, engine):
    group = fr / "examples/two_people.jpg"
    page.set_input_files("#identify-file", str(group))
    page.wait_for_function("document.querySelectorAll('#boxes .box').length > 0")
    assert page.locator("#boxes .box").count() == len(engine.detect(group)) == 2
    assert all("unknown" in t for t in page.locator("#boxes .box span").all_text_contents())


def test_enrol_identify_delete(page, fr):
    page.fill("#enrol-name", "Barack Obama")
    page.fill("#enrol-consent", "signed 2026-11-02")
    page.set_input_files("#enrol-files", [str(fr / "examples/obama.jpg"), str(fr / "examples/obama2.jpg")])
    page.click("#enrol")
    page.wait_for_selector("#subjects li[data-name='Barack Obama']")
    assert "enrolled 2 photo(s)" in page.text_content("#enrol-result")

    page.set_input_files("#identify-file", str(fr / "examples/obama-480p.jpg"))
    page.wait_for_function("[...document.querySelectorAll('#boxes .box.known span')].some(s => s.textContent.includes('Barack Obama'))")

    page.set_input_files("#verify-a", str(fr / "examples/obama.jpg"))
    page.set_input_files("#verify-b", str(fr / "examples/biden.jpg"))
    page.click("#verify")
    page.wait_for_function("document.querySelector('#verify-result').textContent.length > 0")
    assert page.text_content("#verify-result").startswith("Different people")

    page.click("#subjects li[data-name='Barack Obama'] button")
    page.wait_for_selector("#subjects li[data-name='Barack Obama']", state="detached")
    page.set_input_files("#identify-file", str(fr / "examples/obama-1080p.jpg"))
    page.wait_for_function("[...document.querySelectorAll('#boxes .box span')].some(s => s.textContent.startsWith('unknown'))")
    assert page.locator("#boxes .box.known").count() == 0
