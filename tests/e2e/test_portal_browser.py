"""The customer portal in a real browser: Debian's chromium, driven by Selenium, against
the stack's nginx and `mailbasic portal`, with mail through the stack's Postfix and read
over IMAP. Every step is a page the browser loads or a form it submits (our pages carry
no JavaScript); the raw HTTP requests below only add what a browser would never send.

The tests save screenshots of the main pages in German and English to docs/screenshots/
(the README shows them). They build on each other's data where a page looks better for
it (the screenshots show the filter, the vacation reply and the refused message of the
tests before), but each test also passes alone.
"""

from __future__ import annotations

import base64
import email
import email.policy
import hashlib
import http.client
import imaplib
import re
import shutil
import smtplib
import ssl
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date, timedelta
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pyotp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from selenium import webdriver
from selenium.common.exceptions import (
    StaleElementReferenceException,
    WebDriverException,
)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.wait import WebDriverWait
from sqlalchemy import create_engine

from mailbasic.portal.app import create_app
from tests.conftest import Cli
from tests.totp_codes import previous_step_code

HOST = "127.0.0.1"
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
WINDOW = (1280, 900)
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
SESSION_COOKIE = "__Host-mailbasic"
PORTAL_PASSWORD = "a long portal secret"
MAILBOX_PASSWORD = "a long mailbox secret"
# Fixed names: they show in the screenshots, which should not change with every run.
DOMAIN, OTHER_DOMAIN = "mustermann.example", "normal.example"
ERIKA, TINA, OTTO = "erika.muster", "tina.totp", "otto.normal"
SECOND_MAILBOX = f"erika.klein@{DOMAIN}"
DELIVERY_TIMEOUT = 60


def mailbox_of(name: str, domain: str = DOMAIN) -> str:
    return f"{name}@{domain}"


# --- the browser ---------------------------------------------------------------------------

def spki_pin(certificate: Path) -> str:
    """base64(sha256(SubjectPublicKeyInfo)) of the certificate: chromium's pin format."""
    loaded = x509.load_pem_x509_certificate(certificate.read_bytes())
    spki = loaded.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


