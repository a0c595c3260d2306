"""The console page (service/web/) in real headless Chromium (Debian's, as .ci/run installs it)
via Playwright, driven as a user would: upload a photo and read the boxes, enrol, browse and page
through subjects, delete an example and a subject, rename, record consent, read the audit row,
create and revoke a key, read the gallery stats; with an admin key and with a recognize key.
Each view's screenshot goes to tests/output/console/ for review."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from service_server import Server, make_key

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")
sync_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(__file__).parent / "output" / "console"


def _need_chromium():
    if not Path(CHROMIUM).exists():
        if os.environ.get("FACEPRINT_REQUIRE_DATA"):
            pytest.fail(f"{CHROMIUM} is missing (apt-get install chromium)")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")


@pytest.fixture(scope="module")
def console(tmp_path_factory, fr):
    """(server, admin key, recognize key, browser) on a fresh gallery."""
    _need_chromium()
    g = str(tmp_path_factory.mktemp("console") / "g.db")
    admin, reader = make_key(g, "admin"), make_key(g, "recognize")
    s = Server([g]).start()
    SHOTS.mkdir(parents=True, exist_ok=True)
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            yield s, admin, reader, browser
            browser.close()
    finally:
        s.stop()


def _open(browser, url: str, key: str):
    pg = browser.new_page(viewport={"width": 1280, "height": 900})
    pg.goto(url + "/")
    pg.fill("#key", key)
    pg.press("#key", "Enter")
    _until(pg, "document.body.dataset.role && document.body.dataset.role !== 'none'")
    return pg


@pytest.fixture(scope="module")
def page(console):
    s, admin, _, browser = console
    pg = _open(browser, s.url, admin)
    yield pg
    pg.close()


def shot(pg, name: str) -> None:
    pg.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _until(pg, js: str) -> None:
    """Wait for a condition on the page; on a timeout, fail with what the page's alert says."""
    try:
        pg.wait_for_function(js, timeout=20_000)
    except sync_api.TimeoutError:
        raise AssertionError(f"the page never got to {js}; its alert says {pg.text_content('#alert')!r}") from None


def _tab(pg, name: str) -> None:
    pg.get_by_role("tab", name=name).click()


def _confirm(pg, text: str | None = None) -> None:
    """Answer the console's own <dialog>; type `text` first when it asks for one."""
    pg.wait_for_selector("#ask[open]")
    if text is not None:
        pg.fill("#ask-input", text)
    pg.click("#ask-ok")
    pg.wait_for_selector("#ask:not([open])", state="attached")


def _recognise(pg, photo: Path) -> None:
    _tab(pg, "Recognise")
    pg.evaluate("delete document.getElementById('stage').dataset.done")
    pg.set_input_files("#recognise-file", str(photo))
    _until(pg, "document.getElementById('stage').dataset.done")
    assert pg.get_attribute("#stage", "data-done") == "ok", pg.text_content("#alert")


def test_recognise_boxes_every_face_not_enrolled(page, fr, engine):
    group = fr / "examples/two_people.jpg"
    _recognise(page, group)
    boxes = page.locator("#boxes .box")
    assert boxes.count() == len(engine.detect(group)) == 2
    assert page.locator("#boxes .box.unknown").count() == 2
    assert all("not enrolled" in t for t in page.locator("#boxes .box .label").all_text_contents())
    # each box sits inside the photo, and the table gives score and threshold per face
    frame = page.locator("#frame").bounding_box()
    for i in range(2):
        b = boxes.nth(i).bounding_box()
        assert frame["x"] <= b["x"] and b["x"] + b["width"] <= frame["x"] + frame["width"] + 1
    rows = page.locator("#faces-table tbody tr")
    assert rows.count() == 2 and "not enrolled" in rows.nth(0).inner_text()
    assert "two_people.jpg: 2 faces: 0 enrolled" in page.text_content("#recognise-summary")
    shot(page, "recognise-not-enrolled")


