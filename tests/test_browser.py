"""Step 4 in a real browser: headless Chromium, driven by Selenium, against `flask run`.

HttpOnly, SameSite and Path mean nothing to curl: only a browser obeys them. These tests use the
page step 4 serves at GET / the way a learner does (register, log in, read the to-dos, log out),
look at what the browser stored and what the page's script can see, and let a page on another
site try to use the session.

They need Debian's Chromium and its driver (apt-get install chromium chromium-driver); nothing
is downloaded while testing. Without them the tests skip; under CI=true they fail.
SCREENSHOT=path.png also saves the logged-in page there (`make screenshot`, for the README).
"""

import base64
import itertools
import json
import os
import shutil
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from databases import missing_server
from server import flask_run, free_port, request
from steps import APP_ENVIRONMENT, STEPS, STEPS_ROOT

pytestmark = [pytest.mark.steps(4), pytest.mark.server]

STEP4 = STEPS_ROOT / STEPS[4]
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
INSTALL = "apt-get install chromium chromium-driver"
# The machine may have no network: nothing in the background, nothing fetched on start.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=900,760",
    "--hide-scrollbars",
]
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
PASSWORD = "correct horse battery"
WAIT, POLL = 10, 0.05  # seconds for the page to show an answer; how often to look
STARTUP = 60  # seconds for `flask run` to answer: Chromium starts at the same time, on 2 cores


@pytest.fixture(scope="session")
def browser(tmp_path_factory):
    """One headless Chromium for the test session (per xdist worker), with a fresh profile."""
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        missing_server("Chromium or its driver", INSTALL)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    # The network log shows the headers each request really carried (see the cross-site test).
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_script_timeout(WAIT)
    yield driver
    driver.quit()


@pytest.fixture
def driver(browser):
    """The browser with no cookies, so that no test starts logged in. The last test's page
    goes first: a request of its still in flight (say GET /session/todos) would bring the
    cookie back when its answer arrives, since each answer renews the session's cookie."""
    browser.get("about:blank")
    browser.execute_cdp_cmd("Network.clearBrowserCookies", {})
    yield browser


@pytest.fixture(scope="module", params=["cookie", "sqlalchemy"])
def app_url(request, keys, tmp_path_factory):
    """Step 4 under `flask run` on http://127.0.0.1:PORT, once per session backend. Secure is
    off (plain http); HttpOnly, SameSite=Lax and the rest are as in production."""
    database = tmp_path_factory.mktemp("browser") / "step4.sqlite3"
    env = {
        **keys,
        "DATABASE_URL": f"sqlite:///{database}",
        "SESSION_BACKEND": request.param,
        "SESSION_COOKIE_SECURE": "0",
    }
    # Module-wide, so before the tests' clean_environment: take the shell's settings out here.
    with pytest.MonkeyPatch.context() as environment:
        for name in APP_ENVIRONMENT:
            environment.delenv(name, raising=False)
        with flask_run(STEP4, env=env, timeout=STARTUP) as base:
            yield base


def cookie_backend_only(test):
    """For a test where the session backend makes no difference: one server is enough."""
    return pytest.mark.parametrize("app_url", ["cookie"], indirect=True)(test)


# A new user name for each test: the tests of a module share one server and database.
NEW_NAMES = (f"user{n}" for n in itertools.count(1))


def register(base, username):
    assert request("POST", base + "/register", {"username": username, "password": PASSWORD}).status == 201


def add_todo(base, username, title):
    """A to-do, written the only way there is: with an access token (the session only reads)."""
    token = request("POST", base + "/login", {"username": username, "password": PASSWORD}).json["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    assert request("POST", base + "/todos", {"title": title}, headers=bearer).status == 201


def button(driver, label):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.XPATH, f"//button[normalize-space()='{label}']")


def field(driver, name):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.NAME, name)


def text_of(driver, element_id):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, element_id).text


def wait_for_text(driver, element_id, expected):
    """Wait until the element's text starts with `expected`; fail with what it says instead."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        WebDriverWait(driver, WAIT, poll_frequency=POLL).until(lambda d: text_of(d, element_id).startswith(expected))
    except TimeoutException:
        pytest.fail(f"#{element_id} says {text_of(driver, element_id)!r}, not {expected!r}...")


def open_page(driver, base):
    driver.get(base + "/")
    wait_for_text(driver, "who", ("Logged in as", "Not logged in"))


def log_in_on_the_page(driver, base, username):
    """A new user, registered over HTTP and logged in on the page."""
    register(base, username)
    open_page(driver, base)
    field(driver, "username").send_keys(username)
    field(driver, "password").send_keys(PASSWORD)
    button(driver, "Log in").click()
    wait_for_text(driver, "who", f"Logged in as {username}")


def fetch_status(driver, path):
    """The status of a GET from the page's own script: same-origin, cookie and all."""
    script = "const [path, done] = arguments; fetch(path).then(r => done(r.status), e => done(String(e)));"
    return driver.execute_async_script(script, path)


