"""Reads and writes the Sieve (RFC 5228) that mailbasic's filters can express.

Three steps: the tokenizer turns text into tokens with line numbers, the parser builds
Sieve's generic command/test tree, and the reader turns that tree into model.Script,
checking what Pigeonhole checks (capabilities required before use, argument kinds and
counts). Anything else is refused with its line number: a script never half-loads.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from urllib.parse import quote, unquote

import regex

from mailbasic.errors import N_, Detail, InvalidInput
from mailbasic.rules import model

CAPABILITIES = {"fileinto", "copy", "body", "regex", "mailbox", "envelope", "vacation",
                "enotify"}
# Only for the dates of a ManageSieve client's vacation (parse(..., vacation_dates=True)):
# webmail (SOGo) writes them when the server offers both.
DATE_CAPABILITIES = {"date", "relational"}
ADDRESS_HEADERS = {"from", "sender", "reply-to", "to", "cc", "bcc", "resent-from",
                   "resent-sender", "resent-to", "resent-cc", "resent-bcc", "return-path",
                   "delivered-to", "errors-to", "envelope-to", "disposition-notification-to"}
ENVELOPE_PARTS: tuple[model.EnvelopePart, ...] = ("from", "to")
VACATION_DAYS = range(1, 366)  # as the mailbox's own vacation reply interval
_QUANTIFIERS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}
_ADDRESS = re.compile(r"^[^@\s\"<>]+@[^@\s\"<>]+\.[^@\s\"<>]+$")
_HEADER_NAME = re.compile(r"^[!-9;-~]+$")  # printable ASCII without the colon


class SieveError(InvalidInput):
    """A refusal naming its line. The detail is a template with named values, as every
    refusal's message, so that the portal shows it translated too; values that are
    Sieve's own words (a tag, a quoted string) are passed already formatted."""

    def __init__(self, line: int, template: str, **values: object) -> None:
        super().__init__(N_("line {line}: {detail}"), line=line,
                         detail=Detail(template, values))
        self.line = line


# -- tokens ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Token:
    kind: str     # identifier, tag, number, string, or the punctuation itself
    value: str | int  # int for a number only
    line: int

    def text(self) -> str:
        """The value of any token but a number."""
        if isinstance(self.value, int):
            raise SieveError(self.line, N_("a number where a word or string belongs: "
                                           "{number}"), number=self.value)
        return self.value


_TOKEN = re.compile(r"""
    (?P<space>[ \t\r]+|\n)
  | (?P<hash>\#[^\n]*)
  | (?P<bracket>/\*)
  | (?P<multiline>text:[ \t]*(?:\#[^\n]*)?\r?\n)
  | (?P<string>")
  | (?P<number>[0-9]+[KMG]?(?![A-Za-z0-9_]))
  | (?P<tag>:[A-Za-z_][A-Za-z0-9_]*)
  | (?P<identifier>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<punctuation>[;,()\[\]{}])
""", re.VERBOSE)


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    position, line = 0, 1
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match:
            raise SieveError(line, N_("unexpected character {character}"),
                             character=repr(text[position]))
        kind, start = match.lastgroup, position
        position = match.end()
        if kind == "bracket":
            end = text.find("*/", position)
            if end < 0:
                raise SieveError(line, N_("bracket comment not closed"))
            position = end + 2
        elif kind == "string":
            value, position = _quoted(text, position, line)
            tokens.append(Token("string", value, line))
        elif kind == "multiline":
            value, position = _multiline(text, position, line)
            tokens.append(Token("string", value, line))
        elif kind == "number":
            digits = match.group().rstrip("KMG")
            tokens.append(Token("number", int(digits) * _QUANTIFIERS[match.group()[len(digits):]],
                                line))
        elif kind in ("tag", "identifier"):
            tokens.append(Token(kind, match.group().lower(), line))
        elif kind == "punctuation":
            tokens.append(Token(match.group(), match.group(), line))
        line += text.count("\n", start, position)
    return tokens