def test_enrol_then_boxes_carry_names(page, fr):
    _tab(page, "Subjects")
    page.fill("#enrol-name", "Barack Obama")
    page.fill("#enrol-consent", "signed 2026-11-02")
    page.set_input_files("#enrol-files", [str(fr / "examples/obama.jpg"), str(fr / "examples/obama2.jpg")])
    page.click("#enrol-form button[type=submit]")
    page.wait_for_selector("#subjects-table tr[data-name='Barack Obama']")
    assert "Enrolled 2 photos of Barack Obama" in page.text_content("#enrol-result")
    page.fill("#enrol-name", "Joe Biden")
    page.fill("#enrol-consent", "")
    page.set_input_files("#enrol-files", [str(fr / "examples/biden.jpg")])
    page.click("#enrol-form button[type=submit]")
    page.wait_for_selector("#subjects-table tr[data-name='Joe Biden']")

    _recognise(page, fr / "examples/two_people.jpg")
    names = sorted(page.locator("#boxes .box.known").evaluate_all("bs => bs.map(b => b.dataset.subject)"))
    assert names == ["Barack Obama", "Joe Biden"]
    label = page.locator("#boxes .box[data-subject='Barack Obama']").get_attribute("aria-label")
    assert "score 0." in label and "threshold 0." in label
    row = page.locator("#faces-table tbody tr.known").first.inner_text()
    assert "FPIR 0.001" in row
    shot(page, "recognise")


def test_same_person_check(page, fr):
    _tab(page, "Recognise")
    page.click("#verify-box summary")
    page.set_input_files("#verify-a", str(fr / "examples/obama.jpg"))
    page.set_input_files("#verify-b", str(fr / "examples/obama2.jpg"))
    page.click("#verify")
    _until(page, "document.querySelector('#verify-result').textContent.length > 0")
    assert page.text_content("#verify-result").startswith("Same person")
    page.evaluate("document.getElementById('verify-result').textContent = ''")
    page.set_input_files("#verify-b", str(fr / "examples/biden.jpg"))
    page.click("#verify")
    _until(page, "document.querySelector('#verify-result').textContent.length > 0")
    assert page.text_content("#verify-result").startswith("Different people")


def test_subjects_search_paging_examples_rename_consent_delete(page, console):
    s, admin, _, _ = console
    with httpx.Client(base_url=s.url, headers={"x-api-key": admin}) as c:
        for i in range(1, 13):
            assert c.post("/v1/subjects", json={"name": f"Visitor {i:02d}"}).status_code == 201
    _tab(page, "Subjects")
    page.fill("#subject-search", "visitor")
    page.select_option("#subject-page-size", "10")
    page.click("#subject-search-form button[type=submit]")
    _until(page, "document.querySelector('#subjects-page').textContent.includes('12 subjects')")
    assert page.locator("#subjects-table tbody tr").count() == 10
    assert "Page 1 of 2" in page.text_content("#subjects-page")
    page.click("#subjects-next")
    _until(page, "document.querySelector('#subjects-page').textContent.startsWith('Page 2 of 2')")
    assert page.locator("#subjects-table tbody tr").count() == 2

    page.fill("#subject-search", "OBAMA")
    page.click("#subject-search-form button[type=submit]")
    _until(page, "document.querySelectorAll('#subjects-table tbody tr').length === 1")
    row = page.locator("#subjects-table tr[data-name='Barack Obama']")
    assert row.locator("td.count").inner_text() == "2" and "signed 2026-11-02" in row.inner_text()

    # open the subject: two examples, each with its quality
    row.locator("button.open").click()
    page.wait_for_selector("#subject-detail[data-name='Barack Obama'] #examples-table tbody tr[data-id]")
    examples = page.locator("#examples-table tbody tr[data-id]")
    assert examples.count() == 2
    qualities = [float(q) for q in examples.locator("meter").evaluate_all("ms => ms.map(m => m.value)")]
    assert all(0 < q <= 1 for q in qualities)
    gone = examples.first.get_attribute("data-id")
    examples.first.locator("button.delete-example").click()
    _confirm(page)
    _until(page, f"!document.querySelector('#examples-table tr[data-id=\"{gone}\"]')")
    assert page.locator("#examples-table tbody tr[data-id]").count() == 1

    page.fill("#consent-text", "signed 2026-11-02; renewed 2026-12-01")
    page.click("#consent-form button[type=submit]")
    _until(page, "document.querySelector('#subjects-table tr[data-name=\"Barack Obama\"]')?.textContent.includes('renewed')")
    shot(page, "subjects")

    page.fill("#subject-search", "")
    page.click("#subject-search-form button[type=submit]")
    page.wait_for_selector("#subjects-table tr[data-name='Joe Biden']")
    page.click("#subjects-table tr[data-name='Joe Biden'] button.rename")
    _confirm(page, "Joseph Biden")
    page.wait_for_selector("#subjects-table tr[data-name='Joseph Biden']")
    page.click("#subjects-table tr[data-name='Visitor 01'] button.delete")
    _confirm(page)
    page.wait_for_selector("#subjects-table tr[data-name='Visitor 01']", state="detached")
    with httpx.Client(base_url=s.url, headers={"x-api-key": admin}) as c:
        assert c.get("/v1/subjects/Visitor 01").status_code == 404
        assert c.get("/v1/subjects/Joseph Biden").json()["templates"] == 1
        assert c.get("/v1/subjects/Barack Obama").json()["metadata"]["consent"].endswith("renewed 2026-12-01")


