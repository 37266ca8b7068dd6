"""Accounts: register, log in, log out, sessions, CSRF and the headers every page carries."""

from __future__ import annotations

import pytest

from teachbox.users import create_user, get_user, save_user
from tests.webapp.conftest import csrf_token


def test_register_signs_the_new_user_in(client, auth):
    response = auth.register("alice")
    assert response.status_code == 302
    page = client.get("/").get_data(as_text=True)
    assert "alice" in page and "Your projects" in page


def test_register_refuses_a_taken_username_with_a_sentence(client, auth):
    auth.register("alice")
    auth.logout()
    page = auth.register("alice").get_data(as_text=True)
    assert "The username &#39;alice&#39; is taken; choose another." in page


def test_register_shows_every_field_error_at_once(client):
    token = csrf_token(client, "/auth/register")
    response = client.post("/auth/register", data={
        "csrf_token": token, "username": "A!", "password": "short", "confirm": "other"})
    page = response.get_data(as_text=True)
    assert "Usernames are 3-32 characters" in page
    assert "Passwords need at least 8 characters." in page
    assert "The two passwords differ; type them again." in page


def test_login_with_a_wrong_password_is_refused(client, auth, storage):
    create_user(storage, "alice", "correct-horse")
    page = auth.login("alice", "wrong-horse").get_data(as_text=True)
    assert "That username and password do not match an account." in page
    assert client.get("/").status_code == 302


def test_login_then_logout_ends_the_session(client, auth, storage):
    create_user(storage, "alice", "correct-horse")
    assert auth.login().headers["Location"] == "/"
    assert client.get("/").status_code == 200
    auth.logout()
    response = client.get("/")
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]


def test_login_returns_to_the_page_asked_for_but_never_off_site(client, auth, storage):
    create_user(storage, "alice", "correct-horse")
    token = csrf_token(client, "/auth/login")
    data = {"csrf_token": token, "username": "alice", "password": "correct-horse"}
    assert client.post("/auth/login?next=/text/train", data=data).headers["Location"] == "/text/train"
    auth.logout()
    token = csrf_token(client, "/auth/login")
    response = client.post("/auth/login?next=//evil.example/x", data={**data, "csrf_token": token})
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize("path", ["/auth/register", "/auth/login"])
def test_a_form_without_csrf_token_is_refused(client, path):
    response = client.post(path, data={"username": "alice", "password": "correct-horse",
                                       "confirm": "correct-horse"})
    assert response.status_code == 400
    assert "did not come from this site" in response.get_data(as_text=True)


def test_logout_without_csrf_token_keeps_the_session(client, auth):
    auth.register("alice")
    assert client.post("/auth/logout").status_code == 400
    assert client.get("/").status_code == 200


def test_session_cookie_is_httponly_and_samesite_lax(client, auth):
    response = auth.register("alice")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie


def test_session_cookie_is_secure_over_https(client):
    token_page = client.get("/auth/register", base_url="https://localhost")
    assert "Secure" in token_page.headers["Set-Cookie"]


def test_pages_forbid_inline_scripts_framing_and_sniffing(client):
    response = client.get("/auth/login")
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "<script>" not in response.get_data(as_text=True)


def test_a_disabled_account_loses_its_session(client, auth, storage):
    auth.register("alice")
    alice = get_user(storage, "alice")
    alice.disabled = True
    save_user(storage, alice)
    assert client.get("/").status_code == 302