def _quoted(text: str, position: int, line: int) -> tuple[str, int]:
    value: list[str] = []
    while position < len(text):
        character = text[position]
        if character == '"':
            return "".join(value), position + 1
        if character == "\\" and position + 1 < len(text):
            position += 1  # RFC 5228 2.4.2: \\ and \" keep the character, others too
            character = text[position]
        value.append(character)
        position += 1
    raise SieveError(line, N_("string not closed"))


def _multiline(text: str, position: int, line: int) -> tuple[str, int]:
    lines: list[str] = []
    while position < len(text):
        end = text.find("\n", position)
        if end < 0:
            break
        current = text[position:end].rstrip("\r")
        position = end + 1
        if current == ".":
            return "".join(lines), position
        lines.append((current[1:] if current.startswith("..") else current) + "\r\n")
    raise SieveError(line, N_("multi-line string not ended by a line holding only '.'"))


# -- the generic tree ------------------------------------------------------------------

@dataclass
class Node:
    """A command or a test: its name, arguments, tests and block, as Sieve's grammar."""
    name: str
    line: int
    arguments: list[Token | list[str]] = field(default_factory=list)
    tests: list[Node] = field(default_factory=list)
    block: list[Node] | None = None


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens, self.index = tokens, 0

    def peek(self) -> Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self, kind: str | None = None) -> Token:
        token = self.peek()
        if token is None:
            line = self.tokens[-1].line if self.tokens else 1
            if kind is None:
                raise SieveError(line, N_("unexpected end of script, expected more"))
            raise SieveError(line, N_("unexpected end of script, expected {kind}"), kind=kind)
        if kind and token.kind != kind:
            raise SieveError(token.line, N_("expected {kind}, found {found}"), kind=repr(kind),
                             found=repr(token.value))
        self.index += 1
        return token

    def commands(self, nested: bool) -> list[Node]:
        commands = []
        while (token := self.peek()) is not None and not (nested and token.kind == "}"):
            commands.append(self.command())
        return commands

    def command(self) -> Node:
        name = self.take("identifier")
        node = Node(name.text(), name.line)
        self.arguments(node)
        if (token := self.peek()) is not None and token.kind == "{":
            self.take("{")
            node.block = self.commands(nested=True)
            self.take("}")
        else:
            self.take(";")
        return node

    def test(self) -> Node:
        name = self.take("identifier")
        node = Node(name.text(), name.line)
        self.arguments(node)
        return node

    def arguments(self, node: Node) -> None:
        while (token := self.peek()) is not None and token.kind in ("tag", "number",
                                                                    "string", "["):
            node.arguments.append(self.string_list() if token.kind == "[" else self.take())
        token = self.peek()
        if token is not None and token.kind == "(":
            self.take("(")
            node.tests.append(self.test())
            while (token := self.peek()) is not None and token.kind == ",":
                self.take(",")
                node.tests.append(self.test())
            self.take(")")
        elif token is not None and token.kind == "identifier":
            node.tests.append(self.test())

    def string_list(self) -> list[str]:
        self.take("[")
        strings = [self.take("string").text()]
        while (token := self.peek()) is not None and token.kind == ",":
            self.take(",")
            strings.append(self.take("string").text())
        self.take("]")
        return strings


# -- from the tree to model.Script -------------------------------------------------------

TagValue = bool | int | str | list[str]  # a flag's True, or the tag's value


@dataclass
class _Arguments:
    """A node's arguments, sorted into tags (with their values) and positionals."""
    node: Node
    tags: dict[str, TagValue] = field(default_factory=dict)
    positional: list[str | int | list[str]] = field(default_factory=list)

    # sort() gave each tag the kind of value it takes (tag_value): these only read it.
    def string(self, tag: str, default: str) -> str:
        value = self.tags.get(tag, default)
        if not isinstance(value, str):
            raise TypeError(f"{tag} holds {value!r}, not a string")
        return value

    def strings(self, tag: str) -> list[str]:
        value = self.tags.get(tag, [])
        if not isinstance(value, list):
            raise TypeError(f"{tag} holds {value!r}, not a string list")
        return value

    def number(self, tag: str, default: int) -> int:
        value = self.tags.get(tag, default)
        if not isinstance(value, int):
            raise TypeError(f"{tag} holds {value!r}, not a number")
        return value