def test_audit_log_filters(page):
    _tab(page, "Audit log")
    page.wait_for_selector("#audit-table tbody tr[data-action]")
    page.select_option("#audit-action", "delete_example")
    page.click("#audit-form button[type=submit]")
    _until(page, "[...document.querySelectorAll('#audit-table tbody tr')].every(r => r.dataset.action === 'delete_example')")
    rows = page.locator("#audit-table tbody tr[data-action]")
    assert rows.count() == 1 and rows.first.get_attribute("data-subject") == "Barack Obama"

    page.select_option("#audit-action", "")
    page.fill("#audit-subject", "Joseph Biden")
    page.click("#audit-form button[type=submit]")
    _until(page, "[...document.querySelectorAll('#audit-table tbody tr')].every(r => r.dataset.subject === 'Joseph Biden')")
    assert page.locator("#audit-table tbody tr[data-action='rename']").count() == 1
    assert "old_name: Joe Biden" in page.locator("#audit-table tbody tr[data-action='rename']").inner_text()

    page.fill("#audit-subject", "")
    page.fill("#audit-until", "2020-01-01T00:00")
    page.click("#audit-form button[type=submit]")
    page.wait_for_selector("#audit-table tbody tr.empty")
    page.fill("#audit-until", "")
    page.fill("#audit-since", "2020-01-01T00:00")
    page.select_option("#audit-action", "identify")
    page.click("#audit-form button[type=submit]")
    _until(page, "document.querySelectorAll('#audit-table tbody tr[data-action=identify]').length >= 3")
    shot(page, "audit")


def test_keys_create_use_revoke(page, console):
    s, *_ = console
    _tab(page, "API keys")
    page.wait_for_selector("#keys-table tbody tr[data-id]")
    assert page.locator("#keys-table tbody tr[data-id]").count() == 2
    assert page.locator("#keys-table tbody tr:has(.tag) button.revoke").count() == 0   # not the key in use
    page.fill("#new-key-name", "front door")
    page.select_option("#new-key-role", "recognize")
    page.click("#key-create-form button[type=submit]")
    _until(page, "document.querySelector('#new-key-value').value.startsWith('fp_')")
    new = page.input_value("#new-key-value")
    assert httpx.get(s.url + "/v1/stats", headers={"x-api-key": new}).status_code == 200
    row = page.locator("#keys-table tbody tr", has_text="front door")
    row.wait_for()
    shot(page, "keys")
    row.locator("button.revoke").click()
    _confirm(page)
    page.wait_for_selector("#keys-table tbody tr.revoked")
    assert httpx.get(s.url + "/v1/stats", headers={"x-api-key": new}).status_code == 401


