"""The dashboard in a real browser: Debian's chromium, headless, driven by Selenium through /usr/bin/chromedriver.

Signs in through the dev issuer's login page, opens every page, checks each with axe-core (zero violations
of the WCAG 2.1 A/AA and best-practice rules: contrast, labels, headings, landmarks), checks that at 360 px
wide the page does not scroll sideways, and writes a screenshot of each page (desktop and 360 px) to
``test-artifacts/dashboard/``. Refusals: a form whose CSRF token was altered and a cross-site form are both
refused with ``csrf-token-invalid``; another project's page is the ``unknown-project`` 404 page.

Missing chromium, chromedriver, selenium or axe-core skips these tests with the reason (fails under CI=true).
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require
from tests.integration.accesskit import ADMIN
from tests.integration.dashboardkit import OTHER, PROJECT, VIEWER, Site, dashboard_site

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
ARTIFACTS = ROOT / "test-artifacts" / "dashboard"
CHROMIUM = os.environ.get("ASSAY_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("ASSAY_TEST_CHROMEDRIVER", "/usr/bin/chromedriver")
AXE = HERE / "node_modules" / "axe-core" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]


def _axe_source() -> str:
    if not AXE.exists() and shutil.which("npm"):
        subprocess.run(["npm", "install", "--no-save", "--no-package-lock", "--prefix", str(HERE), "axe-core"],
                       capture_output=True, timeout=300, check=False)  # fmt: skip
    require(AXE.exists(), f"axe-core ({AXE}; npm install --prefix tests/browser axe-core)")
    return AXE.read_text()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    s = dashboard_site(tmp_path_factory.mktemp("browser"), None)
    try:
        yield s
    finally:
        s.srv.stop()


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    require(Path(CHROMIUM).exists(), f"chromium ({CHROMIUM}; apt-get install chromium)")
    require(Path(CHROMEDRIVER).exists(), f"chromedriver ({CHROMEDRIVER}; apt-get install chromium-driver)")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        require(False, "selenium (pip install selenium)")
        raise
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1280,900", "--lang=en-US"):  # fmt: skip
        options.add_argument(flag)
    d = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    d.set_page_load_timeout(60)
    d.set_script_timeout(60)
    try:
        yield d
    finally:
        d.quit()


@pytest.fixture(scope="module")
def axe() -> str:
    return _axe_source()


def _shot(d: Any, name: str) -> Path:
    """A full-page PNG of what the browser shows, under test-artifacts/dashboard/."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    shot = d.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
    path.write_bytes(base64.b64decode(shot["data"]))
    return path


def _by(kind: str) -> Any:
    from selenium.webdriver.common.by import By

    return getattr(By, kind)


def _until(d: Any, fragment: str) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        WebDriverWait(d, 20).until(lambda drv: fragment in drv.current_url)
    except Exception:
        logs = d.get_log("browser") if hasattr(d, "get_log") else []
        raise AssertionError(f"never reached {fragment}: at {d.current_url}; {logs}") from None


def _reason(d: Any) -> str:
    """The reason code on a refusal page (waiting for the page the last click led to)."""
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    found = WebDriverWait(d, 20).until(
        expected_conditions.presence_of_element_located((_by("CSS_SELECTOR"), "code.reason"))
    )
    return str(found.text)


def _login(d: Any, site: Site, email: str = ADMIN) -> None:
    d.get(site.url + "/ui/projects")
    assert "/ui/login" in d.current_url, d.current_url
    if email == ADMIN:
        _shot(d, "00-login")
    d.find_element(_by("CSS_SELECTOR"), "main form button[type=submit]").click()
    _until(d, "/dev/oidc/authorize")  # the dev issuer's own login page
    field = d.find_element(_by("NAME"), "email")
    assert field.get_attribute("value") == ADMIN
    if email == ADMIN:
        _shot(d, "01-dev-issuer-login")
    else:
        field.clear()
        field.send_keys(email)
    d.find_element(_by("CSS_SELECTOR"), "button[type=submit]").click()
    _until(d, "/ui/projects")
    assert d.current_url == site.url + "/ui/projects", d.current_url