_SIMPLE_COMMANDS: dict[str, Callable[[], model.Command]] = {
    "keep": model.Keep, "discard": model.Discard, "stop": model.Stop}


class _Reader:
    def __init__(self, vacation_dates: bool = False) -> None:
        self.required: set[str] = set()
        self.vacation_dates = vacation_dates
        self.capabilities = CAPABILITIES | (DATE_CAPABILITIES if vacation_dates else set())

    def need(self, capability: str, node: Node, what: str) -> None:
        if capability not in self.required:
            raise SieveError(node.line, N_('{what} needs require "{capability}"'), what=what,
                             capability=capability)

    def script(self, nodes: list[Node]) -> model.Script:
        position = 0
        while position < len(nodes) and nodes[position].name == "require":
            self.require(nodes[position])
            position += 1
        return model.Script(self.block(nodes[position:]))

    def require(self, node: Node) -> None:
        arguments = self.sort(node, {})
        capabilities = self.strings(node, arguments, 1)[0]
        for capability in capabilities:
            if capability not in self.capabilities:
                raise SieveError(node.line, N_("unsupported capability {capability} "
                                               "(supported: {supported})"),
                                 capability=repr(capability),
                                 supported=", ".join(sorted(self.capabilities)))
        self.required.update(capabilities)

    def block(self, nodes: list[Node]) -> model.Block:
        commands: list[model.Command] = []
        for node in nodes:
            if node.name in ("elsif", "else"):
                self.attach(commands, node)
            else:
                commands.append(self.command(node))
        return tuple(commands)

    def attach(self, commands: list[model.Command], node: Node) -> None:
        previous = commands[-1] if commands else None
        if not isinstance(previous, model.If) or previous.otherwise is not None:
            raise SieveError(node.line, N_("{command} without a preceding if"),
                             command=node.name)
        if node.name == "elsif":
            test, block = self.conditional(node)
            commands[-1] = model.If(previous.branches + ((test, block),))
        else:
            self.no_arguments(node)
            commands[-1] = model.If(previous.branches, self.body(node))

    def command(self, node: Node) -> model.Command:
        if node.name == "require":
            raise SieveError(node.line, N_("require must come before every other command"))
        if node.name == "if":
            return model.If((self.conditional(node),))
        if node.block is not None:
            raise SieveError(node.line, N_("{command} takes no block"), command=node.name)
        if node.name in ("keep", "discard", "stop"):
            self.no_arguments(node)
            return _SIMPLE_COMMANDS[node.name]()
        if node.name == "fileinto":
            return self.fileinto(node)
        if node.name == "redirect":
            return self.redirect(node)
        if node.name == "vacation":
            return self.vacation(node)
        if node.name == "notify":
            return self.notify(node)
        raise SieveError(node.line, N_("unsupported command {command}"),
                         command=repr(node.name))

    def conditional(self, node: Node) -> tuple[model.Test, model.Block]:
        if node.arguments or len(node.tests) != 1:
            raise SieveError(node.line, N_("{command} takes exactly one test"),
                             command=node.name)
        return self.test(node.tests[0]), self.body(node)

    def body(self, node: Node) -> model.Block:
        if node.block is None:
            raise SieveError(node.line, N_("{command} needs a block {{ ... }}"),
                             command=node.name)
        return self.block(node.block)

    def fileinto(self, node: Node) -> model.FileInto:
        self.need("fileinto", node, "fileinto")
        arguments = self.sort(node, {":copy": None, ":create": None})
        self.check_tag_capabilities(node, arguments, {":copy": "copy", ":create": "mailbox"})
        folder = self.strings(node, arguments, 1)[0]
        if len(folder) != 1 or not folder[0]:
            raise SieveError(node.line, N_("fileinto takes one folder name"))
        # :create is accepted and implied: mailbasic always creates a missing folder.
        return model.FileInto(folder[0], ":copy" in arguments.tags)

    def redirect(self, node: Node) -> model.Redirect:
        arguments = self.sort(node, {":copy": None})
        self.check_tag_capabilities(node, arguments, {":copy": "copy"})
        address = self.strings(node, arguments, 1)[0]
        if len(address) != 1 or not _ADDRESS.match(address[0].strip()):
            raise SieveError(node.line, N_("redirect needs one address, got {address}"),
                             address=repr(address))
        return model.Redirect(address[0].strip(), ":copy" in arguments.tags)

    def vacation(self, node: Node) -> model.Vacation:
        self.need("vacation", node, "vacation")
        arguments = self.sort(node, {":days": "number", ":subject": "string",
                                     ":addresses": "strings", ":from": "string",
                                     ":handle": "string", ":mime": None})
        # Whole sentences, not a reason put into a frame: translations read better.
        for refused, message in (
                (":from", N_("vacation :from is not supported (the reply comes from the "
                             "mailbox's own address): remove it")),
                (":handle", N_("vacation :handle is not supported (one reply per sender "
                               "and interval, whatever the text): remove it")),
                (":mime", N_("vacation :mime is not supported (the reason is plain text): "
                             "remove it"))):
            if refused in arguments.tags:
                raise SieveError(node.line, message)
        days = arguments.number(":days", 7)
        if days not in VACATION_DAYS:
            raise SieveError(node.line, N_("vacation :days {days}: give 1 to 365 days"),
                             days=days)
        addresses = tuple(arguments.strings(":addresses"))
        for address in addresses:
            if not _ADDRESS.match(address):
                raise SieveError(node.line, N_("vacation :addresses: {address} is not an "
                                               "address (name@domain)"),
                                 address=repr(address))
        reason = self.strings(node, arguments, 1)[0]
        if len(reason) != 1:
            raise SieveError(node.line,
                             N_("vacation takes one reason string, the reply's text"))
        return model.Vacation(reason[0], days, arguments.string(":subject", ""), addresses,
                              node.line)

    def notify(self, node: Node) -> model.Notify:
        self.need("enotify", node, "notify")
        arguments = self.sort(node, {":message": "string", ":importance": "string",
                                     ":from": "string", ":options": "strings"})
        for refused, message in (
                (":from", N_("notify :from is not supported (the notification comes from "
                             "the mailbox's own address): remove it")),
                (":options", N_("notify :options is not supported (mailto: takes no "
                                "options): remove it"))):
            if refused in arguments.tags:
                raise SieveError(node.line, message)
        importance = arguments.string(":importance", "")
        if importance not in ("", "1", "2", "3"):
            raise SieveError(node.line, N_('notify :importance {importance}: give "1" '
                                           '(high), "2" (normal) or "3" (low)'),
                             importance=repr(importance))
        method = self.strings(node, arguments, 1)[0]
        if len(method) != 1:
            raise SieveError(node.line, N_('notify takes one method, "mailto:ADDRESS"'))
        return model.Notify(self.mailto(node, method[0]),
                            arguments.string(":message", ""), importance)

    def mailto(self, node: Node, method: str) -> str:
        """The address of a mailto: URI (RFC 6068) with one address and no ?headers: the
        notification is mailbasic's short message, not one the script composes."""
        scheme, colon, target = method.partition(":")
        if not colon or scheme.lower() != "mailto":
            raise SieveError(node.line, N_('notify method {method} is not supported: use '
                                           '"mailto:ADDRESS"'), method=repr(method))
        if "?" in target or "," in target or not _ADDRESS.match(unquote(target)):
            raise SieveError(node.line, N_("notify {method}: mailto: takes one address "
                                           "(name@domain) and no ?headers"),
                             method=repr(method))
        return unquote(target)

    # -- tests --

    def test(self, node: Node) -> model.Test:
        reader: Callable[[Node], model.Test] | None = getattr(self, f"test_{node.name}", None)
        if reader is None:
            raise SieveError(node.line, N_("unsupported test {test}"), test=repr(node.name))
        if node.block is not None:
            raise SieveError(node.line, N_("test {test} takes no block"), test=node.name)
        return reader(node)

    def test_currentdate(self, node: Node) -> model.Test:
        """Only `currentdate :value "ge"|"le"|... "date" "YYYY-MM-DD"`: a day the vacation
        starts or ends on (SOGo's vacation dates). Weekdays and times cannot be the
        mailbox's vacation, which runs from one whole day to another."""
        if not self.vacation_dates:
            raise SieveError(node.line, N_("unsupported test {test}"), test=repr(node.name))
        self.need("date", node, "currentdate")
        arguments = self.sort(node, {**_MATCHING, ":value": "string", ":count": "string",
                                     ":zone": "string"})
        if set(arguments.tags) != {":value"}:
            raise SieveError(node.line, N_('currentdate: only :value "ge" or "le" (a first '
                                           'or last day of the vacation) is supported'))
        self.need("relational", node, ":value")
        relation = arguments.string(":value", "")
        if not model.is_relation(relation):
            raise SieveError(node.line, N_("currentdate :value {relation}: give ge, le, gt, "
                                           "lt or eq"), relation=repr(relation))
        part, keys = self.strings(node, arguments, 2)
        if part != ["date"]:
            raise SieveError(node.line, N_('currentdate {part}: only "date" is supported (the '
                                           'vacation runs from one whole day to another; no '
                                           'weekdays or times)'), part=repr(part[0] if
                                                                             part else ""))
        if len(keys) != 1:
            raise SieveError(node.line, N_("currentdate takes one date, YYYY-MM-DD"))
        try:
            day = date.fromisoformat(keys[0]) if len(keys[0]) == 10 else None
        except ValueError:
            day = None
        if day is None:
            raise SieveError(node.line, N_("currentdate: {key} is not a date YYYY-MM-DD"),
                             key=repr(keys[0]))
        return model.CurrentDate(relation, day, node.line)

    def test_date(self, node: Node) -> model.Test:
        raise SieveError(node.line, N_("the date test is not supported (a vacation runs "
                                       "whole days, not from or until a time of day)")
                         if self.vacation_dates else N_("unsupported test {test}"),
                         test=repr(node.name))

    def test_true(self, node: Node) -> model.Test:
        self.no_arguments(node)
        return model.Constant(True)

    def test_false(self, node: Node) -> model.Test:
        self.no_arguments(node)
        return model.Constant(False)

    def test_not(self, node: Node) -> model.Test:
        if node.arguments or len(node.tests) != 1:
            raise SieveError(node.line, N_("not takes exactly one test"))
        return model.Not(self.test(node.tests[0]))

    def test_allof(self, node: Node) -> model.Test:
        return model.AllOf(self.test_list(node))

    def test_anyof(self, node: Node) -> model.Test:
        return model.AnyOf(self.test_list(node))

    def test_list(self, node: Node) -> tuple[model.Test, ...]:
        if node.arguments or not node.tests:
            raise SieveError(node.line, N_("{test} takes a list of tests ( ... )"),
                             test=node.name)
        return tuple(self.test(inner) for inner in node.tests)

    def test_exists(self, node: Node) -> model.Test:
        arguments = self.sort(node, {})
        return model.ExistsTest(tuple(self.header_names(node, self.strings(node, arguments, 1)[0])))

    def test_size(self, node: Node) -> model.Test:
        arguments = self.sort(node, {":over": None, ":under": None})
        if len(arguments.tags) != 1 or len(arguments.positional) != 1 \
                or not isinstance(arguments.positional[0], int):
            raise SieveError(node.line, N_("size takes :over or :under and a number"))
        return model.SizeTest(":over" in arguments.tags, arguments.positional[0])

    def test_header(self, node: Node) -> model.Test:
        arguments = self.sort(node, _MATCHING)
        match, comparator = self.matching(node, arguments)
        names, keys = self.strings(node, arguments, 2)
        return model.HeaderTest(tuple(self.header_names(node, names)), tuple(keys),
                                match, comparator)

    def test_address(self, node: Node) -> model.Test:
        arguments = self.sort(node, {**_MATCHING, ":all": None, ":localpart": None,
                                     ":domain": None})
        match, comparator = self.matching(node, arguments)
        parts = [tag for tag in (":all", ":localpart", ":domain") if tag in arguments.tags]
        if len(parts) > 1:
            raise SieveError(node.line, N_("address takes one address part"))
        names, keys = self.strings(node, arguments, 2)
        for name in self.header_names(node, names):
            if name.lower() not in ADDRESS_HEADERS:
                raise SieveError(node.line, N_("address test on {header}, which holds no "
                                               "addresses"), header=repr(name))
        return model.AddressTest(tuple(names), tuple(keys), match,
                                 _ADDRESS_PARTS[parts[0] if parts else ":all"], comparator)

    def test_envelope(self, node: Node) -> model.Test:
        self.need("envelope", node, "envelope")
        arguments = self.sort(node, {**_MATCHING, ":all": None, ":localpart": None,
                                     ":domain": None})
        match, comparator = self.matching(node, arguments)
        parts = [tag for tag in (":all", ":localpart", ":domain") if tag in arguments.tags]
        if len(parts) > 1:
            raise SieveError(node.line, N_("envelope takes one address part"))
        names, keys = self.strings(node, arguments, 2)
        envelope_parts: list[model.EnvelopePart] = []
        for name in names:
            envelope_part = name.lower()
            if not model.is_envelope_part(envelope_part):
                raise SieveError(node.line, N_('envelope part {part} is not supported '
                                               '(use "from" or "to")'), part=repr(name))
            envelope_parts.append(envelope_part)
        return model.EnvelopeTest(tuple(envelope_parts), tuple(keys), match,
                                  _ADDRESS_PARTS[parts[0] if parts else ":all"], comparator)

    def test_body(self, node: Node) -> model.Test:
        self.need("body", node, "body")
        arguments = self.sort(node, {**_MATCHING, ":text": None, ":raw": None,
                                     ":content": None})
        for refused in (":raw", ":content"):
            if refused in arguments.tags:
                raise SieveError(node.line, N_("body {tag} is not supported (only :text)"),
                                 tag=refused)
        match, comparator = self.matching(node, arguments)
        keys = self.strings(node, arguments, 1)[0]
        return model.BodyTest(tuple(keys), match, comparator)

    # -- arguments --

    def matching(self, node: Node,
                 arguments: _Arguments) -> tuple[model.MatchType, model.Comparator]:
        types = [tag for tag in _MATCH_TYPES if tag in arguments.tags]
        if len(types) > 1:
            raise SieveError(node.line, N_("more than one match type"))
        match = _MATCH_TYPES[types[0]] if types else "is"
        comparator = arguments.string(":comparator", "i;ascii-casemap")
        if not model.is_comparator(comparator):
            raise SieveError(node.line, N_("unsupported comparator {comparator}"),
                             comparator=repr(comparator))
        if match == "regex":
            self.need("regex", node, ":regex")
        return match, comparator

    def sort(self, node: Node, allowed: dict[str, str | None]) -> _Arguments:
        """allowed: tag -> None (a flag), or the kind of the tag's value: "string",
        "strings" (a string list, or one string) or "number"."""
        arguments, items = _Arguments(node), iter(node.arguments)
        for item in items:
            if isinstance(item, Token) and item.kind == "tag":
                if item.value not in allowed:
                    raise SieveError(item.line, N_("{name} does not take {tag}"),
                                     name=node.name, tag=item.value)
                if item.value in arguments.tags:
                    raise SieveError(item.line, N_("{tag} given twice"), tag=item.value)
                if arguments.positional:
                    raise SieveError(item.line, N_("{tag} must come before the other "
                                                   "arguments"), tag=item.value)
                arguments.tags[item.value] = self.tag_value(node, item, allowed, items)
            else:
                arguments.positional.append(item.value if isinstance(item, Token) else item)
        if node.tests and node.name not in ("if", "elsif", "not", "allof", "anyof"):
            raise SieveError(node.line, N_("{name} takes no test"), name=node.name)
        return arguments

    def tag_value(self, node: Node, tag: Token, allowed: dict[str, str | None],
                  items: Iterator[Token | list[str]]) -> TagValue:
        kind = allowed[tag.text()]
        if kind is None:
            return True
        value = next(items, None)
        if kind == "strings" and isinstance(value, list):
            return value
        if kind == "strings" and isinstance(value, Token) and value.kind == "string":
            return [value.text()]
        if kind == "number" and isinstance(value, Token) and value.kind == "number":
            return value.value
        if kind == "string" and isinstance(value, Token) and value.kind == "string":
            return value.value
        refusal = {"strings": N_("{tag} needs a string list"),
                   "number": N_("{tag} needs a number")}.get(kind, N_("{tag} needs a string"))
        raise SieveError(tag.line, refusal, tag=tag.value)

    def strings(self, node: Node, arguments: _Arguments, count: int) -> list[list[str]]:
        values = arguments.positional
        if len(values) != count:
            raise SieveError(node.line, N_("{name} takes {count} string argument(s), "
                                           "got {got}"),
                             name=node.name, count=count, got=len(values))
        result = []
        for value in values:
            if isinstance(value, int):
                raise SieveError(node.line, N_("{name}: a number where a string belongs"),
                                 name=node.name)
            result.append(value if isinstance(value, list) else [value])
        for key in (result[-1] if node.name in ("header", "address", "envelope", "body")
                    else []):
            if arguments.tags.get(":regex"):
                self.check_regex(node, key)
        return result

    def check_regex(self, node: Node, pattern: str) -> None:
        try:
            regex.compile(pattern, regex.POSIX)
        except regex.error as error:
            # The regex library's reason stays English: it has no translations.
            raise SieveError(node.line, N_("invalid regular expression {pattern}: {error}"),
                             pattern=repr(pattern), error=str(error)) from None

    def header_names(self, node: Node, names: list[str]) -> list[str]:
        for name in names:
            if not _HEADER_NAME.match(name):
                raise SieveError(node.line, N_("{header} is not a header name"),
                                 header=repr(name))
        return names

    def check_tag_capabilities(self, node: Node, arguments: _Arguments,
                               needs: dict[str, str]) -> None:
        for tag, capability in needs.items():
            if tag in arguments.tags:
                self.need(capability, node, tag)

    def no_arguments(self, node: Node) -> None:
        if node.arguments or node.tests:
            raise SieveError(node.line, N_("{name} takes no arguments"), name=node.name)


