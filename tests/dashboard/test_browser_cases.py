"""One case from the alarm to 销号 in a real browser (Debian chromium via Playwright), across the
three internal roles, and the decision on the public page afterwards.

Set ``ENVTRUST_SCREENSHOTS=docs/screenshots`` to write ``cases.png`` (the case page after closure).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from tests.dashboard.test_browser_internal import ARGS, CHROMIUM
from tests.envtrust.cases_fixture import build_store

pytestmark = [pytest.mark.browser, pytest.mark.slow]

USERS = {"analyst": ("ana", "ana-password-1"), "enforcement": ("enf", "enf-password-1"),
         "leader": ("lead", "lead-password-1")}


@pytest.fixture(scope="module")
def base_url(tmp_path_factory):
    from werkzeug.serving import make_server

    from dashboard.server import close_server, create_server
    from envtrust.alarms import raise_alarms
    from envtrust.settings import load_settings

    db = tmp_path_factory.mktemp("browser_cases") / "store.duckdb"
    con = build_store(db)
    raise_alarms(con)
    con.close()
    app = create_server(load_settings(db_path=db, secret_key="c" * 64))
    http = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{http.server_port}"
    http.shutdown()
    thread.join(timeout=10)
    close_server(app)


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


def login(browser, base_url, role):
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    page = context.new_page()
    page.goto(f"{base_url}/login")
    page.fill("#username", USERS[role][0])
    page.fill("#password", USERS[role][1])
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}/app/**")
    return context, page


def act(page, expected_state: str, fields: dict[str, str] | None = None) -> None:
    """Submit the default (next main-line) action with ``fields``; wait for the new state."""
    page.wait_for_selector("#case-submit", timeout=30_000)
    for name, value in (fields or {}).items():
        page.fill(f'[id*="\\"name\\":\\"{name}\\""]', value)
    steps = page.locator("#case-history tbody tr").count()
    page.click("#case-submit")
    page.wait_for_function(f"""() => {{ const s = document.querySelector('#case-state');
        const n = document.querySelectorAll('#case-history tbody tr').length;
        return s && s.innerText.includes('{expected_state}') && n === {steps + 1}; }}""", timeout=30_000)


def test_alarm_to_closure_and_public_decision(browser, base_url):
    # analyst: the inbox shows the interference alarm waiting for the determination; one click opens a
    # case; transferring the clue pushes it to enforcement
    ctx, page = login(browser, base_url, "analyst")
    page.goto(f"{base_url}/app/inbox")
    row = page.locator('#inbox-review tr[data-rule="suspected_interference"]')
    row.wait_for(timeout=30_000)
    assert "贴近排放限值" in row.inner_text() and "held just below" not in row.inner_text()
    row.locator("button").click()
    page.locator("#inbox-new-case").click()
    page.wait_for_url(f"{base_url}/app/case/**")
    case_url = page.url
    assert "发现" in page.locator("#case-state").inner_text()
    act(page, "线索移交")
    assert page.locator("#case-evidence-html").count() == 1
    ctx.close()

    # enforcement: accept, decide the penalty, disclose, ask for closure
    ctx, page = login(browser, base_url, "enforcement")
    page.goto(case_url)
    act(page, "调查")
    act(page, "处罚", {"finding": "篡改二氧化硫在线监测数据", "penalty": "罚款人民币二十万元",
                       "legal_basis": "《大气污染防治法》第一百条"})
    act(page, "公开")
    act(page, "公开", {"rectification": "现场核查已整改"})
    assert "申请销号" in page.locator("#case-history").inner_text()
    ctx.close()

    # leader: approves closure
    ctx, page = login(browser, base_url, "leader")
    page.goto(case_url)
    act(page, "销号")
    history = page.locator("#case-history").inner_text()
    for role in ("analyst", "enforcement", "leader"):
        assert role in history
    folder = os.environ.get("ENVTRUST_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.wait_for_timeout(1000)
        page.screenshot(path=str(Path(folder) / "cases.png"), full_page=True)
    page.goto(f"{base_url}/app/cases")
    page.wait_for_selector("#cases-funnel", timeout=30_000)
    assert page.locator('#cases-funnel [data-state="closed"] .funnel-count').inner_text() == "1"
    ctx.close()

    # the public: the decision is on the embeddable list, with nothing of the case file
    public = browser.new_context()
    page = public.new_page()
    page.goto(f"{base_url}/embed/decisions")
    text = page.locator("#decisions").inner_text()
    assert "示例电厂" in text and "罚款人民币二十万元" in text and "《大气污染防治法》第一百条" in text
    assert "现场核查" not in page.content() and "enf" not in text
    public.close()
