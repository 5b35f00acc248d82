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


def test_multiline_strings_and_escapes():
    script = parse('require "fileinto";\nif header :is "subject" text:\n..dotted\nplain\n.\n'
                   '{ fileinto "a\\"b\\\\c\\d"; }\n')
    test, block = script.commands[0].branches[0]
    assert test.keys == (".dotted\r\nplain\r\n",)
    assert block == (model.FileInto('a"b\\cd'),)


@pytest.mark.parametrize("text, line, words", [
    ('require ["fileinto"];\n\nvacation "away";\n', 3, "unsupported command 'vacation'"),
    ('require ["vacation"];\n', 1, "unsupported capability"),
    ('if true {\n  fileinto "x";\n}\n', 2, 'needs require "fileinto"'),
    ('require "fileinto";\nif true { fileinto :copy "x"; }\n', 2, 'needs require "copy"'),
    ('if body :contains "x" { stop; }\n', 1, 'needs require "body"'),
    ('if header :regex "subject" "x" { stop; }\n', 1, 'needs require "regex"'),
    ('require "regex";\nif header :regex "subject" "(" { stop; }\n', 2, "invalid regular"),
    ('require "body";\nif body :raw "x" { stop; }\n', 2, "only :text"),
    ('if address "subject" "x" { stop; }\n', 1, "holds no addresses"),
    ('if envelope "to" "x" { stop; }\n', 1, "unsupported test 'envelope'"),
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
    kind = generator.randrange(8 if depth < 3 else 5)
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
    inner = tuple(random_test(generator, depth + 1) for _ in range(generator.randint(1, 3)))
    return [model.AllOf(inner), model.AnyOf(inner), model.Not(inner[0])][kind - 5]


def random_block(generator: random.Random, depth: int) -> model.Block:
    commands = []
    for _ in range(generator.randint(0 if depth else 1, 3)):
        choice = generator.randrange(7 if depth < 2 else 5)
        if choice == 0:
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