_MATCH_TYPES: dict[str, model.MatchType] = {
    ":is": "is", ":contains": "contains", ":matches": "matches", ":regex": "regex"}
_ADDRESS_PARTS: dict[str, model.AddressPart] = {
    ":all": "all", ":localpart": "localpart", ":domain": "domain"}

_MATCHING: dict[str, str | None] = {":is": None, ":contains": None, ":matches": None,
                                    ":regex": None, ":comparator": "string"}


def parse(text: str, *, vacation_dates: bool = False) -> model.Script:
    """The Script that TEXT means, or SieveError naming the line of the first problem.
    vacation_dates: currentdate tests may stand (ManageSieve, which takes them out as the
    dates of the mailbox's vacation; what it leaves must parse without them)."""
    if len(text) > 1_000_000:
        raise SieveError(1, N_("script too long"))
    try:
        nodes = _Parser(tokenize(text)).commands(nested=False)
    except RecursionError:
        raise SieveError(1, N_("script nested too deeply")) from None
    try:
        return _Reader(vacation_dates).script(nodes)
    except RecursionError:
        raise SieveError(1, N_("script nested too deeply")) from None


# -- writing -----------------------------------------------------------------------------

def render(script: model.Script) -> str:
    """Canonical Sieve for SCRIPT: parse(render(script)) == script."""
    capabilities = sorted(_capabilities(script.commands))
    head = [f"require [{', '.join(_quote(name) for name in capabilities)}];"] \
        if capabilities else []
    return "\n".join(head + _render_block(script.commands, 0)) + "\n" if (
        head or script.commands) else ""


