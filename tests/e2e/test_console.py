"""The DPO console in a real browser (Debian's chromium driven by Selenium and chromedriver),
against the real services started by ``lethe up`` (which also starts the console).

The deployment runs with a policy whose GDPR deadline is zero months (extension: two months), so
an erasure left open (the vault is stopped) is overdue at once. Screenshots of each page go to
``tests/e2e/screenshots/`` (or ``LETHE_SCREENSHOT_DIR``).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from faker import Faker

from tests.conftest import REPO, Deployment

pytestmark = pytest.mark.e2e
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
SHOTS = Path(os.environ.get("LETHE_SCREENSHOT_DIR", REPO / "tests" / "e2e" / "screenshots"))
ACCOUNT = "acct-console-subject"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1366,900"]


UNLABELLED = """return [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
    .filter(e => !e.id || !document.querySelector('label[for="' + e.id + '"]')).length"""


def _interactions(fake: Faker) -> tuple[list[dict[str, Any]], list[str]]:
    """Interactions of the subject (with Faker personal data) and of a few others; the subject's data."""
    name, email, phone = fake.name(), fake.email(), fake.phone_number()
    street = fake.street_address()
    now = dt.datetime.now(dt.timezone.utc)
    lines = [{"account_id": ACCOUNT, "session_hint": "s1", "client_ip": fake.ipv4_public(),
              "user_agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0", "region": "EU",
              "timestamp": (now - dt.timedelta(hours=2)).isoformat(), "kind": "interaction",
              "prompt": f"My name is {name}, write to {email} or call {phone}.",
              "response": f"Noted, I will not share {street}."},
             {"account_id": ACCOUNT, "session_hint": "s1", "region": "EU",
              "timestamp": (now - dt.timedelta(hours=1)).isoformat(), "kind": "support_ticket",
              "prompt": "My invoice is wrong.", "contact": f"{name} <{email}>"}]
    for i in range(6):
        lines.append({"account_id": f"acct-other-{i}", "session_hint": "s", "region": "US",
                      "timestamp": (now - dt.timedelta(minutes=30 + i)).isoformat(),
                      "kind": "interaction", "prompt": fake.sentence(), "response": fake.sentence()})
    return lines, [name, email, phone, street]


@pytest.fixture(scope="module")
def console_deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Deployment, list[str]]]:
    """A deployment (GDPR deadline 0 months) with the subject's and others' data ingested."""
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.skip("Debian's chromium and chromium-driver are not installed (.ci/run installs them)")
    root = tmp_path_factory.mktemp("console")
    policy = (REPO / "shared" / "policy.toml").read_text()
    policy = re.sub(r"(\[requests\.gdpr\][^\n]*\n)months = 1", r"\1months = 0", policy)
    assert "months = 0" in policy
    (root / "policy.toml").write_text(policy)
    dep = Deployment(root / "var", root / "keys", "sqlite", {"LETHE_POLICY_FILE": str(root / "policy.toml")})
    dep.lethe("up")
    try:
        lines, pii = _interactions(Faker(["en_US"]))
        (root / "in.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
        dep.lethe("ingest", str(root / "in.jsonl"))
        yield dep, pii
    finally:
        dep.lethe("down", check=False)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Headless chromium with a new, empty profile."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in [*FLAGS, f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(120)
    SHOTS.mkdir(parents=True, exist_ok=True)
    print(f"\nconsole screenshots in {SHOTS}")
    yield driver
    driver.quit()


def _url(dep: Deployment) -> str:
    return next(r for r in dep.lethe_json("status", "--json") if r["service"] == "console")["url"]


def _shot(driver: Any, name: str) -> None:
    driver.save_screenshot(str(SHOTS / f"{name}.png"))


def _submit(driver: Any, form_action: str, fields: dict[str, str]) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    form = driver.find_element(By.CSS_SELECTOR, f"form[action='{form_action}']")
    for name, value in fields.items():
        element = form.find_element(By.NAME, name)
        if element.tag_name == "select":
            Select(element).select_by_value(value)
        else:
            element.clear()
            element.send_keys(value)
    _navigates(driver, form.find_element(By.CSS_SELECTOR, "button[type=submit]").click)


def _navigates(driver: Any, action: Any, *args: Any) -> None:
    """Run ``action`` (a click, Enter in a field) and wait until the browser shows the next page
    (a form's POST may take a while on a loaded machine: the old page must not be read)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    old = driver.find_element(By.TAG_NAME, "html")
    action(*args)
    WebDriverWait(driver, 300).until(expected_conditions.staleness_of(old))


def _client(driver: Any, base: str) -> httpx.Client:
    """An HTTP client holding the browser's session cookie (for downloads and forged POSTs)."""
    cookies = {c["name"]: c["value"] for c in driver.get_cookies()}
    return httpx.Client(base_url=base, cookies=cookies, timeout=120)


def test_the_console_serves_the_dpo_in_a_real_browser(console_deployment: tuple[Deployment, list[str]],
                                                     browser: Any) -> None:
    """Login, holds, subject and reveal, Art. 30, verification, an overdue request extended, a
    request denied citing an exemption and one completed."""
    from selenium.webdriver.common.by import By

    dep, pii = console_deployment
    driver = browser
    url = _url(dep)
    base = url.split("/login")[0]
    pages: dict[str, str] = {}

    # No session: every page sends the browser to the login page.
    driver.get(base + "/requests")
    assert driver.current_url.endswith("/login")
    _shot(driver, "login")
    driver.get(url)  # the one-time link
    assert driver.current_url.endswith("/requests")
    cookie = driver.get_cookie("lethe_console")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    driver.get(url)  # used once: refused
    assert "already used" in driver.page_source
    driver.get(base + "/requests")
    assert driver.current_url.endswith("/requests")

    # Without (or with a wrong) CSRF token a POST is refused and nothing happens.
    client = _client(driver, base)
    for form in ({"scope": "category", "target": "system.operations", "reason": "litigation"},
                 {"scope": "category", "target": "system.operations", "reason": "litigation", "csrf": "x"}):
        assert client.post("/holds/place", data=form).status_code == 403
    assert httpx.get(base + "/requests", follow_redirects=False).status_code == 303
    assert httpx.get(base + "/login", headers={"Host": "rebound.example"}).status_code == 400

    # Legal holds: place one with a reason, scope and reference, then release it.
    driver.get(base + "/holds")
    assert "litigation" not in driver.find_element(By.TAG_NAME, "tbody").text
    _submit(driver, "/holds/place", {"reason": "security_investigation", "scope": "category",
                                     "target": "system.operations", "reference": "CASE-2026-17"})
    assert "placed" in driver.find_element(By.CLASS_NAME, "flash").text
    assert "CASE-2026-17" in driver.page_source
    pages["holds"] = driver.page_source
    _shot(driver, "holds")
    _navigates(driver, driver.find_element(By.CSS_SELECTOR, "form[action$='/release'] button").click)
    assert "released" in driver.find_element(By.CLASS_NAME, "flash").text

    # A refused disclosure (analytics recipients get aggregates only) is listed with its reason.
    assert dep.lethe("disclose", "--recipient", "analytics-eu", "--purpose", "analytics",
                     "--account", "acct-other-5", check=False).returncode == 1

    # Every page before the reveal: no personal data of the subject; every field has its label.
    for path, name in (("/retention", "retention"), ("/recipients", "recipients"),
                       ("/audit", "audit"), ("/records", "records"), ("/requests", "requests-before")):
        driver.get(base + path)
        assert driver.find_element(By.TAG_NAME, "h1").text
        assert not driver.execute_script(UNLABELLED), f"a field without a label on {path}"
        pages[name] = driver.page_source
        _shot(driver, name)
    driver.get(base + "/subject")
    _submit(driver, "/subject/find", {"account_id": ACCOUNT})
    assert driver.current_url.endswith("/subject")  # the account id is in no URL
    assert "RecordStored" in driver.page_source
    pages["subject"] = driver.page_source
    _shot(driver, "subject")
    for name, source in pages.items():
        for value in pii:
            assert value not in source, f"personal data on the {name} page before a reveal"
    assert ACCOUNT not in driver.title
    assert "DisclosureRefused" in pages["recipients"]

    # Reveal: asks a reason, shows the data, and is itself in the audit log.
    _submit(driver, "/subject/reveal", {"reason": "DPO review for ticket T-881"})
    revealed = driver.find_element(By.CLASS_NAME, "revealed").text
    assert pii[0] in revealed and pii[1] in revealed
    _shot(driver, "subject-revealed")
    driver.get(base + "/subject")
    assert "SubjectDataRevealed" in driver.page_source
    assert "DPO review for ticket T-881" in driver.page_source
    assert pii[0] not in driver.page_source  # shown once, not kept on the page

    # Art. 30 record: page, JSON and CSV downloads.
    driver.get(base + "/records")
    href = driver.find_element(By.LINK_TEXT, "JSON").get_attribute("href")
    record = _client(driver, base).get(href).json()
    assert record["format"] == "lethe.records-of-processing/v1"
    assert {a["rule"] for a in record["activities"]} >= {"content", "technical_metadata"}
    assert record["recipients"] and record["security_measures"]
    assert "activity,content" in _client(driver, base).get("/records.csv").text

    # Audit: verify now.
    driver.get(base + "/audit")
    _navigates(driver, driver.find_element(By.CSS_SELECTOR, "form[action='/audit/verify'] button").click)
    assert "intact" in driver.find_element(By.ID, "verification-result").text
    _shot(driver, "audit-verified")

    # An overdue request: an erasure left open (vault stopped) under a 0-month GDPR deadline; a
    # CCPA one (45 days) stays on time and comes after it; closed ones follow.
    dep.lethe("rights", "object", "acct-other-1", "--purpose", "model-training")
    dep.lethe("rights", "access", "acct-other-2", "--out", str(dep.data_dir.parent / "export.json"))
    record_json = json.loads((dep.data_dir / "deployment.json").read_text())
    os.kill(record_json["services"]["vault"]["pid"], signal.SIGTERM)
    time.sleep(2)
    on_time = _submit_erasure(dep, "acct-other-4", "ccpa")
    request_id = _submit_erasure(dep, "acct-other-3", "gdpr")
    driver.get(base + "/requests?all=1")
    rows = driver.find_elements(By.CSS_SELECTOR, "tbody tr")
    assert request_id in rows[0].text and "OVERDUE" in rows[0].text
    later = next(r for r in rows if on_time in r.text)
    assert "OVERDUE" not in later.text and len(rows) == 4  # overdue first, then by deadline
    _shot(driver, "requests")
    (REPO / "docs").mkdir(exist_ok=True)
    shutil.copy(SHOTS / "requests.png", REPO / "docs" / "console-requests.png")
    _navigates(driver, driver.find_element(By.LINK_TEXT, request_id).click)
    assert "RequestReceived" in driver.page_source  # the evidence table, from the signed log
    evidence = _client(driver, base).get(f"/requests/{request_id}/evidence.json")
    assert evidence.status_code == 200 and evidence.json()["events"]
    _check_offline(evidence.content, dep)
    _submit(driver, f"/requests/{request_id}/extend", {"reason": "complexity and number of requests"})
    assert "Extended" in driver.find_element(By.CLASS_NAME, "flash").text
    assert "OVERDUE" not in driver.page_source and "extended" in driver.page_source
    _shot(driver, "request-extended")
    csrf = driver.find_element(By.CSS_SELECTOR, "input[name=csrf]").get_attribute("value")
    again = _client(driver, base).post(f"/requests/{request_id}/extend",
                                       data={"csrf": csrf, "reason": "once more"})
    assert again.status_code == 409  # once, as the law allows (the rights service refuses)
    driver.refresh()
    assert "complexity and number of requests" in driver.page_source and "once more" not in driver.page_source

    # Deny the CCPA erasure (it waits: the vault is down, so no shred was ordered) citing an
    # exemption of its law; a reason with personal data is refused first, and shown nowhere.
    from selenium.webdriver.common.keys import Keys

    driver.get(f"{base}/requests/{on_time}")
    assert not driver.execute_script(UNLABELLED)
    offered = [o.get_attribute("value") for o in driver.find_elements(
        By.CSS_SELECTOR, "#deny-exemption option")]
    assert "ccpa-105-d-8-legal-obligation" in offered and not [o for o in offered if o.startswith("gdpr")]
    _submit(driver, f"/requests/{on_time}/deny", {"exemption": "ccpa-105-d-8-legal-obligation",
                                                  "reason": f"asked by {pii[0]}"})
    assert "Refused (INVALID_ARGUMENT)" in driver.find_element(By.CLASS_NAME, "flash").text
    assert pii[0] not in driver.page_source and "in_progress" in driver.page_source
    _submit(driver, f"/requests/{on_time}/deny", {"exemption": "ccpa-105-d-8-legal-obligation",
                                                  "reason": "records kept under a statutory duty"})
    assert "Denied" in driver.find_element(By.CLASS_NAME, "flash").text
    assert "ccpa-105-d-8-legal-obligation" in driver.page_source and "1798.105(d)(8)" in driver.page_source
    assert not driver.find_elements(By.CSS_SELECTOR, f"form[action='/requests/{on_time}/deny']")
    _shot(driver, "request-denied")

    # Complete an access request answered out of band, with the keyboard only (Enter submits).
    access = _submit_request(dep, "acct-other-5", "gdpr", "ACCESS")
    driver.get(f"{base}/requests/{access}")
    field = driver.find_element(By.ID, "complete-reason")
    _navigates(driver, field.send_keys, "export sent by registered post, ticket T-12", Keys.ENTER)
    assert "Completed" in driver.find_element(By.CLASS_NAME, "flash").text
    assert "fulfilled" in driver.page_source and "registered post" in driver.page_source
    _shot(driver, "request-completed")
    driver.get(base + "/requests")
    queue = driver.find_element(By.TAG_NAME, "tbody").text
    assert request_id in queue and on_time not in queue and access not in queue

    log = (dep.data_dir / "logs" / "console.log").read_text()
    assert ACCOUNT not in log and not any(v in log for v in pii)


def _submit_erasure(dep: Deployment, account: str, law: str) -> str:
    """Submit an erasure as the operator (the CLI's way would wait for it to end)."""
    return _submit_request(dep, account, law, "ERASURE")


def _submit_request(dep: Deployment, account: str, law: str, kind: str) -> str:
    """Submit a request as the operator; with the vault down an access request stays open."""
    code = ("import sys, uuid, grpc; from cli import deployment; "
            "from shared.gen.lethe.v1 import rights_pb2, rights_pb2_grpc; "
            "_, _, p = deployment.connect(None, None); "
            "s = rights_pb2_grpc.RightsServiceStub(p.channel('rights')); rid = str(uuid.uuid4()); "
            "print(rid)\n"
            "try: s.SubmitRequest(rights_pb2.SubmitRequestRequest(request_id=rid, "
            "kind=rights_pb2.RequestKind.Value('REQUEST_KIND_' + sys.argv[3]), account_id=sys.argv[1], "
            "law=sys.argv[2]), timeout=30)\n"
            "except grpc.RpcError as e: assert e.code() == grpc.StatusCode.UNAVAILABLE, e.code()")
    env = {**os.environ, "LETHE_DATA_DIR": str(dep.data_dir), "LETHE_KEY_DIR": str(dep.key_dir), **dep.env}
    out = subprocess.run([sys.executable, "-c", code, account, law, kind], capture_output=True, env=env,
                         cwd=REPO, timeout=120, check=True)
    return out.stdout.decode().strip()


def _check_offline(document: bytes, dep: Deployment) -> None:
    """The downloaded evidence checks offline against the published keys."""
    path = dep.data_dir.parent / f"evidence-{uuid.uuid4().hex}.json"
    path.write_bytes(document)
    keys = dep.data_dir.parent / "keys.json"
    keys.write_text(dep.lethe("audit", "keys", "--json").stdout.decode())
    proc = subprocess.run([sys.executable, "-m", "shared.proofcheck", str(path), "--keys", str(keys)],
                          capture_output=True, cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stdout.decode() + proc.stderr.decode()


def test_lethe_console_serves_on_its_own_with_a_login_link(console_deployment: tuple[Deployment, list[str]],
                                                           tmp_path: Path) -> None:
    """``lethe console --listen`` finds the deployment like every command and prints its link."""
    import socket

    dep, _ = console_deployment
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "LETHE_DATA_DIR": str(dep.data_dir), "LETHE_KEY_DIR": str(dep.key_dir), **dep.env}
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", "console", "--listen", f"127.0.0.1:{port}"],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env, cwd=REPO)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline().decode()
        link = re.search(r"http://\S+", line)
        assert link, line
        for _ in range(100):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        with httpx.Client(follow_redirects=True) as client:
            page = client.get(link.group(0))
            assert page.status_code == 200 and page.url.path == "/requests"
            assert client.get(link.group(0)).status_code == 403  # once
        assert proc.poll() is None
    finally:
        proc.terminate()
        proc.wait(timeout=30)
