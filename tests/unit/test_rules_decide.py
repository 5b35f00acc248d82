"""The order of a mailbox's rules: forwarding, sender lists, spam action, filters."""

from dataclasses import replace
from datetime import date

from mailbasic.rules import sieve
from mailbasic.rules.decide import ForwardRule, RecipientRules, VacationRule, decide, listed
from mailbasic.rules.evaluate import Envelope, MessageFacts, compile_script
from mailbasic.rules.folders import folder_address, folder_token
from mailbasic.rules.model import Delivery, Notify

MESSAGE = (b"From: Boss <boss@remote.example>\r\nTo: dora.rules@rules.example\r\n"
           b"Subject: Rechnung 42\r\n\r\nPlease pay.\r\n")

RULES = RecipientRules(
    mailbox_id=1, login="dora.rules@rules.example",
    addresses=frozenset({"dora.rules@rules.example"}), spam_enabled=True,
    spam_threshold=5.0, spam_action="folder", whitelist=frozenset(),
    blacklist=frozenset(), filters=None, forward=None, vacation=None)

FILTERS = compile_script(sieve.parse(
    'require ["fileinto"];\nif header :contains "subject" "Rechnung" '
    '{ fileinto "Rechnungen 2026"; }\n'))


def run(rules=RULES, score=None, senders=("boss@remote.example",), looped=False,
        envelope=Envelope("boss@remote.example", "dora.rules@rules.example")):
    return decide(rules, MessageFacts.parse(MESSAGE), list(senders), score, looped,
                  envelope=envelope)


def test_without_rules_the_message_goes_to_inbox():
    plan = run()
    assert plan.delivery == Delivery(("INBOX",)) and not plan.spam


def test_filters_decide_the_folder():
    assert run(replace(RULES, filters=FILTERS)).delivery.folders == ("Rechnungen 2026",)


def test_spam_over_the_threshold_goes_to_the_spam_folder_before_filters():
    plan = run(replace(RULES, filters=FILTERS), score=5.0)
    assert plan.spam and plan.delivery.folders == ("Spam",)
    assert any("score 5.0 >= 5.0" in reason for reason in plan.reasons)


def test_spam_below_the_threshold_or_with_the_filter_off_is_not_spam():
    assert not run(score=4.9).spam
    assert not run(replace(RULES, spam_enabled=False), score=50).spam


def test_spam_action_delete_discards_and_tag_leaves_it_to_the_filters():
    assert run(replace(RULES, spam_action="delete"), score=9).delivery.discarded
    tagged = run(replace(RULES, spam_action="tag", filters=FILTERS), score=9)
    assert tagged.spam and tagged.delivery.folders == ("Rechnungen 2026",)


def test_whitelist_wins_over_score_and_blacklist_makes_spam():
    whitelisted = replace(RULES, whitelist=frozenset({"@remote.example"}),
                          blacklist=frozenset({"boss@remote.example"}))
    assert not run(whitelisted, score=100).spam
    blacklisted = replace(RULES, blacklist=frozenset({"boss@remote.example"}))
    assert run(blacklisted).delivery.folders == ("Spam",)


def test_listed_matches_addresses_and_whole_domains_only():
    entries = frozenset({"a@x.example", "@y.example"})
    assert listed(["a@x.example"], entries) == "a@x.example"
    assert listed(["b@y.example"], entries) == "b@y.example"
    assert listed(["b@x.example", "c@sub.y.example"], entries) is None


def test_forward_without_copy_ends_there_with_copy_goes_on():
    forwarded = run(replace(RULES, forward=ForwardRule("x@other.example", False),
                            filters=FILTERS))
    assert forwarded.delivery == Delivery((), ("x@other.example",))
    kept = run(replace(RULES, forward=ForwardRule("x@other.example", True), filters=FILTERS))
    assert kept.delivery == Delivery(("Rechnungen 2026",), ("x@other.example",))


def test_a_forwarding_loop_delivers_locally():
    plan = run(replace(RULES, forward=ForwardRule("x@other.example", False)), looped=True)
    assert plan.delivery == Delivery(("INBOX",))
    assert any("loop" in reason for reason in plan.reasons)


def test_folder_tokens_are_ascii_details_of_the_login():
    assert folder_token("Büro") == folder_token("Büro")
    assert folder_token("Büro") != folder_token("Buro")
    assert folder_address("dora.rules@rules.example", "Rechnungen 2026") == \
        f"dora.rules+{folder_token('Rechnungen 2026')}@rules.example"
    assert folder_token("Rechnungen 2026").isascii()


AWAY_FOR_THE_BOSS = compile_script(sieve.parse(
    'require ["envelope", "vacation", "enotify", "fileinto"];\n'
    'if envelope :is "from" "boss@remote.example" {\n'
    '    vacation :days 3 :subject "Away" "I am away";\n'
    '    notify "mailto:dora@mobile.example";\n}\n'
    'if header :contains "subject" "newsletter" { discard; }\n'))
MAILBOX_VACATION = VacationRule(date(2026, 12, 20), date(2027, 1, 6), "Urlaub", "Bis bald.", 7)


def test_a_filters_vacation_and_notify_become_the_plans_reply_and_notifications():
    plan = run(replace(RULES, filters=AWAY_FOR_THE_BOSS))
    assert plan.delivery == Delivery(("INBOX",))
    assert (plan.reply.subject, plan.reply.text, plan.reply.interval_days) == \
        ("Away", "I am away", 3)
    assert plan.reply.first_day == date.min and plan.reply.last_day == date.max
    assert plan.notifications == (Notify("dora@mobile.example"),)
    other = run(replace(RULES, filters=AWAY_FOR_THE_BOSS),
                envelope=Envelope("someone@remote.example", "dora.rules@rules.example"))
    assert other.reply is None and other.notifications == ()


def test_the_filters_vacation_speaks_before_the_mailboxs_which_applies_otherwise():
    both = replace(RULES, filters=AWAY_FOR_THE_BOSS, vacation=MAILBOX_VACATION)
    assert run(both).reply.subject == "Away"
    plan = run(both, envelope=Envelope("someone@remote.example", "dora.rules@rules.example"))
    assert (plan.reply.subject, plan.reply.first_day) == ("Urlaub", date(2026, 12, 20))


def test_no_reply_or_notification_for_spam_or_mail_the_mailbox_does_not_keep():
    rules = replace(RULES, filters=AWAY_FOR_THE_BOSS, vacation=MAILBOX_VACATION,
                    spam_action="tag")
    spam = run(rules, score=9)
    assert spam.spam and spam.reply is None and spam.notifications == ()
    away = run(replace(rules, forward=ForwardRule("x@other.example", False)))
    assert away.reply is None and away.notifications == ()
    newsletter = decide(rules, MessageFacts.parse(MESSAGE.replace(b"Rechnung", b"newsletter")),
                        ["boss@remote.example"], None, False,
                        envelope=Envelope("boss@remote.example", "dora.rules@rules.example"))
    assert newsletter.delivery.discarded and newsletter.reply is None
