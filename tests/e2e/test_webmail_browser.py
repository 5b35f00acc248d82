"""The webmail (SOGo) in a real browser: Debian's chromium, driven by Selenium, against the
stack's nginx at /SOGo/ and its sogod, which reads mail through Dovecot, sends through
the stack's submission port with the user's own login and keeps filters in
`mailbasic managesieve`. What a test checks, it checks outside the browser as well:

- mail delivered through the stack's Postfix (SMTP to stack.ports.smtp) is listed and
  opened in the webmail, subject and body;
- mail written in the webmail's editor arrives (submission with the user's login), read
  over IMAP from the recipient's INBOX, a copy in the sender's Sent, and carries the
  signature set in the webmail's preferences;
- a contact and an event made in the web interface are read with CardDAV and CalDAV
  REPORTs (RFC 6352, RFC 4791), and an event PUT over CalDAV shows in the calendar's week;
- a filter made in the webmail's preferences (Mail > Filters) files mail delivered
  through Postfix into its folder, checked over IMAP;
- a mailbox whose webmail is switched off (`mailbox access --webmail off`) or that is
  suspended cannot log in; switched on again it can; a mailbox suspended while logged
  in loses its open session and its CalDAV access at once (mailbasic drops the login
  from SOGo's cache, mailbasic/webmail_logins.py).

The CalDAV/CardDAV client is plain http.client with the stack's CA (tls_context): a few
lines of standard WebDAV, which is what a phone sends, with nothing in between that
could hide a server's answer (and no library of its own whose warnings would fail the
run under filterwarnings = error).

The tests save screenshots of the inbox, an opened message, the address book and the
calendar to docs/screenshots/webmail-*.png. SOGo's interface is AngularJS Material: the
tests find its elements by their ng-model/ng-click attributes (SOGo's own templates,
the same in every language) and wait for each to be shown, with generous timeouts
(sogod's first pages take seconds); a wait that runs out quotes the end of sogod's log.
Each test logs in afresh and passes alone.
"""

from __future__ import annotations

import base64
import http.client
import imaplib
import shutil
import ssl
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import TypeVar
from xml.etree import ElementTree

import pytest
from selenium import webdriver
from selenium.common.exceptions import (
    ElementClickInterceptedException,
    ElementNotInteractableException,
    StaleElementReferenceException,
    TimeoutException,
)
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.wait import WebDriverWait

from tests.conftest import Cli
from tests.e2e.test_portal_browser import (
    HOST,
    MAILBOX_PASSWORD,
    SCREENSHOTS,
    arrives,
    chromium,
    imap_messages,
    send,
    spki_pin,
)

# Fixed names of their own (the stack's database is shared by the session's tests); they
# show in the screenshots.
DOMAIN = "webpost.example"
ANNA, BEN, FRIDA, CARL, DORA = "anna.web", "ben.web", "frida.web", "carl.web", "dora.web"
LOAD_TIMEOUT = 90      # sogod's first pages, and a login, take a while
STEP_TIMEOUT = 30
T = TypeVar("T")


def mailbox_of(name: str) -> str:
    return f"{name}@{DOMAIN}"


# --- the accounts: customers with their first mailbox, in the stack's own database ------

@dataclass(frozen=True)
class People:
    cli: Cli
    anna: str    # reads, writes, keeps contacts and a calendar
    ben: str     # gets Anna's mail
    frida: str   # a filter of hers files mail (no mail before it: the milter caches rules)
    carl: str    # his webmail is switched off and on
    dora: str    # suspended while logged in


@pytest.fixture(scope="module")
def people(sogo, tmp_path_factory) -> People:
    cli = Cli(replace(sogo.settings, bcrypt_cost=4), tmp_path_factory.mktemp("cli"))
    cli.ok("domain", "add", DOMAIN)
    for name in (ANNA, BEN, FRIDA, CARL, DORA):
        cli.ok("customer", "add", name, "--domain", DOMAIN, "--password-stdin",
               input=MAILBOX_PASSWORD + "\n")
    return People(cli, *(mailbox_of(name) for name in (ANNA, BEN, FRIDA, CARL, DORA)))


# --- the browser on the webmail ------------------------------------------------------------

