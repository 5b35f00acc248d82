"""The provider's HTTP SMS gateway: one POST per message, and what its answer means."""

from __future__ import annotations

import base64
import enum
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from http.client import HTTPMessage
from string import Template
from typing import IO

from mailbasic.config import Settings, SmsContentType
from mailbasic.errors import ConfigError

MAX_RESPONSE = 64 * 1024
_ESCAPES: dict[SmsContentType, Callable[[str], str]] = {
    "application/json": lambda value: json.dumps(value)[1:-1],
    "application/x-www-form-urlencoded": urllib.parse.quote_plus}


@dataclass(frozen=True)
class GatewayConfig:
    """Checked when the settings are loaded (see mailbasic.config)."""
    url: str
    username: str | None = None
    password: str | None = None
    body_template: str = '{"to": "$to", "text": "$text"}'
    content_type: SmsContentType = "application/json"
    timeout: float = 10.0

    @classmethod
    def from_settings(cls, settings: Settings) -> GatewayConfig:
        if settings.sms_gateway_url is None:
            raise ConfigError("no SMS gateway: set sms.gateway_url in the config file")
        return cls(settings.sms_gateway_url, settings.sms_username, settings.sms_password,
                   settings.sms_body_template, settings.sms_content_type,
                   settings.sms_timeout)


class Outcome(enum.Enum):
    SENT = "sent"
    RETRY = "retry"        # temporary: timeout, refused or reset connection, 5xx, 429
    REJECTED = "rejected"  # permanent: other 4xx, or a redirect (not followed)


@dataclass(frozen=True)
class Delivery:
    outcome: Outcome
    detail: str


def sms_text(sender: str, subject: str, limit: int = 160) -> str:
    """"From SENDER: SUBJECT" on one line, cut to `limit` characters with an ellipsis."""
    text = re.sub(r"\s+", " ", f"From {sender}: {subject}")
    text = "".join(character for character in text if character.isprintable()).strip()
    return text if len(text) <= limit else text[:limit - 1] + "…"


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req: urllib.request.Request, fp: IO[bytes], code: int,
                         msg: str, headers: HTTPMessage,
                         newurl: str) -> urllib.request.Request | None:
        return None  # a gateway that redirects is misconfigured: report, do not follow


def send(config: GatewayConfig, to: str, text: str) -> Delivery:
    escape = _ESCAPES[config.content_type]
    body = Template(config.body_template).safe_substitute(to=escape(to), text=escape(text))
    request = urllib.request.Request(config.url, data=body.encode(), method="POST",
                                     headers={"Content-Type": config.content_type})
    if config.username and config.password:
        token = base64.b64encode(f"{config.username}:{config.password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    opener = urllib.request.build_opener(_NoRedirects)
    try:
        with opener.open(request, timeout=config.timeout) as response:
            response.read(MAX_RESPONSE)
            return Delivery(Outcome.SENT, f"HTTP {response.status}")
    except urllib.error.HTTPError as error:
        error.close()
        return Delivery(_classify(error.code), f"HTTP {error.code} {error.reason}")
    except TimeoutError:
        return Delivery(Outcome.RETRY, f"timed out after {config.timeout:g} s")
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        return Delivery(Outcome.RETRY, f"no connection: {reason}")


def _classify(status: int) -> Outcome:
    if status == 429 or status >= 500:
        return Outcome.RETRY
    return Outcome.REJECTED
