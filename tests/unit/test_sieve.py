"""Reading and writing Sieve: what is accepted, what is refused (with its line), and that
rendering then reading gives back the same script."""

import random

import pytest

from mailbasic.errors import InvalidInput
from mailbasic.rules import model
from mailbasic.rules.sieve import SieveError, parse, render


def test_a_full_script_reads_into_the_model():
    script = parse('''require ["fileinto", "copy", "body", "regex", "mailbox"];
# a comment
/* a bracket
   comment */
if allof (header :comparator "i;octet" :is "X-Tag" "A", not exists ["x-a", "x-b"]) {
    fileinto :create "Rechnungen 2026";
} elsif anyof (address :localpart :matches "from" "boss*", body :text :contains "büro") {
    redirect :copy "x@other.example";
    stop;
} else {
    keep;
}
if size :under 10K { discard; }
if header :regex "subject" "^[0-9]+$" { fileinto :copy "Zahlen"; }
''')
    first, size, numbers = script.commands
    assert first.branches[0][0] == model.AllOf((
        model.HeaderTest(("X-Tag",), ("A",), "is", "i;octet"),
        model.Not(model.ExistsTest(("x-a", "x-b")))))
    assert first.branches[0][1] == (model.FileInto("Rechnungen 2026"),)
    assert first.branches[1][1] == (model.Redirect("x@other.example", copy=True), model.Stop())
    assert first.otherwise == (model.Keep(),)
    assert size.branches[0][0] == model.SizeTest(over=False, limit=10 * 1024)
    assert numbers.branches[0][0].match == "regex"


def test_envelope_vacation_and_notify_read_into_the_model():
    script = parse(
        'require ["envelope", "vacation", "enotify"];\n'
        'if envelope :domain :matches ["from", "TO"] "*.example" {\n'
        '    vacation :days 3 :subject "Away" :addresses ["d@other.example"] "I am away";\n'
        '    notify :importance "1" :message "Boss" "mailto:dora%2Bsms@mobile.example";\n'
        '}\n'
        'if envelope :comparator "i;octet" :contains "from" "" { stop; }\n')
    first, second = script.commands
    assert first.branches[0][0] == model.EnvelopeTest(("from", "to"), ("*.example",),
                                                      "matches", "domain")
    assert first.branches[0][1] == (
        model.Vacation("I am away", 3, "Away", ("d@other.example",)),
        model.Notify("dora+sms@mobile.example", "Boss", "1"))
    assert second.branches[0][0] == model.EnvelopeTest(("from",), ("",), "contains", "all",
                                                       "i;octet")


def test_written_sieve_requires_what_it_uses():
    script = model.Script((model.If(((model.EnvelopeTest(("to",), ("x",)),
                                      (model.Vacation("away"), model.Notify("a@b.example"))),)),))
    assert render(script).startswith('require ["enotify", "envelope", "vacation"];\n')
    assert 'vacation :days 7 "away";' in render(script)
    assert 'notify "mailto:a@b.example";' in render(script)


def test_multiline_strings_and_escapes():
    script = parse('require "fileinto";\nif header :is "subject" text:\n..dotted\nplain\n.\n'
                   '{ fileinto "a\\"b\\\\c\\d"; }\n')
    test, block = script.commands[0].branches[0]
    assert test.keys == (".dotted\r\nplain\r\n",)
    assert block == (model.FileInto('a"b\\cd'),)


@pytest.mark.parametrize("text, line, words", [
    ('require ["fileinto"];\n\nreject "no";\n', 3, "unsupported command 'reject'"),
    ('require ["notify"];\n', 1, "unsupported capability 'notify'"),
    ('vacation "away";\n', 1, 'needs require "vacation"'),
    ('require "vacation";\nvacation :from "x@y.example" "away";\n', 2,
     "vacation :from is not supported"),
    ('require "vacation";\n\nvacation :days 0 "away";\n', 3, "give 1 to 365 days"),
    ('require "vacation";\nvacation :days "3" "away";\n', 2, ":days needs a number"),
    ('require "vacation";\nvacation :addresses "me" "away";\n', 2, "'me' is not an address"),
    ('require "vacation";\nvacation "one" "two";\n', 2, "vacation takes 1 string argument"),
    ('notify "mailto:a@b.example";\n', 1, 'needs require "enotify"'),
    ('require "enotify";\nnotify "xmpp:a@b.example";\n', 2,
     "notify method 'xmpp:a@b.example' is not supported"),
    ('require "enotify";\nnotify "mailto:a@b.example?subject=x";\n', 2, "no ?headers"),
    ('require "enotify";\nnotify "mailto:a@b.example,c@d.example";\n', 2, "one address"),
    ('require "enotify";\nnotify :importance "4" "mailto:a@b.example";\n', 2,
     ":importance '4'"),
    ('require "enotify";\nnotify :options ["x"] "mailto:a@b.example";\n', 2,
     ":options is not supported"),
    ('if true {\n  fileinto "x";\n}\n', 2, 'needs require "fileinto"'),
    ('require "fileinto";\nif true { fileinto :copy "x"; }\n', 2, 'needs require "copy"'),
    ('if body :contains "x" { stop; }\n', 1, 'needs require "body"'),
    ('if header :regex "subject" "x" { stop; }\n', 1, 'needs require "regex"'),
    ('require "regex";\nif header :regex "subject" "(" { stop; }\n', 2, "invalid regular"),
    ('require "body";\nif body :raw "x" { stop; }\n', 2, "only :text"),
    ('if address "subject" "x" { stop; }\n', 1, "holds no addresses"),
    ('if envelope "to" "x" { stop; }\n', 1, 'needs require "envelope"'),
    ('require "envelope";\nif envelope "auth" "x" { stop; }\n', 2,
     "envelope part 'auth' is not supported"),
    ('require "envelope";\nif envelope :all :domain "to" "x" { stop; }\n', 2,
     "one address part"),
    ('redirect "not an address";\n', 1, "redirect needs one address"),
    ('keep\n', 1, "unexpected end"),
    ('if true { keep; }\nelse { keep; }\nelse { keep; }\n', 3, "else without a preceding if"),
    ('keep;\nrequire "fileinto";\n', 2, "require must come before"),
    ('if header :is :contains "a" "b" { stop; }\n', 1, "more than one match type"),
    ('if header "a" { stop; }\n', 1, "takes 2 string argument"),
    ('if size 100 { stop; }\n', 1, ":over or :under"),
    ('if header :is "subject" "x" { stop; }\n"unterminated\n', 2, "string not closed"),
    ('/* open comment\n', 1, "bracket comment not closed"),
    ('stop; @\n', 1, "unexpected character"),
])
def test_refusals_name_the_line(text, line, words):
    with pytest.raises(SieveError) as refused:
        parse(text)
    assert refused.value.line == line
    assert words in str(refused.value) and str(refused.value).startswith(f"line {line}: ")
    assert isinstance(refused.value, InvalidInput)