def session_cookie(driver):
    cookies = {cookie["name"]: cookie for cookie in driver.get_cookies()}
    assert "session" in cookies, f"the browser stored no session cookie: {sorted(cookies)}"
    return cookies["session"]


# --- GET /: JSON for API clients, the page for a browser ----------------------------------------


@cookie_backend_only
def test_get_slash_is_json_for_api_clients_and_a_page_under_a_strict_policy_for_browsers(step, app_url):
    for accept in (None, "*/*", "application/json"):
        described = request("GET", app_url + "/", headers={"Accept": accept} if accept else {})
        assert described.status == 200 and described.json["step"] == 4, accept
        assert "Accept" in described.headers["Vary"]

    # server.request reads every answer as JSON; these two are not.
    with urllib.request.urlopen(urllib.request.Request(app_url + "/", headers={"Accept": BROWSER_ACCEPT})) as page:
        assert page.status == 200 and page.headers.get_content_type() == "text/html"
        assert "Accept" in page.headers["Vary"]
        policy = page.headers["Content-Security-Policy"]
        html = page.read()
    assert "default-src 'self'" in policy and "unsafe-inline" not in policy
    assert b'<script src="/page/app.js"' in html and b"<script>" not in html
    with urllib.request.urlopen(app_url + "/page/app.js") as script:
        assert script.status == 200 and "javascript" in script.headers["Content-Type"]
    for missing in ("/page/nothing.js", "/page/..%2Fconfig.py"):
        answer = request("GET", app_url + missing)
        assert answer.status == 404 and set(answer.json) == {"message"}, missing


# --- The round trip, as a learner does it ---------------------------------------------------


@pytest.mark.browser
def test_the_page_registers_logs_in_lists_todos_and_logs_out(step, app_url, driver):
    username = "alice"  # only this test takes the name, once on each server
    open_page(driver, app_url)
    assert text_of(driver, "who") == "Not logged in"
    field(driver, "username").send_keys(username)
    field(driver, "password").send_keys(PASSWORD)
    button(driver, "Register").click()
    wait_for_text(driver, "message", f"Registered {username}.")

    add_todo(app_url, username, "Read the session cookie's flags in DevTools")
    button(driver, "Log in").click()  # the form keeps the name and the password
    wait_for_text(driver, "who", f"Logged in as {username}")
    wait_for_text(driver, "todo-list", "☐ Read the session cookie's flags in DevTools")
    assert fetch_status(driver, "/session") == 200
    if os.environ.get("SCREENSHOT"):  # the same picture with either backend
        save_screenshot(driver, Path(os.environ["SCREENSHOT"]))

    button(driver, "Log out").click()
    wait_for_text(driver, "who", "Not logged in")
    assert field(driver, "username").is_displayed() and not button(driver, "Log out").is_displayed()
    assert fetch_status(driver, "/session") == 401
    open_page(driver, app_url)  # a reload asks the server again
    assert text_of(driver, "who") == "Not logged in"
    assert "session" not in {cookie["name"] for cookie in driver.get_cookies()}


def save_screenshot(driver, path):
    """The top of the page as the README shows it, drawn at 0.7 scale: sharp text, and half
    the bytes of a full-size picture."""
    clip = {"x": 0, "y": 0, "width": 900, "height": 620, "scale": 0.7}
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "clip": clip})
    png = base64.b64decode(shot["data"])
    assert len(png) < 80_000, f"the screenshot is {len(png)} bytes: keep the README light"
    path.write_bytes(png)


@pytest.mark.browser
def test_with_the_default_settings_the_page_works_on_http_127_0_0_1(step, keys, tmp_path, driver):
    """`make run STEP=4`, then http://127.0.0.1:5000/ in a browser: Secure stays on, and
    Chromium keeps a Secure cookie from plain http on the loopback address all the same."""
    env = {**keys, "DATABASE_URL": f"sqlite:///{tmp_path / 'default.sqlite3'}"}
    with flask_run(STEP4, env=env, timeout=STARTUP) as base:  # clean_environment: no shell settings
        log_in_on_the_page(driver, base, "bob")
        assert session_cookie(driver)["secure"] is True
        assert fetch_status(driver, "/session/todos") == 200


# --- What the page's script can see, and what the browser stored ----------------------------


@pytest.mark.browser
def test_document_cookie_does_not_show_the_session_cookie(step, app_url, driver):
    log_in_on_the_page(driver, app_url, next(NEW_NAMES))
    session_cookie(driver)  # the browser holds it...
    assert "session=" not in driver.execute_script("return document.cookie")  # ...scripts cannot see it
    assert text_of(driver, "document-cookie") == '""'
    assert text_of(driver, "cookie-verdict").startswith("You are logged in, so the browser holds a session cookie")