class Webmail:
    """The browser on SOGo: logging in, finding shown elements, typing into its editors."""

    def __init__(self, driver: webdriver.Chrome, url: str, log: Path) -> None:
        self.driver, self.url = driver, url     # url: https://HOST:PORT/SOGo/
        self.log = log                          # sogod's, quoted when a wait fails

    def until(self, condition: Callable[[webdriver.Chrome], T | None],
              timeout: float = STEP_TIMEOUT, what: str = "") -> T:
        wait = WebDriverWait(self.driver, timeout, poll_frequency=0.25, ignored_exceptions=(
            StaleElementReferenceException, ElementClickInterceptedException,
            ElementNotInteractableException))
        try:
            result = wait.until(condition)
        except TimeoutException:
            self.driver.save_screenshot(str(Path(tempfile.gettempdir())
                                            / "webmail-timeout.png"))
            log = self.log.read_text(errors="replace").splitlines()[-40:]
            # SOGo's own error messages first: the one line a short summary shows.
            notices = " | ".join(found.text for found in self.shown("md-toast, md-dialog"))
            pytest.fail(f"{what or condition} not within {timeout} s at "
                        f"{self.driver.current_url}; shown: {notices[:500]!r}\n"
                        f"{self.text()[:2000]}\n"
                        "--- the end of SOGo's log:\n" + "\n".join(log))
        assert result is not None   # until() returns only what is true
        return result

    def shown(self, selector: str) -> list[WebElement]:
        return [found for found in self.driver.find_elements(By.CSS_SELECTOR, selector)
                if found.is_displayed()]

    def find(self, selector: str, timeout: float = STEP_TIMEOUT) -> WebElement:
        return self.until(lambda _: next(iter(self.shown(selector)), None), timeout,
                          f"{selector!r} shown")

    def click(self, selector: str, timeout: float = STEP_TIMEOUT) -> None:
        """Click the first shown match, again while an animation (a speed dial opening,
        a dialog coming in) still covers it."""
        def clicked(_: webdriver.Chrome) -> bool:
            for found in self.shown(selector):
                found.click()
                return True
            return False
        self.until(clicked, timeout, f"{selector!r} clicked")

    def gone(self, selector: str, timeout: float = STEP_TIMEOUT) -> None:
        self.until(lambda _: not self.shown(selector), timeout, f"{selector!r} gone")

    def text(self) -> str:
        return self.driver.find_element(By.TAG_NAME, "body").text

    def open(self, path: str) -> None:
        self.driver.get(self.url + path)

    def type(self, selector: str, value: str) -> None:
        field = self.find(selector)
        field.clear()
        field.send_keys(value)

    def type_rich(self, frame_selector: str, value: str) -> None:
        """Into a CKEditor (an iframe whose body is editable), before what it holds (a
        signature)."""
        self.driver.switch_to.frame(self.find(frame_selector))
        try:
            body = self.driver.find_element(By.TAG_NAME, "body")
            body.click()
            body.send_keys(Keys.CONTROL, Keys.HOME)
            body.send_keys(value)
        finally:
            self.driver.switch_to.default_content()

    def choose(self, select_selector: str, value: str) -> None:
        """An md-select: open its menu and pick the option of that value."""
        self.click(select_selector)
        self.click(f".md-select-menu-container.md-active md-option[value='{value}']")
        self.gone(".md-select-menu-container.md-active")

    def tab(self, tab_id: str) -> None:
        """An md-tabs tab by its template id (md-tab id=...): the tab items, which alone
        take clicks, are in the same order."""
        ids = self.until(lambda driver: driver.execute_script(
            "return [...document.querySelectorAll('md-tab')].map(tab => tab.id)"),
            what="md-tab ids")
        index = ids.index(tab_id)
        self.until(lambda driver: driver.find_elements(By.CSS_SELECTOR, "md-tab-item")[index]
                   .click() or True, what=f"tab {tab_id}")

    def shot(self, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        assert self.driver.save_screenshot(str(SCREENSHOTS / f"webmail-{name}.png"))

    # --- logging in --------------------------------------------------------------------

    def log_out(self) -> None:
        """Forget SOGo's session. First away from SOGo's page, whose scripts would go on
        asking (and, without a session, load SOGo's login page at their own address);
        then every cookie, whatever its path (WebDriver's delete_all_cookies deletes
        only those of the page's path)."""
        self.driver.get("about:blank")
        self.driver.execute_cdp_cmd("Network.clearBrowserCookies", {})

    def try_log_in(self, login: str, password: str = MAILBOX_PASSWORD) -> bool:
        """Whether SOGo lets `login` in: its mail view, or its login form's error."""
        self.log_out()
        self.open("")
        self.type("input[ng-model='app.creds.username']", login)
        self.type("#passwordField", password)
        self.click("button[type=submit]")
        outcome: str = self.until(
            lambda driver: "in" if self.in_module(login) else
            "refused" if self.shown("[ng-click='app.restoreLogin()']") else None,
            LOAD_TIMEOUT, f"{login}'s login answered")
        return outcome == "in"

    def in_module(self, login: str) -> bool:
        """On one of `login`'s pages, loaded: SOGo serves its login page (Angular module
        SOGo.MainUI) at any address, so the address alone does not say."""
        return (f"/so/{login}/" in self.driver.current_url
                and self.driver.execute_script("return document.readyState") == "complete"
                and self.driver.find_element(By.TAG_NAME, "body").get_attribute("ng-app")
                not in (None, "SOGo.MainUI"))

    def log_in(self, login: str) -> None:
        assert self.try_log_in(login), f"{login} could not log in:\n{self.text()}"

    # --- the modules -------------------------------------------------------------------

    def mail(self, login: str) -> None:
        self.open(f"so/{login}/Mail/view")
        self.find("md-list-item.sg-message-list-item, .sg-md-title", LOAD_TIMEOUT)

    def preferences(self, login: str, tab_id: str) -> None:
        self.open(f"so/{login}/Preferences#!/mailer")
        self.find("md-tab-item", LOAD_TIMEOUT)
        self.tab(tab_id)

    def save_preferences(self) -> None:
        """The save button, and SOGo's answer: the form pristine again (the button off)."""
        save = "[ng-click='app.save(preferencesForm)']"
        self.click(save)
        self.until(lambda driver: driver.find_element(By.CSS_SELECTOR, save)
                   .get_attribute("disabled"), what="the preferences saved")

    def speed_dial(self, action: str) -> None:
        """The floating button's menu (the bottom one), then its action."""
        self.click("md-fab-speed-dial md-fab-trigger button")
        self.click(f"md-fab-speed-dial [ng-click=\"{action}\"]")


@pytest.fixture(scope="module")
def profiles() -> Iterator[Path]:
    directory = Path(tempfile.mkdtemp(prefix="mailbasic-webmail-chromium-"))
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def webmail(sogo, profiles) -> Iterator[Webmail]:
    driver = chromium(profiles / "webmail", spki_pin(sogo.certificates.certificate))
    try:
        yield Webmail(driver, sogo.nginx.url + "/SOGo/", sogo.sogo.logfile)
    finally:
        driver.quit()


# --- mail in the webmail -------------------------------------------------------------------

def message_item(webmail: Webmail, subject: str) -> WebElement:
    """The message's line in the list, refreshing the list until it is there."""
    def listed(_: webdriver.Chrome) -> WebElement | None:
        found = webmail.shown(f"md-list-item.sg-message-list-item[aria-label='{subject}']")
        if not found:
            webmail.click("[ng-click='mailbox.refresh()']")
        return next(iter(found), None)
    return webmail.until(listed, LOAD_TIMEOUT, f"{subject!r} listed")


def write_message(webmail: Webmail, recipient: str, subject: str, text: str) -> None:
    webmail.speed_dial("mailbox.newMessage($event)")
    webmail.type("md-chips[ng-model='editor.message.editable.to'] input", recipient)
    webmail.type("input[name=subject]", subject)
    webmail.type_rich("md-dialog sg-ckeditor iframe", text)
    webmail.until(lambda _: webmail.shown("md-chips[ng-model='editor.message.editable.to'] "
                                          "md-chip"), what="the recipient's chip")
    webmail.click("md-dialog [ng-click='editor.send()']")
    webmail.gone("md-dialog", LOAD_TIMEOUT)


def plain_text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None, message
    return str(part.get_content())


def test_a_message_delivered_through_postfix_is_read_in_the_webmail(webmail, people, sogo,
                                                                      tls_context):
    subject = "Willkommen im Webmail"    # Anna's first message: fixed, for the screenshot
    send(sogo, "kunde@remote.example", people.anna, subject,
         "Hallo Anna,\nder Text dieser Nachricht kommt über Postfix.\n")
    arrives(sogo, tls_context, people.anna, "INBOX", subject)

    webmail.log_in(people.anna)
    webmail.mail(people.anna)
    item = message_item(webmail, subject)
    assert "kunde@remote.example" in item.text
    webmail.shot("inbox")
    item.click()
    webmail.until(lambda _: any(found.text == subject for found in
                                webmail.shown("h5.sg-md-headline")), what="the subject")
    body = webmail.until(lambda _: webmail.find(".msg-body").text, what="the body")
    assert "der Text dieser Nachricht kommt über Postfix." in body
    webmail.shot("message")


def test_a_message_written_in_the_webmail_arrives(webmail, people, sogo, tls_context):
    subject = f"Aus dem Webmail {uuid.uuid4().hex[:6]}"
    webmail.log_in(people.anna)
    webmail.mail(people.anna)
    write_message(webmail, people.ben, subject, "Hallo Ben, geschrieben im Browser.")
    [arrived] = arrives(sogo, tls_context, people.ben, "INBOX", subject)
    assert arrived["Subject"] == subject
    assert arrived["From"].addresses[0].addr_spec == people.anna
    assert "Hallo Ben, geschrieben im Browser." in plain_text(arrived)
    # Sent through submission with Anna's login: Postfix's own ESMTPSA line says so.
    assert "with ESMTPSA" in " ".join(arrived.get_all("Received", []))
    arrives(sogo, tls_context, people.anna, "Sent", subject)    # and her copy kept


def test_the_signature_from_the_preferences_is_in_the_sent_mail(webmail, people, sogo,
                                                                 tls_context):
    signature = "Anna Web, Webpost GmbH, Tel. 0123 456789"
    webmail.log_in(people.anna)
    webmail.preferences(people.anna, "mailAccountsTab")
    webmail.click("[ng-click='app.editMailAccount($event, $index, preferencesForm)']")
    webmail.click("[ng-click='$AccountDialogController.selectIdentity($index)']")
    webmail.type_rich("md-dialog sg-ckeditor iframe", signature)
    webmail.click("[ng-click='$AccountDialogController.save()']")
    webmail.gone("md-dialog")
    webmail.save_preferences()

    subject = f"Mit Signatur {uuid.uuid4().hex[:6]}"
    webmail.mail(people.anna)
    write_message(webmail, people.ben, subject, "Diesmal mit Signatur.")
    [arrived] = arrives(sogo, tls_context, people.ben, "INBOX", subject)
    text = plain_text(arrived)
    assert "Diesmal mit Signatur." in text and signature in text, text
    assert text.index("Diesmal mit Signatur.") < text.index(signature)


# --- contacts and calendar: the web interface and CardDAV/CalDAV ----------------------------

def dav(sogo, context: ssl.SSLContext, login: str, method: str, path: str,
        body: str | None = None, headers: dict[str, str] | None = None,
        ) -> tuple[int, bytes]:
    """One WebDAV request with Basic authentication, as phones and Thunderbird send it."""
    credentials = base64.b64encode(f"{login}:{MAILBOX_PASSWORD}".encode()).decode()
    connection = http.client.HTTPSConnection(HOST, sogo.ports.https, context=context,
                                             timeout=60)
    try:
        connection.request(method, f"/SOGo/dav/{login}/{path}",
                           body=body.encode() if body is not None else None,
                           headers={"Authorization": f"Basic {credentials}", **(headers or {})})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


REPORT_HEADERS = {"Depth": "1", "Content-Type": "application/xml; charset=utf-8"}
ADDRESSBOOK_QUERY = """<?xml version="1.0" encoding="utf-8"?>
<C:addressbook-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav">
  <D:prop><D:getetag/><C:address-data/></D:prop>
</C:addressbook-query>"""

CALENDAR_QUERY = """<?xml version="1.0" encoding="utf-8"?>
<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:prop><D:getetag/><C:calendar-data/></D:prop>
  <C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"/></C:comp-filter>
  </C:filter>
</C:calendar-query>"""


def report(sogo, context: ssl.SSLContext, login: str, collection: str, query: str,
           data: str) -> list[str]:
    """The objects of a REPORT on the collection: each one's address-data/calendar-data."""
    status, body = dav(sogo, context, login, "REPORT", collection, query, REPORT_HEADERS)
    assert status == 207, (status, body)
    return [found.text or "" for found in ElementTree.fromstring(body).iter(data)]


def contacts(sogo, context: ssl.SSLContext, login: str) -> list[str]:
    return report(sogo, context, login, "Contacts/personal/", ADDRESSBOOK_QUERY,
                  "{urn:ietf:params:xml:ns:carddav}address-data")


def events(sogo, context: ssl.SSLContext, login: str) -> list[str]:
    return report(sogo, context, login, "Calendar/personal/", CALENDAR_QUERY,
                  "{urn:ietf:params:xml:ns:caldav}calendar-data")


def unfolded(card: str) -> list[str]:
    """An iCalendar/vCard object's content lines, folded lines joined (RFC 5545 3.1)."""
    return card.replace("\r\n", "\n").replace("\n ", "").replace("\n\t", "").splitlines()


def test_a_contact_made_in_the_webmail_is_read_over_carddav(webmail, people, sogo,
                                                             tls_context):
    webmail.log_in(people.anna)
    webmail.open(f"so/{people.anna}/Contacts/view")
    webmail.speed_dial("addressbook.newComponent('card')")
    webmail.type("input[ng-model='editor.card.c_givenname']", "Carla")
    webmail.type("input[ng-model='editor.card.c_sn']", "Kontakt")
    webmail.click("[ng-click='editor.addEmail()']")
    webmail.type("input[ng-model='email.value']", "carla@kontakt.example")
    webmail.click("[ng-click='editor.save(contactForm)']")
    webmail.find("md-list-item[aria-label='Carla Kontakt']")
    webmail.until(lambda _: "carla@kontakt.example" in webmail.find("#detailView").text,
                  what="the contact shown")
    webmail.shot("contacts")

    [card] = [card for card in contacts(sogo, tls_context, people.anna)
              if "carla@kontakt.example" in card]
    lines = unfolded(card)
    assert "N:Kontakt;Carla" in lines, card
    assert any(line.startswith("EMAIL") and line.endswith(":carla@kontakt.example")
               for line in lines), card


def test_an_event_made_in_the_webmail_is_read_over_caldav(webmail, people, sogo,
                                                          tls_context):
    summary = "Zahnarzt Dr. Weiß"     # fixed: it shows in the calendar's screenshot
    webmail.log_in(people.anna)
    webmail.open(f"so/{people.anna}/Calendar/view")
    webmail.speed_dial("list.newComponent($event, 'appointment')")
    webmail.type("input[ng-model='editor.component.summary']", summary)
    webmail.click("md-dialog button[type=submit]")
    webmail.gone("md-dialog")
    webmail.until(lambda _: any(summary in found.text for found in webmail.shown(".sg-event")),
                  what="the event in the week")

    [event] = [event for event in events(sogo, tls_context, people.anna) if summary in event]
    lines = unfolded(event)
    assert f"SUMMARY:{summary}" in lines and "BEGIN:VEVENT" in lines, event
    assert any(line.startswith("DTSTART") for line in lines), event


def test_an_event_put_over_caldav_shows_in_the_calendar(webmail, people, sogo, tls_context):
    summary = "Teambesprechung per CalDAV"
    uid = f"{uuid.uuid4()}"
    day = datetime.now(UTC).date() + timedelta(days=1)
    start = datetime(day.year, day.month, day.day, 9, 0, tzinfo=UTC)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    calendar = "\r\n".join((
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//mailbasic//webmail test//EN",
        "BEGIN:VEVENT", f"UID:{uid}", f"DTSTAMP:{stamp}",
        f"DTSTART:{start:%Y%m%dT%H%M%SZ}",
        f"DTEND:{start + timedelta(hours=1):%Y%m%dT%H%M%SZ}",
        f"SUMMARY:{summary}", "LOCATION:Raum 1", "END:VEVENT", "END:VCALENDAR", ""))
    status, body = dav(sogo, tls_context, people.anna, "PUT", f"Calendar/personal/{uid}.ics",
                       calendar, {"Content-Type": "text/calendar; charset=utf-8",
                                  "If-None-Match": "*"})
    assert status == 201, (status, body)
    assert any(summary in event for event in events(sogo, tls_context, people.anna))

    webmail.log_in(people.anna)
    webmail.open(f"so/{people.anna}/Calendar/view#!/calendar/week/{day:%Y%m%d}")
    block = webmail.until(lambda _: next((found for found in webmail.shown(".sg-event")
                                          if summary in found.text), None),
                          LOAD_TIMEOUT, "the CalDAV event in the week")
    assert "Raum 1" in block.text
    webmail.shot("calendar")


# --- filters -------------------------------------------------------------------------------

def make_folder(sogo, context: ssl.SSLContext, login: str, folder: str) -> None:
    with imaplib.IMAP4_SSL(HOST, sogo.ports.imaps, ssl_context=context) as client:
        client.login(login, MAILBOX_PASSWORD)
        assert client.create(folder)[0] == "OK"
        assert client.subscribe(folder)[0] == "OK"


def test_a_filter_made_in_the_webmail_files_delivered_mail(webmail, people, sogo,
                                                           tls_context):
    make_folder(sogo, tls_context, people.frida, "Projekte")
    webmail.log_in(people.frida)
    webmail.preferences(people.frida, "mailFiltersTab")
    webmail.click("[ng-click='app.addMailFilter($event, preferencesForm)']")
    webmail.type("input[ng-model='filterEditor.filter.name']", "Projekt Apfel")
    webmail.click("[ng-click='filterEditor.addMailFilterRule($event)']")
    webmail.choose("md-dialog md-select[ng-model='rule.field']", "subject")
    webmail.choose("md-dialog md-select[ng-model='rule.operator']", "contains")
    webmail.type("md-dialog input[ng-model='rule.value']", "Projekt Apfel")
    webmail.click("[ng-click='filterEditor.addMailFilterAction($event)']")
    webmail.choose("md-dialog md-select[ng-model='action.method']", "fileinto")
    webmail.choose("md-dialog md-select[ng-model='action.argument']", "Projekte")
    webmail.click("md-dialog button[type=submit]")
    webmail.gone("md-dialog")
    webmail.save_preferences()

    subject = f"Projekt Apfel {uuid.uuid4().hex[:6]}"
    send(sogo, "kunde@remote.example", people.frida, subject)
    [filed] = arrives(sogo, tls_context, people.frida, "Projekte", subject)
    assert filed["Subject"] == subject
    assert not imap_messages(sogo, tls_context, people.frida, "INBOX", subject)
    other = f"Etwas anderes {uuid.uuid4().hex[:6]}"
    send(sogo, "kunde@remote.example", people.frida, other)
    arrives(sogo, tls_context, people.frida, "INBOX", other)


# --- who may log in -------------------------------------------------------------------------

def session_open(webmail: Webmail, login: str) -> bool:
    """Whether the browser's SOGo session still opens the address book (or the login
    form comes instead)."""
    webmail.open(f"so/{login}/Contacts/view")
    return webmail.until(lambda _: "open" if webmail.shown("md-fab-speed-dial") else
                         "closed" if webmail.shown("#passwordField") else None,
                         LOAD_TIMEOUT, "the address book or the login form") == "open"


def caldav_status(sogo, context: ssl.SSLContext, login: str) -> int:
    return dav(sogo, context, login, "REPORT", "Calendar/personal/", CALENDAR_QUERY,
               REPORT_HEADERS)[0]


def test_a_suspended_mailbox_loses_its_open_session_and_caldav(webmail, people, sogo,
                                                                tls_context):
    """Dora is logged in, in the browser and with a CalDAV client, when she is suspended
    (`mailbox suspend`: "open sessions are closed"). Her password was right a moment
    ago: only the suspension can refuse her."""
    webmail.log_in(people.dora)
    assert session_open(webmail, people.dora)
    assert caldav_status(sogo, tls_context, people.dora) == 207
    people.cli.ok("mailbox", "suspend", people.dora, "--reason", "test")
    try:
        after = {"caldav": caldav_status(sogo, tls_context, people.dora),
                 "browser session open": session_open(webmail, people.dora)}
    finally:
        people.cli.ok("mailbox", "resume", people.dora)
    assert after == {"caldav": 401, "browser session open": False}


def test_webmail_switched_off_refuses_the_login_and_on_again_allows_it(webmail, people):
    people.cli.ok("mailbox", "access", people.carl, "--webmail", "off")
    assert not webmail.try_log_in(people.carl)
    people.cli.ok("mailbox", "access", people.carl, "--webmail", "on")
    assert webmail.try_log_in(people.carl)
    webmail.log_out()


def test_a_suspended_mailbox_cannot_log_in_even_after_a_webmail_login(webmail, people):
    """Carl has logged in before (the test above, or here): SOGo keeps a login it has
    accepted in its cache, which must not let a suspended mailbox in (its login form
    checks afresh; its sessions and CalDAV are the test above)."""
    webmail.log_in(people.carl)
    webmail.log_out()
    people.cli.ok("mailbox", "suspend", people.carl, "--reason", "test")
    try:
        assert not webmail.try_log_in(people.carl)
    finally:
        people.cli.ok("mailbox", "resume", people.carl)
    assert webmail.try_log_in(people.carl)

