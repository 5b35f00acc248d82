"""Forward-loop tokens: keyed, so an outsider can neither forge one nor confirm a guess."""

import hashlib

from mailbasic.rules.loops import LoopTokens


def test_a_token_is_not_the_plain_hash_of_the_address():
    token = LoopTokens(("first secret, sixteen plus",)).token("bob@example.net")
    assert token != hashlib.sha256(b"bob@example.net").hexdigest()[:16]
    assert token != LoopTokens(("another secret, sixteen+",)).token("bob@example.net")


def test_tokens_of_every_secret_are_recognised_and_the_first_one_writes():
    old = LoopTokens(("old secret, sixteen plus",))
    rotated = LoopTokens(("new secret, sixteen plus", "old secret, sixteen plus"))
    written_before = old.token("Bob@Example.NET")
    assert rotated.seen("bob@example.net", {written_before})
    assert rotated.token("bob@example.net") != written_before
    assert not rotated.seen("carol@example.net", {written_before})