@pytest.mark.browser
def test_the_browsers_cookie_store_shows_httponly_samesite_lax_and_path(step, app_url, driver):
    log_in_on_the_page(driver, app_url, next(NEW_NAMES))
    cookie = session_cookie(driver)
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    # WebDriver says Lax for a cookie set without SameSite too (the default Chromium applies).
    # DevTools' own view, which the page points the learner to, tells the two apart.
    [stored] = [c for c in driver.execute_cdp_cmd("Network.getCookies", {})["cookies"] if c["name"] == "session"]
    assert stored.get("sameSite") == "Lax", "the cookie was set without SameSite=Lax"
    assert cookie["path"] == "/"
    assert cookie["domain"] == "127.0.0.1"  # host-only: no Domain attribute, no other host gets it
    assert cookie["secure"] is False  # SESSION_COOKIE_SECURE=0 here, for plain http
    assert 0 < cookie["expiry"] - time.time() <= 30 * 60  # PERMANENT_SESSION_LIFETIME


@pytest.mark.browser
@cookie_backend_only
def test_the_policy_blocks_a_script_injected_into_the_page(step, app_url, driver):
    """What HttpOnly guards against, blocked once more: the policy runs no inline script."""
    open_page(driver, app_url)
    driver.execute_script(
        "const s = document.createElement('script'); s.textContent = 'window.injected = true';"
        "document.body.append(s);"
    )
    assert driver.execute_script("return window.injected === true") is False


# --- Another site ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def other_site(app_url):
    """http://localhost:PORT: another site than http://127.0.0.1 for the browser. Each of its
    pages, opened, submits a form to the app at once, the most a page elsewhere can do
    unasked: a form sends no JSON Content-Type, only text/plain shaped like JSON."""
    forms = {f"/to{path.replace('/', '-')}": path for path in ("/session", "/login")}

    class OtherSite(BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path not in forms:  # /favicon.ico
                self.send_error(404)
                return
            action = app_url + forms[self.path]
            fields = f'{{"username": "mallory", "password": "{PASSWORD}", "padding": "'
            page = (
                f'<form method="post" action="{action}" enctype="text/plain">'
                f"<input type=\"hidden\" name='{fields}' value='\"}}'></form>"
                "<script>document.forms[0].submit()</script>"
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args):
            pass  # no access log in the test output

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), OtherSite)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    register(app_url, "mallory")  # a real account: the forms would log in, were they let through
    yield f"http://localhost:{server.server_port}"
    server.shutdown()
    server.server_close()


def headers_sent(driver, method, url):
    """The headers the browser really sent with its one `method` request to url, cookies
    included, from Chromium's network log (Network.requestWillBeSentExtraInfo)."""
    ids, sent = [], {}
    for entry in driver.get_log("performance"):
        event = json.loads(entry["message"])["message"]
        params = event.get("params", {})
        if event["method"] == "Network.requestWillBeSent":
            if (params["request"]["method"], params["request"]["url"]) == (method, url):
                ids.append(params["requestId"])
        elif event["method"] == "Network.requestWillBeSentExtraInfo":
            sent[params["requestId"]] = params["headers"]
    assert len(ids) == 1 and ids[0] in sent, f"the network log has no single {method} {url}"
    return {name.lower(): value for name, value in sent[ids[0]].items()}


@pytest.mark.browser
@pytest.mark.parametrize("target", ["/session", "/login"])
def test_a_form_on_another_site_changes_nothing_and_is_not_sent_the_cookie(step, app_url, other_site, driver, target):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    username = next(NEW_NAMES)
    log_in_on_the_page(driver, app_url, username)
    cookie = session_cookie(driver)["value"]
    driver.get_log("performance")  # forget the requests so far

    driver.get(f"{other_site}/to{target.replace('/', '-')}")

    def answered(d):  # the app's answer to the form, once the browser shows it
        return d.current_url == app_url + target and d.find_element(By.TAG_NAME, "body").text

    answer = json.loads(WebDriverWait(driver, WAIT, poll_frequency=POLL).until(answered))
    sent = headers_sent(driver, "POST", app_url + target)
    assert sent["origin"] == other_site  # the log is right about where the form came from
    assert "cookie" not in sent  # SameSite=Lax: no cookie on another site's POST

    # Nothing changed: the browser's cookie, the session the server holds for it, the page.
    assert session_cookie(driver)["value"] == cookie
    held = request("GET", app_url + "/session", headers={"Cookie": f"session={cookie}"})
    assert held.status == 200 and held.json["username"] == username
    open_page(driver, app_url)
    assert text_of(driver, "who") == f"Logged in as {username}"
    # No login as mallory either: a form cannot send Content-Type: application/json.
    assert answer == {"message": "The body must be a JSON object, sent with Content-Type: application/json."}