def _capabilities(commands: model.Block) -> set[str]:
    found: set[str] = set()
    for command in commands:
        if isinstance(command, model.If):
            for test, block in command.branches:
                found |= _test_capabilities(test) | _capabilities(block)
            found |= _capabilities(command.otherwise or ())
        elif isinstance(command, model.FileInto):
            found |= {"fileinto"} | ({"copy"} if command.copy else set())
        elif isinstance(command, model.Redirect) and command.copy:
            found.add("copy")
        elif isinstance(command, model.Vacation):
            found.add("vacation")
        elif isinstance(command, model.Notify):
            found.add("enotify")
    return found


def _test_capabilities(test: model.Test) -> set[str]:
    if isinstance(test, (model.AllOf, model.AnyOf)):
        return set().union(*(_test_capabilities(inner) for inner in test.tests))
    if isinstance(test, model.Not):
        return _test_capabilities(test.test)
    if isinstance(test, model.CurrentDate):
        return set(DATE_CAPABILITIES)
    found = {"body"} if isinstance(test, model.BodyTest) else set()
    if isinstance(test, model.EnvelopeTest):
        found.add("envelope")
    if getattr(test, "match", None) == "regex":
        found.add("regex")
    return found


def _render_block(commands: model.Block, depth: int) -> list[str]:
    indent = "    " * depth
    lines = []
    for command in commands:
        if isinstance(command, model.If):
            lines += _render_if(command, depth)
        elif isinstance(command, model.FileInto):
            lines.append(f"{indent}fileinto {':copy ' if command.copy else ''}"
                         f"{_quote(command.folder)};")
        elif isinstance(command, model.Redirect):
            lines.append(f"{indent}redirect {':copy ' if command.copy else ''}"
                         f"{_quote(command.address)};")
        elif isinstance(command, model.Vacation):
            lines.append(f"{indent}{_render_vacation(command)};")
        elif isinstance(command, model.Notify):
            lines.append(f"{indent}{_render_notify(command)};")
        else:
            lines.append(f"{indent}{type(command).__name__.lower()};")
    return lines


