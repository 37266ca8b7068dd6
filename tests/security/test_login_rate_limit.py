"""Login rate limiting: ten wrong passwords per username and address in 15 minutes, then 429."""

from __future__ import annotations

import pytest

from teachbox.settings import Settings
from teachbox.users import create_user
from tests.webapp.conftest import AuthActions
from webapp import create_app
from webapp.ratelimit import LOGIN_FAILURES, LoginLimiter, TooManyAttempts

LOCKED = "Too many failed logins for this account from your address"


@pytest.fixture
def alice(storage):
    return create_user(storage, "alice", "correct-horse")


def _fail(auth: AuthActions, times: int, username: str = "alice") -> None:
    for _ in range(times):
        assert auth.login(username, "wrong-password").status_code == 200


def test_the_eleventh_attempt_after_ten_failures_is_refused_with_429_and_a_sentence(client, auth, alice):
    _fail(auth, LOGIN_FAILURES)
    response = auth.login("alice", "wrong-password")
    assert response.status_code == 429
    assert LOCKED in response.get_data(as_text=True)


def test_a_locked_account_refuses_even_the_right_password(client, auth, alice):
    _fail(auth, LOGIN_FAILURES)
    response = auth.login("alice", "correct-horse")
    assert response.status_code == 429
    assert client.get("/").status_code == 302  # still signed out


def test_nine_failures_then_the_right_password_signs_in_and_clears_the_count(client, auth, alice):
    _fail(auth, LOGIN_FAILURES - 1)
    assert auth.login("alice", "correct-horse").status_code == 302
    auth.logout()
    _fail(auth, LOGIN_FAILURES - 1)
    assert auth.login("alice", "correct-horse").status_code == 302


def test_the_lock_is_per_username_so_another_account_can_still_log_in(client, auth, alice, storage):
    create_user(storage, "bob", "battery-staple")
    _fail(auth, LOGIN_FAILURES)
    assert auth.login("bob", "battery-staple").status_code == 302


def test_the_lock_is_per_address_behind_a_trusted_proxy(settings: Settings, storage, alice):
    app = create_app(settings.replace(proxy_hops=1))
    attacker, owner = app.test_client(), app.test_client()
    attacker.environ_base["HTTP_X_FORWARDED_FOR"] = "203.0.113.7"
    owner.environ_base["HTTP_X_FORWARDED_FOR"] = "198.51.100.2"
    _fail(AuthActions(attacker), LOGIN_FAILURES)
    assert AuthActions(attacker).login("alice", "correct-horse").status_code == 429
    assert AuthActions(owner).login("alice", "correct-horse").status_code == 302


def test_the_count_is_shared_by_every_process_through_storage(storage):
    # Two limiters over one storage stand for two gunicorn workers.
    first, second = LoginLimiter(storage), LoginLimiter(storage)
    for n in range(LOGIN_FAILURES):
        (first if n % 2 else second).record_failure("alice", "203.0.113.7")
    with pytest.raises(TooManyAttempts, match="Wait 15 minutes and try again"):
        first.check("alice", "203.0.113.7")


def test_failures_older_than_the_window_no_longer_count(storage):
    now = [1_000_000.0]
    limiter = LoginLimiter(storage, clock=lambda: now[0])
    for _ in range(LOGIN_FAILURES):
        limiter.record_failure("alice", "203.0.113.7")
    now[0] += 15 * 60 + 1
    limiter.check("alice", "203.0.113.7")


def test_the_counter_key_does_not_contain_the_username(storage):
    LoginLimiter(storage).record_failure("../../etc/passwd", "203.0.113.7")
    (key,) = storage.list("ratelimit/login/")
    assert "passwd" not in key and ".." not in key
