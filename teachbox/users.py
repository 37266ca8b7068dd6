"""Accounts: a username, a salted password hash, an admin flag."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from werkzeug.security import check_password_hash, generate_password_hash

from teachbox.errors import BadRequest, Conflict, NotFound
from teachbox.records import from_dict, now
from teachbox.storage import ObjectNotFound, Storage

__all__ = [
    "User",
    "create_user",
    "get_user",
    "save_user",
    "list_users",
    "authenticate",
    "validate_username",
    "validate_password",
]

_USERNAME = re.compile(r"^[a-z0-9][a-z0-9_-]{2,31}$")
MIN_PASSWORD = 8
# Checked against when the user does not exist, so a wrong username costs as long as a
# wrong password and response times do not reveal which usernames exist.
_DUMMY_HASH = generate_password_hash("teachbox-timing-equaliser")


@dataclass
class User:
    username: str
    password_hash: str
    created: float
    is_admin: bool = False
    disabled: bool = False


def _user_key(username: str) -> str:
    return f"users/{username}.json"


def validate_username(username: str) -> str:
    username = (username or "").strip().lower()
    if not _USERNAME.match(username):
        raise BadRequest(
            "Usernames are 3-32 characters: lowercase letters, digits, '-' and '_', "
            "starting with a letter or digit."
        )
    return username


def validate_password(password: str) -> str:
    if len(password or "") < MIN_PASSWORD:
        raise BadRequest(f"Passwords need at least {MIN_PASSWORD} characters.")
    return password


def create_user(storage: Storage, username: str, password: str, is_admin: bool = False) -> User:
    """Raises BadRequest for an invalid name/password and Conflict if the name is taken."""
    user = User(
        username=validate_username(username),
        password_hash=generate_password_hash(validate_password(password)),
        created=now(),
        is_admin=is_admin,
    )
    if not storage.create_json_if_absent(_user_key(user.username), asdict(user)):
        raise Conflict(f"The username '{user.username}' is taken; choose another.")
    return user


def get_user(storage: Storage, username: str) -> User:
    try:
        return from_dict(User, storage.get_json(_user_key(validate_username(username))))
    except (ObjectNotFound, BadRequest):
        raise NotFound("No such user.") from None


def save_user(storage: Storage, user: User) -> None:
    storage.put_json(_user_key(user.username), asdict(user))


def list_users(storage: Storage) -> list[User]:
    return [from_dict(User, storage.get_json(key)) for key in storage.list("users/")]


def authenticate(storage: Storage, username: str, password: str) -> User | None:
    """The user if the password matches and the account is enabled, else None."""
    try:
        user = get_user(storage, username)
    except NotFound:
        check_password_hash(_DUMMY_HASH, password or "")
        return None
    if not check_password_hash(user.password_hash, password or "") or user.disabled:
        return None
    return user