def _render_vacation(command: model.Vacation) -> str:
    words = ["vacation", f":days {command.days}"]
    if command.subject:
        words.append(f":subject {_quote(command.subject)}")
    if command.addresses:
        words.append(f":addresses {_list(command.addresses)}")
    return " ".join(words + [_quote(command.reason)])


def _render_notify(command: model.Notify) -> str:
    words = ["notify"]
    if command.importance:
        words.append(f":importance {_quote(command.importance)}")
    if command.message:
        words.append(f":message {_quote(command.message)}")
    return " ".join(words + [_quote("mailto:" + quote(command.address, safe="@+!$'*;="))])


def _render_if(command: model.If, depth: int) -> list[str]:
    indent = "    " * depth
    lines = []
    for number, (test, block) in enumerate(command.branches):
        opener = "if" if number == 0 else "} elsif"
        lines.append(f"{indent}{opener} {_render_test(test)} {{")
        lines += _render_block(block, depth + 1)
    if command.otherwise is not None:
        lines.append(f"{indent}}} else {{")
        lines += _render_block(command.otherwise, depth + 1)
    lines.append(f"{indent}}}")
    return lines


def _render_test(test: model.Test) -> str:
    if isinstance(test, model.Constant):
        return "true" if test.value else "false"
    if isinstance(test, model.Not):
        return f"not {_render_test(test.test)}"
    if isinstance(test, (model.AllOf, model.AnyOf)):
        name = "allof" if isinstance(test, model.AllOf) else "anyof"
        return f"{name} ({', '.join(_render_test(inner) for inner in test.tests)})"
    if isinstance(test, model.ExistsTest):
        return f"exists {_list(test.headers)}"
    if isinstance(test, model.SizeTest):
        return f"size {':over' if test.over else ':under'} {test.limit}"
    if isinstance(test, model.CurrentDate):
        return f'currentdate :value "{test.relation}" "date" "{test.day.isoformat()}"'
    return _render_comparison(test)


def _render_comparison(test: model.HeaderTest | model.AddressTest | model.EnvelopeTest
                       | model.BodyTest) -> str:
    words = [type(test).__name__[:-4].lower()]
    if isinstance(test, (model.AddressTest, model.EnvelopeTest)) and test.part != "all":
        words.append(f":{test.part}")
    if test.comparator != "i;ascii-casemap":
        words.append(f":comparator {_quote(test.comparator)}")
    words.append(f":{test.match}")
    if isinstance(test, model.BodyTest):
        words.append(":text")
    elif isinstance(test, model.EnvelopeTest):
        words.append(_list(test.envelope_parts))
    else:
        words.append(_list(test.headers))
    words.append(_list(test.keys))
    return " ".join(words)


def _list(strings: tuple[str, ...]) -> str:
    if len(strings) == 1:
        return _quote(strings[0])
    return "[" + ", ".join(_quote(string) for string in strings) + "]"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
