"""Refusals of the service layer. Each kind has its own CLI exit code (see README)."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


class MailbasicError(Exception):
    """A refusal with a message meant for the person at the command line or in the
    portal. Written as a template with named values ("{address} is taken",
    address=...), it can be shown in the customer's language: the portal's catalogues
    translate the template, then fill it in."""

    exit_code = 1

    def __init__(self, message: str, **values: object) -> None:
        super().__init__(message.format(**values) if values else message)
        self.template = message
        self.values = values


@dataclass(frozen=True)
class Detail:
    """A part of a refusal that is itself a template with named values, passed as one of
    the refusal's values (the Sieve reader's "line {line}: {detail}"), so that the portal
    translates it too. str() is the English text, as the CLI and the API show it."""

    template: str
    values: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Read-only, so that a refusal cannot change once raised.
        object.__setattr__(self, "values", MappingProxyType(dict(self.values)))

    def __str__(self) -> str:
        # As MailbasicError: a template without values is the text itself.
        return self.template.format(**self.values) if self.values else self.template


class ConfigError(MailbasicError):
    exit_code = 3


class NotFound(MailbasicError):
    exit_code = 4


class AlreadyExists(MailbasicError):
    """The name or address is taken."""

    exit_code = 5


class LimitReached(MailbasicError):
    exit_code = 6


class InvalidInput(MailbasicError):
    """Bad syntax: an address, domain, size or password that cannot be used."""

    exit_code = 7


class DatabaseUnavailable(MailbasicError):
    exit_code = 8


class NotAllowed(MailbasicError):
    """Well-formed, but the account rules forbid it (e.g. removing a primary address)."""

    exit_code = 9


class Conflict(MailbasicError):
    """A concurrent change got there first; running the command again is safe."""

    exit_code = 10


def N_(template: str) -> str:
    """Marks a refusal's template for the portal's catalogues (gettext's usual name for
    "mark, do not translate yet"; pybabel extracts it by default): the English text stays
    as it is here, and the portal translates it where it shows the refusal."""
    return template