@pytest.fixture(scope="module")
def signed_in(driver: Any, site: Site) -> Any:
    _login(driver, site)
    return driver


def _violations(d: Any, axe: str) -> list[str]:
    d.execute_script(axe)
    found = d.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {runOnly: {type: 'tag', values: arguments[0]}, resultTypes: ['violations']})"
        ".then(r => done(r.violations.map(v => v.id + ': ' + v.help + ' — ' +"
        " v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(' | '))))"
        ".catch(e => done(['axe failed: ' + e]));",
        AXE_TAGS,
    )
    return list(found)


def _fits(d: Any) -> tuple[int, int]:
    """(scroll width, viewport width) of the page at 360 px."""
    d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                      {"width": 360, "height": 780, "deviceScaleFactor": 1, "mobile": True})  # fmt: skip
    d.refresh()
    sizes = d.execute_script(
        "return [document.documentElement.scrollWidth, document.documentElement.clientWidth, document.body.scrollWidth]"
    )
    return max(int(sizes[0]), int(sizes[2])), int(sizes[1])


def _desktop(d: Any) -> None:
    d.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    d.set_window_size(1280, 900)


PAGES = [
    ("02-projects", "/ui/projects", "Projects"),
    ("03-project", f"/ui/projects/{PROJECT}", f"Project {PROJECT}"),
    ("04-evidence", f"/ui/projects/{PROJECT}/evidence/{{bundle}}", "Evidence item"),
    ("05-graph", f"/ui/projects/{PROJECT}/graph?subject={{artifact}}", "Evidence graph"),
    ("06-log", "/ui/log", "Transparency log"),
    ("07-log-entry", "/ui/log/entries/0", "Log entry 0"),
    ("08-audit", "/ui/audit", "Audit log"),
    ("09-project-audit", f"/ui/projects/{PROJECT}/audit", f"Audit log of {PROJECT}"),
    ("10-profiles", f"/ui/projects/{PROJECT}/profiles", f"Profiles of {PROJECT}"),
    ("11-entities", f"/ui/projects/{PROJECT}/entities", f"Entities of {PROJECT}"),
    ("12-history", f"/ui/projects/{PROJECT}/history", f"History of {PROJECT}"),
    ("13-missing-project-404", "/ui/projects/no-such-project", "Not found"),
    ("16-new-profile", f"/ui/projects/{PROJECT}/profiles/new", "New profile"),
    (
        "17-apply-artifact-security",
        f"/ui/projects/{PROJECT}/profiles/new/artifact-security",
        "Apply the Artifact Security profile",
    ),
    ("18-register-entity", f"/ui/projects/{PROJECT}/entities/new", "Register an entity"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("name", "path", "heading"), PAGES, ids=[p[0] for p in PAGES])
def test_page_is_accessible_and_fits_360px(
    signed_in: Any, site: Site, axe: str, name: str, path: str, heading: str
) -> None:
    d = signed_in
    _desktop(d)
    d.get(site.url + path.replace("{bundle}", site.bundle_digest).replace("{artifact}", site.artifact_digest))
    assert d.find_element(_by("TAG_NAME"), "h1").text == heading
    _shot(d, name)
    violations = _violations(d, axe)
    assert violations == [], "\n".join(violations)
    scroll, viewport = _fits(d)
    _shot(d, name + "-360px")
    assert viewport == 360 and scroll <= viewport, f"{path}: {scroll}px wide content in a {viewport}px viewport"
    narrow = _violations(d, axe)  # the narrow layout passes the same rules (contrast, reflow, headings)
    _desktop(d)
    assert narrow == [], "\n".join(narrow)


def test_log_entry_shows_its_proof_verified(signed_in: Any, site: Site) -> None:
    d = signed_in
    _desktop(d)
    d.get(site.url + "/ui/log")
    d.find_element(_by("LINK_TEXT"), "1").click()
    status = d.find_element(_by("ID"), "proof-status")
    assert "Inclusion proof: ✔ verified" in status.text, status.text
    badge = status.find_element(_by("CSS_SELECTOR"), ".status-ok")
    assert badge.value_of_css_property("color") != badge.value_of_css_property("background-color")
    chart = site.url + "/ui/log"
    d.get(chart)
    assert d.find_element(_by("CSS_SELECTOR"), "figure.chart svg polyline").is_displayed()


def test_graph_links_to_the_evidence(signed_in: Any, site: Site) -> None:
    d = signed_in
    _desktop(d)
    d.get(f"{site.url}/ui/projects/{PROJECT}")
    d.find_element(_by("PARTIAL_LINK_TEXT"), "graph").click()
    assert d.find_element(_by("CSS_SELECTOR"), ".graph-scroll svg").is_displayed()
    d.find_element(_by("CSS_SELECTOR"), f"a[href='/ui/projects/{PROJECT}/evidence/{site.bundle_digest}']").click()
    assert d.find_element(_by("TAG_NAME"), "h1").text == "Evidence item"
    assert "✔ verified" in d.find_element(_by("CSS_SELECTOR"), ".verdict").text


def test_csrf_refusals_in_the_browser(signed_in: Any, site: Site) -> None:
    d = signed_in
    _desktop(d)
    # a form whose token was tampered with
    d.get(site.url + "/ui/projects")
    d.execute_script("document.querySelector('form.who input[name=csrf]').value = 'f'.repeat(64)")
    d.find_element(_by("CSS_SELECTOR"), "form.who button").click()
    assert _reason(d) == "csrf-token-invalid"
    _shot(d, "14-csrf-refused")
    # a cross-site page posting to the dashboard: SameSite=Lax keeps the cookies home, and it has no token
    d.get(f"data:text/html,<html lang=en><title>x</title><form method=post action='{site.url}/ui/logout'>"
          "<button id=go>go</button></form></html>")  # fmt: skip
    d.find_element(_by("ID"), "go").click()
    assert _reason(d) == "csrf-token-invalid"
    d.get(site.url + "/ui/projects")
    assert d.current_url == site.url + "/ui/projects"  # still signed in: neither request did anything


def test_another_projects_page_is_404(signed_in: Any, site: Site) -> None:
    """Signed in as the viewer of acme: project secret is the same 404 page as a project that does not exist."""
    d = signed_in
    _desktop(d)
    d.get(site.url + "/ui/projects")
    d.find_element(_by("CSS_SELECTOR"), "form.who button").click()
    _until(d, "/ui/login")
    _login(d, site, VIEWER)
    assert OTHER not in d.find_element(_by("TAG_NAME"), "main").text  # not listed
    d.get(f"{site.url}/ui/projects/{OTHER}")
    hidden = (d.find_element(_by("TAG_NAME"), "h1").text, _reason(d))
    _shot(d, "15-other-project-404")
    d.get(f"{site.url}/ui/projects/no-such-project")
    missing = (d.find_element(_by("TAG_NAME"), "h1").text, _reason(d))
    assert hidden == missing == ("Not found", "unknown-project")
    d.get(f"{site.url}/ui/projects/{PROJECT}")
    assert d.find_element(_by("TAG_NAME"), "h1").text == f"Project {PROJECT}"


def test_the_width_check_sees_overflow(signed_in: Any, site: Site) -> None:
    """The 360 px check is not vacuous: a page with one over-wide element fails it."""
    d = signed_in
    d.get(site.url + "/ui/login")
    scroll, viewport = _fits(d)
    assert scroll <= viewport == 360
    d.execute_script("const x = document.createElement('div'); x.style.width = '900px'; x.textContent = 'wide';"
                     "document.querySelector('main').appendChild(x);")  # fmt: skip
    sizes = d.execute_script("return [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    _desktop(d)
    assert int(sizes[0]) > int(sizes[1]) == 360


def test_sign_out(signed_in: Any, site: Site) -> None:
    d = signed_in
    _desktop(d)
    d.get(site.url + "/ui/projects")
    d.find_element(_by("CSS_SELECTOR"), "form.who button").click()
    _until(d, "/ui/login")
    d.get(site.url + "/ui/projects")
    assert "/ui/login" in d.current_url  # the session is gone
    cookies = {c["name"]: c for c in d.get_cookies()}
    assert "assay_ui_session" not in cookies