def test_gallery_stats(page):
    _tab(page, "Gallery")
    page.wait_for_selector("#stats[data-loaded]")
    stat = lambda k: page.text_content(f"#stats dd[data-stat='{k}']")   # noqa: E731
    assert stat("Subjects") == "13" and stat("Templates") == "2"
    assert stat("Model").startswith("sface") and stat("Index").startswith("Flat")
    assert stat("FPIR in force") == "0.001" and stat("Threshold at that FPIR").startswith("0.")
    shot(page, "gallery")


def test_recognize_key_sees_no_admin_controls(console, fr):
    s, _, reader, browser = console
    pg = _open(browser, s.url, reader)
    try:
        assert pg.locator("body[data-role='recognize']").count() == 1
        assert not pg.get_by_role("tab", name="Audit log").is_visible()
        assert not pg.get_by_role("tab", name="API keys").is_visible()
        _tab(pg, "Subjects")
        pg.wait_for_selector("#subjects-table tr[data-name='Barack Obama']")
        assert pg.locator("#subjects-table button.delete").count() == 0 and not pg.is_visible("#enrol-form")
        _recognise(pg, fr / "examples/obama-480p.jpg")
        assert pg.locator("#boxes .box.known[data-subject='Barack Obama']").count() == 1
        pg.goto(s.url + "/#audit")          # a hand-typed admin view falls back to Recognise
        _until(pg, "document.body.dataset.view === 'recognise'")
        shot(pg, "recognize-key")
    finally:
        pg.close()


def test_keyboard_and_labels(page):
    """Tabs move with the arrow keys (roving focus); every form control has a label."""
    _tab(page, "Recognise")
    page.focus("#tab-recognise")
    page.keyboard.press("ArrowRight")
    assert page.evaluate("document.activeElement.id") == "tab-subjects"
    assert page.get_attribute("#tab-subjects", "aria-selected") == "true" and page.is_visible("#view-subjects")
    page.keyboard.press("End")
    assert page.evaluate("document.activeElement.id") == "tab-stats"
    page.keyboard.press("ArrowRight")
    assert page.evaluate("document.activeElement.id") == "tab-recognise"
    unlabelled = page.evaluate("""[...document.querySelectorAll('input, select, textarea')]
        .filter(e => !e.labels.length && !e.getAttribute('aria-label')).map(e => e.id)""")
    assert unlabelled == []


def test_enrol_refusal_says_why_and_force_enrols(page, engine, fr, tmp_path):
    import cv2

    from faceprint.evaluate.masks import draw_mask
    img = cv2.imread(str(fr / "examples/obama-480p.jpg"))
    masked = tmp_path / "masked.jpg"
    cv2.imwrite(str(masked), draw_mask(img, engine.detect(img)[0]))
    _tab(page, "Subjects")
    page.fill("#enrol-name", "Masked Visitor")
    page.set_input_files("#enrol-files", str(masked))
    page.click("#enrol-form button[type=submit]")
    _until(page, "document.querySelector('#enrol-result').textContent.includes('mask')")
    assert "no photo could be enrolled" in page.text_content("#enrol-result")
    page.fill("#enrol-name", "Masked Visitor")
    page.set_input_files("#enrol-files", str(masked))
    page.check("#enrol-force")
    page.click("#enrol-form button[type=submit]")
    _until(page, "document.querySelector('#enrol-result').textContent.startsWith('Enrolled 1 photo')")
    page.wait_for_selector("#subjects-table tr[data-name='Masked Visitor']")