def test_random_text_gives_a_refusal_or_a_script_never_another_exception():
    generator = random.Random(5228)
    alphabet = 'if{}()[];,:"\\ \n#/*abc123KMG-=@.' + "ü"
    for _ in range(3000):
        text = "".join(generator.choice(alphabet) for _ in range(generator.randint(0, 40)))
        try:
            parse(text)
        except SieveError:
            pass


def test_deep_nesting_is_refused_not_crashed():
    with pytest.raises(SieveError):
        parse("if " + "not " * 5000 + "true { stop; }")


def random_test(generator: random.Random, depth: int) -> model.Test:
    kind = generator.randrange(9 if depth < 3 else 6)
    match = generator.choice(["is", "contains", "matches", "regex"])
    strings = (("Büro", "x", "^a+[0-9]$") if match == "regex"
               else ("Büro", 'a"b', "back\\slash", "x", "*wild?*", ""))
    keys = tuple(generator.sample(strings, generator.randint(1, 2)))
    comparator = generator.choice(["i;ascii-casemap", "i;octet"])
    if kind == 0:
        return model.HeaderTest(("subject", "x-b")[:generator.randint(1, 2)], keys, match,
                                comparator)
    if kind == 1:
        return model.AddressTest(("from",), keys, match,
                                 generator.choice(["all", "localpart", "domain"]), comparator)
    if kind == 2:
        return model.BodyTest(keys, match, comparator)
    if kind == 3:
        return model.SizeTest(generator.random() < 0.5, generator.randint(0, 10**9))
    if kind == 4:
        return generator.choice([model.ExistsTest(("x-a",)), model.Constant(True),
                                 model.Constant(False)])
    if kind == 5:
        parts = tuple(generator.sample(("from", "to"), generator.randint(1, 2)))
        return model.EnvelopeTest(parts, keys, match,
                                  generator.choice(["all", "localpart", "domain"]), comparator)
    inner = tuple(random_test(generator, depth + 1) for _ in range(generator.randint(1, 3)))
    return [model.AllOf(inner), model.AnyOf(inner), model.Not(inner[0])][kind - 6]


def random_block(generator: random.Random, depth: int) -> model.Block:
    commands = []
    for _ in range(generator.randint(0 if depth else 1, 3)):
        choice = generator.randrange(9 if depth < 2 else 7)
        if choice == 5:
            commands.append(model.Vacation(
                generator.choice(["Bin weg.", 'a "quoted"\r\nreason']),
                generator.randint(1, 365), generator.choice(["", "Büro zu"]),
                tuple(generator.sample(["a@b.example", "c@d.example"],
                                       generator.randint(0, 2)))))
        elif choice == 6:
            commands.append(model.Notify(generator.choice(["a@b.example", "x+y%z@b.example"]),
                                         generator.choice(["", "Neue Post"]),
                                         generator.choice(["", "1", "2", "3"])))
        elif choice == 0:
            commands.append(model.FileInto(generator.choice(["Büro", "Rechnungen 2026", 'q"t']),
                                           generator.random() < 0.5))
        elif choice == 1:
            commands.append(model.Redirect("someone@other.example", generator.random() < 0.5))
        elif choice < 5:
            commands.append([model.Keep(), model.Discard(), model.Stop()][choice - 2])
        else:
            branches = tuple((random_test(generator, 0), random_block(generator, depth + 1))
                             for _ in range(generator.randint(1, 3)))
            otherwise = random_block(generator, depth + 1) if generator.random() < 0.5 else None
            commands.append(model.If(branches, otherwise))
    return tuple(commands)


def test_render_then_parse_gives_the_same_script():
    generator = random.Random(3894)
    for _ in range(500):
        script = model.Script(random_block(generator, 0))
        assert parse(render(script)) == script, render(script)


def test_an_empty_script_renders_empty():
    assert render(model.Script()) == "" and parse("") == model.Script()