def chromium(profile: Path, pin: str | None) -> webdriver.Chrome:
    """Headless chromium in a profile of its own, asking for German pages first.

    How it trusts the stack's certificate: the stack makes a new test CA for each run,
    which chromium does not know. `--ignore-certificate-errors` would accept any
    certificate and test no TLS at all. Adding the CA to an NSS database (certutil, of
    libnss3-tools) would be the way a customer's browser trusts a CA, but it is one more
    package and state outside the profile. `--ignore-certificate-errors-spki-list` with
    the hash of the stack's own server key (honoured with --user-data-dir) accepts
    exactly that certificate and nothing else: still TLS 1.2+ with nginx's ciphers, and
    any other key is refused, which test_an_unpinned_browser_refuses_the_stack_s_certificate
    shows. The chain and the host name are checked by the Python clients of the other
    tests (tests/integration/test_portal_served.py) against the CA.
    """
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox",  # root: no sandbox possible
                     "--disable-dev-shm-usage", "--disable-gpu", "--hide-scrollbars",
                     f"--window-size={WINDOW[0]},{WINDOW[1]}", f"--user-data-dir={profile}",
                     "--no-first-run", "--disable-extensions", "--disable-sync"):
        options.add_argument(argument)
    if pin is not None:
        options.add_argument(f"--ignore-certificate-errors-spki-list={pin}")
    options.add_experimental_option("prefs", {"intl.accept_languages": "de-DE,de"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    # The page's own size (the window's would include headless chromium's frame): every
    # screenshot is WINDOW exactly.
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": WINDOW[0], "height": WINDOW[1], "deviceScaleFactor": 1, "mobile": False})
    return driver


def gone(element: WebElement) -> bool:
    """The element's page has been replaced by another. chromedriver says so as a stale
    element, or, caught while the new document comes in, as an inspector error."""
    try:
        element.is_enabled()
    except StaleElementReferenceException:
        return True
    except WebDriverException as error:
        if "does not belong to the document" in str(error):
            return True
        raise
    return False


class Portal:
    """The browser on the stack's portal: opening pages, filling and sending forms."""

    def __init__(self, driver: webdriver.Chrome, url: str) -> None:
        self.driver, self.url = driver, url

    def open(self, path: str) -> None:
        self.driver.get(self.url + path)

    @property
    def path(self) -> str:
        return urlsplit(self.driver.current_url).path

    def text(self) -> str:
        return self.driver.find_element(By.TAG_NAME, "body").text

    def heading(self) -> str:
        return self.driver.find_element(By.TAG_NAME, "h1").text

    def flashes(self, category: str) -> list[str]:
        return [found.text for found in
                self.driver.find_elements(By.CSS_SELECTOR, f"p.flash.{category}")]

    def find(self, selector: str) -> WebElement:
        return self.driver.find_element(By.CSS_SELECTOR, selector)

    def type(self, field_id: str, value: str) -> None:
        field = self.driver.find_element(By.ID, field_id)
        field.clear()
        field.send_keys(value)

    def choose(self, field_id: str, value: str) -> None:
        Select(self.driver.find_element(By.ID, field_id)).select_by_value(value)

    def date(self, field_id: str, day: date) -> None:
        """An <input type=date> takes keystrokes in the browser's own order of day,
        month and year: try month first (en-US, what headless chromium uses), then day."""
        field = self.driver.find_element(By.ID, field_id)
        for keys in (day.strftime("%m%d%Y"), day.strftime("%d%m%Y")):
            field.clear()
            field.send_keys(keys)
            if field.get_attribute("value") == day.isoformat():
                return
        raise AssertionError(f"could not type {day} into #{field_id}")

    def submit(self, form_selector: str = "form.card", button: str = "button[type=submit]",
               ) -> None:
        """Press the form's button and wait for the page it leads to."""
        page = self.driver.find_element(By.TAG_NAME, "html")
        self.find(f"{form_selector} {button}").click()
        WebDriverWait(self.driver, 30).until(lambda _: gone(page))

    def switch_language(self, code: str) -> None:
        self.submit("form.languages", f"button[value={code}]")

    def log_out(self) -> None:
        self.open("/login")
        self.driver.delete_all_cookies()

    def log_in(self, name: str, password: str = PORTAL_PASSWORD,
               totp: pyotp.TOTP | None = None) -> None:
        self.log_out()
        self.open("/login")
        for _ in range(3):
            self.type("name", name)
            self.type("password", password)
            self.submit()
            # Other tests' wrong passwords from 127.0.0.1 may have earned this address a
            # delay (the throttle): wait it out, as a customer would.
            wait = [int(found) for message in self.flashes("error")
                    for found in re.findall(r"\d+", message)]
            if self.path != "/login" or not wait:
                break
            time.sleep(min(wait[0], 60))
        if totp is not None:
            assert self.path == "/login/code", self.text()
            self.type("code", totp.now())
            self.submit()
        assert self.path == "/", (self.path, self.text())

    def csrf_token(self) -> str:
        """A token of this session, as the page's forms carry it."""
        return str(self.find("input[name=csrf_token]").get_attribute("value"))

    def session_cookie(self) -> str:
        cookie = self.driver.get_cookie(SESSION_COOKIE)
        assert cookie is not None and cookie["secure"] and cookie["httpOnly"], cookie
        assert cookie["sameSite"] == "Strict", cookie
        return str(cookie["value"])

    def shot(self, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        assert self.driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))

    def mailbox_id(self, mailbox: str) -> int:
        """The id in the link of the overview's mailbox (the logged-in customer's)."""
        self.open("/")
        link = self.driver.find_element(By.LINK_TEXT, mailbox).get_attribute("href")
        found = re.fullmatch(r"/mailboxes/(\d+)", urlsplit(str(link)).path)
        assert found, link
        return int(found.group(1))


@pytest.fixture(scope="module")
def profiles() -> Iterator[Path]:
    directory = Path(tempfile.mkdtemp(prefix="mailbasic-chromium-"))
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def browser(portal, profiles) -> Iterator[Portal]:
    driver = chromium(profiles / "pinned", spki_pin(portal.certificates.certificate))
    try:
        yield Portal(driver, portal.nginx.url)
    finally:
        driver.quit()


# --- the accounts, in the stack's own database (Postfix, Dovecot and the portal read it) ---

@dataclass(frozen=True)
class People:
    cli: Cli
    erika: str       # her first mailbox (her second is SECOND_MAILBOX)
    tina: str
    otto: str


@pytest.fixture(scope="module")
def people(portal, delivery_log, tmp_path_factory) -> People:
    cli = Cli(replace(delivery_log.settings, bcrypt_cost=4), tmp_path_factory.mktemp("cli"))
    cli.ok("domain", "add", DOMAIN)
    cli.ok("domain", "add", OTHER_DOMAIN)
    for name, domain in ((ERIKA, DOMAIN), (TINA, DOMAIN), (OTTO, OTHER_DOMAIN)):
        cli.ok("customer", "add", name, "--domain", domain, "--password-stdin",
               input=MAILBOX_PASSWORD + "\n")
        cli.ok("customer", "passwd", name, "--password-stdin", input=PORTAL_PASSWORD + "\n")
    cli.ok("mailbox", "add", ERIKA, SECOND_MAILBOX, "--password-stdin",
           input=MAILBOX_PASSWORD + "\n")
    return People(cli, mailbox_of(ERIKA), mailbox_of(TINA), mailbox_of(OTTO, OTHER_DOMAIN))


# --- mail -----------------------------------------------------------------------------------

def send(stack, sender: str, recipient: str, subject: str, text: str = "Hallo!\n") -> None:
    """From outside, to the stack's MX port (smtplib announces the size: SIZE=)."""
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, recipient, subject
    message["Message-ID"] = f"<{uuid.uuid4()}@remote.example>"
    message.set_content(text)
    with smtplib.SMTP(HOST, stack.ports.smtp, timeout=60) as client:
        client.ehlo("mx.remote.example")
        client.sendmail(sender, [recipient], message.as_bytes())


def imap_messages(stack, context: ssl.SSLContext, login: str, folder: str,
                  text: str) -> list[email.message.EmailMessage]:
    with imaplib.IMAP4_SSL(HOST, stack.ports.imaps, ssl_context=context) as client:
        client.login(login, MAILBOX_PASSWORD)
        status, _ = client.select(f'"{folder}"', readonly=True)
        if status != "OK":
            return []
        _, found = client.search(None, "TEXT", f'"{text}"')
        messages = []
        for number in found[0].split():
            _, parts = client.fetch(number, "(BODY.PEEK[])")
            messages.append(email.message_from_bytes(parts[0][1], policy=email.policy.default))
        return messages


def arrives(stack, context: ssl.SSLContext, login: str, folder: str, text: str):
    deadline = time.monotonic() + DELIVERY_TIMEOUT
    while time.monotonic() < deadline:
        found = imap_messages(stack, context, login, folder, text)
        if found:
            return found
        time.sleep(0.3)
    pytest.fail(f"{text!r} did not arrive in {login}'s {folder} within {DELIVERY_TIMEOUT} s")


def eventually(browser: Portal, expected: str, timeout: float = DELIVERY_TIMEOUT) -> None:
    """Reload the page until it shows `expected` (the log is written asynchronously:
    the milter records a refused transaction when the client leaves, the delivery record
    Postfix's replies when it has read them in Postfix's log)."""
    deadline = time.monotonic() + timeout
    while expected not in browser.text():
        if time.monotonic() > deadline:
            pytest.fail(f"{browser.driver.current_url} did not show {expected!r}:\n"
                        f"{browser.text()}")
        time.sleep(0.5)
        browser.driver.refresh()


# --- raw requests with the browser's session -------------------------------------------------

def raw_request(stack, context: ssl.SSLContext, cookie: str, method: str, path: str,
                form: dict[str, str] | None = None) -> int:
    connection = http.client.HTTPSConnection(HOST, stack.ports.https, context=context,
                                             timeout=30)
    try:
        headers = {"Cookie": f"{SESSION_COOKIE}={cookie}"}
        body = None
        if form is not None:
            body = urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


# --- the tests ------------------------------------------------------------------------------

def test_an_unpinned_browser_refuses_the_stack_s_certificate(portal, profiles):
    driver = chromium(profiles / "unpinned", pin=None)
    try:
        driver.get(portal.nginx.url + "/login")
        assert not driver.find_elements(By.ID, "password")
        assert "ERR_CERT_AUTHORITY_INVALID" in driver.page_source
    finally:
        driver.quit()


def test_log_in_with_a_password_alone(browser, people):
    browser.open("/")
    assert browser.path == "/login"   # nothing without a login
    assert browser.heading() == "Anmelden im Kunden-exklusiv-Bereich"
    browser.log_in(ERIKA)
    assert browser.heading() == "Ihre Postfächer"
    assert people.erika in browser.text() and SECOND_MAILBOX in browser.text()
    browser.session_cookie()   # Secure, HttpOnly, SameSite=Strict


def test_log_in_with_a_second_factor_set_up_in_the_browser(browser, people):
    browser.log_in(TINA)
    browser.open("/security")
    browser.driver.find_element(By.PARTIAL_LINK_TEXT, "Zweiten Faktor").click()
    secret = browser.find("ol code").text.replace(" ", "")
    totp = pyotp.TOTP(secret)
    uri = str(browser.find("ol a").get_attribute("href"))
    assert uri.startswith("otpauth://totp/") and f"secret={secret}" in uri
    # A code is accepted once: confirm with the previous step's (still valid), so that
    # the login below can use the current one.
    browser.type("code", previous_step_code(totp))
    browser.submit()
    recovery = [found.text for found in browser.driver.find_elements(By.CSS_SELECTOR,
                                                                     "ul.codes code")]
    assert recovery and "Der zweite Faktor ist eingeschaltet." in browser.text()

    # The password alone is not enough now; the app's code is.
    browser.log_out()
    browser.open("/login")
    browser.type("name", TINA)
    browser.type("password", PORTAL_PASSWORD)
    browser.submit()
    assert browser.path == "/login/code"
    browser.open("/")
    assert browser.path == "/login"     # half logged in is not logged in
    browser.log_in(TINA, totp=totp)
    assert browser.heading() == "Ihre Postfächer" and people.tina in browser.text()

    # A recovery code instead of the app's code, once.
    browser.log_out()
    browser.open("/login")
    browser.type("name", TINA)
    browser.type("password", PORTAL_PASSWORD)
    browser.submit()
    browser.type("code", recovery[0])
    browser.submit()
    assert browser.path == "/"


def test_addresses_up_to_the_limit_and_the_seventh_refused(browser, people):
    browser.log_in(ERIKA)
    mailbox = browser.mailbox_id(people.erika)
    browser.open(f"/mailboxes/{mailbox}")
    added = [f"erika.{number}@{DOMAIN}" for number in range(1, 6)]
    for address in added:
        browser.type("address", address)
        browser.submit(f"form[action='/mailboxes/{mailbox}/addresses']")
        assert browser.flashes("success") == [
            f"Mail an {address} kommt jetzt in diesem Postfach an."]
    rows = [row.text for row in browser.driver.find_elements(By.CSS_SELECTOR, "table tr")]
    assert all(any(address in row for row in rows) for address in added)
    browser.type("address", f"erika.6@{DOMAIN}")
    browser.submit(f"form[action='/mailboxes/{mailbox}/addresses']")
    assert browser.flashes("error") == [
        f"Das Postfach {people.erika} hat schon 6 Adressen (1 Hauptadresse + 5)"]
    browser.open(f"/mailboxes/{mailbox}")
    assert f"erika.6@{DOMAIN}" not in browser.text()


def test_a_filter_from_the_form_editor_files_mail_into_its_folder(browser, people, portal,
                                                                    tls_context):
    browser.log_in(ERIKA)
    mailbox = browser.mailbox_id(people.erika)
    browser.open(f"/mailboxes/{mailbox}/filters")
    browser.driver.find_element(By.LINK_TEXT, "Einen Filter hinzufügen").click()
    browser.choose("condition", "subject")
    browser.choose("match", "contains")
    browser.type("value", "Projekt Apfel")
    browser.choose("action", "fileinto")
    browser.type("folder", "Projekte")
    browser.submit()
    assert browser.path == f"/mailboxes/{mailbox}/filters"
    assert browser.flashes("success") == ["Der Filter ist hinzugefügt."]
    assert 'fileinto "Projekte"' in browser.find("table").text

    subject = f"Projekt Apfel {uuid.uuid4().hex[:8]}"
    send(portal, "kunde@remote.example", people.erika, subject)
    [arrived] = arrives(portal, tls_context, people.erika, "Projekte", subject)
    assert arrived["Subject"] == subject
    assert not imap_messages(portal, tls_context, people.erika, "INBOX", subject)

    # The dry run lists the message as the mailbox holds it, and judges it whole.
    browser.open(f"/mailboxes/{mailbox}/filters/test")
    row = browser.driver.find_element(By.XPATH, f"//tr[td[text()='{subject}']]")
    assert "Projekte" in row.text
    row.find_element(By.LINK_TEXT, "Testen").click()
    assert "in den Ordner Projekte" in browser.find("table.result").text
    assert "Ihre Filter: Projekte" in browser.find("table.result").text


def test_a_vacation_reply_set_in_the_browser_answers_a_local_sender(browser, people, portal,
                                                                    tls_context):
    """On Erika's second mailbox: the milter caches a mailbox's rules for
    policy.cache_seconds, and the first one has just had mail (the filter's test)."""
    browser.log_in(ERIKA)
    mailbox = browser.mailbox_id(SECOND_MAILBOX)
    browser.open(f"/mailboxes/{mailbox}/vacation")
    today = date.today()
    browser.date("first_day", today)
    browser.date("last_day", today + timedelta(days=14))
    browser.type("subject", "Bin im Urlaub")
    browser.type("text", "Ab dem 15. wieder da. Dringendes bitte an Otto.")
    browser.submit()
    assert browser.flashes("success") == ["Die Abwesenheitsnotiz ist gespeichert."]

    subject = f"Frage {uuid.uuid4().hex[:8]}"
    send(portal, people.otto, SECOND_MAILBOX, subject)
    arrives(portal, tls_context, SECOND_MAILBOX, "INBOX", subject)
    [reply] = arrives(portal, tls_context, people.otto, "INBOX", "Bin im Urlaub")
    assert reply["Auto-Submitted"] == "auto-replied"
    assert reply["From"].addresses[0].addr_spec == SECOND_MAILBOX
    assert "Ab dem 15. wieder da." in reply.get_content()


def test_the_mail_log_tells_why_a_message_was_refused(browser, people, portal, tls_context):
    """Erika's own message, refused at end of data by the milter (its From: is not
    hers), which records it with her login and the stage that refused it."""
    message = EmailMessage()
    message["From"], message["To"] = "Der Chef <chef@firma.example>", people.otto
    message["Subject"] = f"Überweisung {uuid.uuid4().hex[:8]}"
    message.set_content("Bitte sofort überweisen.\n")
    with smtplib.SMTP(HOST, portal.ports.submission, timeout=60) as client:
        client.starttls(context=tls_context)
        client.login(people.erika, MAILBOX_PASSWORD)
        with pytest.raises(smtplib.SMTPDataError) as refused:
            client.send_message(message, from_addr=people.erika)
    assert refused.value.smtp_code == 553 and refused.value.smtp_error.startswith(b"5.7.1")

    browser.log_in(ERIKA)
    browser.open("/mail-log")
    assert browser.heading() == "Wo ist meine Post geblieben?"
    browser.type("sender", "erika.muster")
    browser.type("recipient", "otto.normal")
    browser.date("since", date.today())
    browser.submit()
    assert browser.path == "/mail-log"
    eventually(browser, f"{people.otto} (abgelehnt)")
    [row] = [row.text for row in browser.driver.find_elements(By.CSS_SELECTOR, "tbody tr")]
    assert people.erika in row
    browser.driver.find_element(By.LINK_TEXT, "Details").click()
    assert browser.heading() == "Der Weg einer Nachricht"
    assert ("Abgelehnt: die Absenderadresse (From:) gehört nicht zum angemeldeten Benutzer."
            in browser.text())


def test_a_post_without_csrf_token_is_refused(browser, people, portal, tls_context):
    browser.log_in(ERIKA)
    mailbox = browser.mailbox_id(people.erika)
    spam = f"/mailboxes/{mailbox}/spam"
    browser.open(spam)
    threshold = browser.find("#threshold").get_attribute("value")
    # In the browser: the page's own form, its token taken out.
    browser.driver.execute_script(
        "document.querySelector('form.card input[name=csrf_token]').remove()")
    browser.type("threshold", "2.5")
    browser.submit()
    assert browser.heading() == "Nicht angenommen"
    browser.open(spam)
    assert browser.find("#threshold").get_attribute("value") == threshold
    # Over HTTP with the browser's session: refused without the token, taken with it.
    cookie, token = browser.session_cookie(), browser.csrf_token()
    form = {"enabled": "y", "threshold": "2.5", "action": "folder"}
    assert raw_request(portal, tls_context, cookie, "POST", spam, form) == 400
    browser.open(spam)
    assert browser.find("#threshold").get_attribute("value") == threshold
    assert raw_request(portal, tls_context, cookie, "POST", spam,
                       {**form, "csrf_token": token}) == 302
    browser.open(spam)
    assert browser.find("#threshold").get_attribute("value") == "2.5"


def portal_routes(portal) -> list[tuple[str, set[str], set[str]]]:
    """Every route of the portal: (rule, its arguments, its methods)."""
    settings = replace(portal.settings, portal_secret_key="x" * 32)
    engine = create_engine(settings.database_url)   # never connects: only the routes
    try:
        app = create_app(settings, engine)
        return [(rule.rule, set(rule.arguments), set(rule.methods or ()))
                for rule in app.url_map.iter_rules()]
    finally:
        engine.dispose()


def test_another_customers_ids_give_404(browser, people, portal, tls_context):
    # Otto's mailbox and a message only he got, as he sees them in his browser.
    browser.log_in(OTTO)
    otto_mailbox = browser.mailbox_id(people.otto)
    tag = uuid.uuid4().hex[:8]
    send(portal, "freund@remote.example", people.otto, f"Nur für Otto {tag}")
    arrives(portal, tls_context, people.otto, "INBOX", tag)
    browser.open("/mail-log?sender=freund%40remote.example")
    eventually(browser, "Details")
    browser.driver.find_element(By.LINK_TEXT, "Details").click()
    otto_message = browser.path
    assert re.fullmatch(r"/mail-log/\d+", otto_message)

    browser.log_in(ERIKA)
    own_mailbox = browser.mailbox_id(people.erika)
    values = {"mailbox_id": otto_mailbox, "address_id": 1, "number": 1, "rule_id": 1,
              "account_id": 1}
    pages, changes = [otto_message], []
    for rule, arguments, methods in portal_routes(portal):
        if "mailbox_id" not in arguments:
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", lambda found: str(values.get(found.group(1), 1)),
                      rule)
        if "GET" in methods:
            pages.append(path)
        if "POST" in methods:
            changes.append(path)
    assert len(pages) >= 10 and len(changes) >= 15, (pages, changes)
    for path in pages:
        browser.open(path)
        assert browser.heading() == "Nicht gefunden", path
        assert "Hier gibt es nichts." in browser.text(), path
    # Changes with a valid token of Erika's session: still nobody else's business.
    cookie, token = browser.session_cookie(), browser.csrf_token()
    for path in changes:
        assert raw_request(portal, tls_context, cookie, "POST", path,
                           {"csrf_token": token, "address": f"erika.x@{DOMAIN}",
                            "target": str(own_mailbox)}) == 404, path
    # Her own pages are still hers.
    browser.open(f"/mailboxes/{own_mailbox}")
    assert browser.heading() == f"Postfach {people.erika}"


