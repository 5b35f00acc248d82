"""The same wrong password from the same client for the same login counts once: the
memory of what was counted, bounded."""

from mailbasic.auth_policy.guard import Attempt, RepeatedPasswords


def attempt(password_hash: str, address: str = "192.0.2.7",
            login: str = "alice@example.net") -> Attempt:
    return Attempt(login, address, "pop3", password_hash=password_hash)


def test_a_counted_password_is_a_repeat_for_that_client_and_login_only():
    repeats = RepeatedPasswords()
    assert not repeats.seen(attempt("0badf00d"))
    repeats.remember(attempt("0badf00d"))
    assert repeats.seen(attempt("0badf00d"))
    assert not repeats.seen(attempt("0badf00e"))
    assert not repeats.seen(attempt("0badf00d", address="192.0.2.8"))
    assert not repeats.seen(attempt("0badf00d", login="bob@example.net"))


def test_without_a_hash_nothing_is_a_repeat():
    repeats = RepeatedPasswords()
    repeats.remember(attempt(""))
    assert not repeats.seen(attempt(""))


def test_only_the_last_few_passwords_and_logins_are_kept():
    repeats = RepeatedPasswords()
    for number in range(RepeatedPasswords.PER_LOGIN + 1):
        repeats.remember(attempt(f"{number:08x}"))
    assert not repeats.seen(attempt(f"{0:08x}"))
    assert repeats.seen(attempt(f"{1:08x}"))
    repeats.LOGINS = 2
    repeats.remember(attempt("aa", address="192.0.2.8"))
    repeats.remember(attempt("bb", address="192.0.2.9"))
    assert not repeats.seen(attempt(f"{1:08x}"))       # the least recent login went
    assert repeats.seen(attempt("aa", address="192.0.2.8"))
