"""Project API tokens: what a program sends as ``Authorization: Bearer <secret>``.

Each token belongs to one project. The secret is shown once, at creation; storage keeps only
its SHA-256, which is enough for a 32-byte random secret (nothing to brute-force, so no slow
hash is needed). The token id is inside the secret, so checking one is a single read:

    projects/<project_id>/tokens/<token_id>.json   {token_id, name, owner, created, sha256}

Revoking deletes the record, so a revoked secret can never match again.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from dataclasses import asdict, dataclass

from teachbox.errors import BadRequest, NotFound
from teachbox.records import from_dict, now
from teachbox.storage import InvalidKey, ObjectNotFound, Storage, new_id

__all__ = ["ApiToken", "create_token", "list_tokens", "revoke_token", "verify_token"]

_logger = logging.getLogger(__name__)

_PREFIX = "tb"
_NAME_MAX = 60
# tb_<16 hex token id>_<43 url-safe base64 characters of 32 random bytes>
_SECRET = re.compile(r"^tb_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")


@dataclass
class ApiToken:
    """What is known about a token once created; never the secret itself."""

    token_id: str
    project_id: str
    name: str
    owner: str
    created: float
    sha256: str

    def to_public_dict(self) -> dict:
        """For pages and API listings: everything but the hash."""
        return {k: v for k, v in asdict(self).items() if k != "sha256"}


def _token_key(project_id: str, token_id: str) -> str:
    return f"projects/{project_id}/tokens/{token_id}.json"


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def create_token(storage: Storage, project_id: str, owner: str, name: str) -> tuple[str, str]:
    """Create a token for ``project_id``; return ``(token_id, secret)``.

    The secret is returned only here: show it to the person once, it cannot be recovered.
    """
    name = (name or "").strip()
    if not name:
        raise BadRequest("Give the token a name, such as the program that will use it.")
    if len(name) > _NAME_MAX:
        raise BadRequest(f"Token name is longer than {_NAME_MAX} characters; shorten it.")
    token_id = new_id()
    secret = f"{_PREFIX}_{token_id}_{secrets.token_urlsafe(32)}"
    token = ApiToken(token_id=token_id, project_id=project_id, name=name, owner=owner,
                     created=now(), sha256=_hash(secret))
    if not storage.create_json_if_absent(_token_key(project_id, token_id), asdict(token)):
        # 64 random bits colliding means something is badly wrong; never overwrite a token.
        raise RuntimeError(f"token id {token_id} already exists in project {project_id}")
    _logger.info("created API token %s for project %s", token_id, project_id)
    return token_id, secret


def list_tokens(storage: Storage, project_id: str) -> list[ApiToken]:
    """The project's live tokens, oldest first."""
    tokens = []
    for key in storage.list(f"projects/{project_id}/tokens/"):
        try:
            tokens.append(from_dict(ApiToken, storage.get_json(key)))
        except ObjectNotFound:
            continue  # revoked between list and get
    return sorted(tokens, key=lambda t: t.created)


def revoke_token(storage: Storage, project_id: str, token_id: str) -> None:
    """Delete the token so its secret stops working at once. Raises NotFound if absent."""
    key = _token_key(project_id, token_id) if re.fullmatch(r"[0-9a-f]{16}", token_id or "") else ""
    if not key or not storage.exists(key):
        raise NotFound("No such API token in this project; it may already be revoked.")
    storage.delete(key)
    _logger.info("revoked API token %s of project %s", token_id, project_id)


def verify_token(storage: Storage, project_id: str, secret: str) -> bool:
    """True if ``secret`` is a live token of ``project_id`` (not another project's)."""
    match = _SECRET.match(secret or "")
    if not match:
        return False
    try:
        record = storage.get_json(_token_key(project_id, match.group(1)))
    except (ObjectNotFound, InvalidKey):
        return False
    return hmac.compare_digest(record.get("sha256", ""), _hash(secret))