PAGES = (   # screenshot name, the path (MAILBOX, SECOND: Erika's two mailboxes)
    ("overview", "/"),
    ("mailbox", "/mailboxes/MAILBOX"),
    ("filter-editor", "/mailboxes/MAILBOX/filters/new"),
    ("filters", "/mailboxes/MAILBOX/filters"),
    ("vacation", "/mailboxes/SECOND/vacation"),
    ("spam", "/mailboxes/MAILBOX/spam"),
    ("mail-log", "/mail-log"),
    ("message", "MESSAGE"),
    ("security", "/security"),
)


def test_screenshots_of_the_main_pages_in_both_languages(browser, people):
    browser.log_out()
    browser.open("/login")
    browser.shot("de-login")
    browser.switch_language("en")
    assert browser.heading() == "Log in to your customer area"
    browser.shot("en-login")

    browser.log_in(ERIKA)
    mailbox, second = browser.mailbox_id(people.erika), browser.mailbox_id(SECOND_MAILBOX)
    browser.open("/mail-log?recipient=otto.normal")
    found = browser.driver.find_elements(By.LINK_TEXT, "Details")
    message = urlsplit(str(found[0].get_attribute("href"))).path if found else "/mail-log"
    texts = {}
    for language in ("de", "en"):
        browser.open("/")
        browser.switch_language(language)
        for name, path in PAGES:
            browser.open(path.replace("MAILBOX", str(mailbox)).replace("SECOND", str(second))
                         .replace("MESSAGE", message))
            texts[language, name] = browser.find("main").text
            browser.shot(f"{language}-{name}")
    # Each page in both languages, and really translated.
    for name, _ in PAGES:
        assert texts["de", name] != texts["en", name], (name, texts["de", name])
    if found:   # the refused message of test_the_mail_log_tells_why_a_message_was_refused
        assert "Abgelehnt: die Absenderadresse (From:)" in texts["de", "message"]
        assert "Refused: the sender address (From:)" in texts["en", "message"]

