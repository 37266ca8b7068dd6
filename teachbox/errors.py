"""Typed errors that carry an HTTP-style status, mapped to responses in one place per surface.

Messages are sentences for the person using Teachbox: what is wrong and what to do.
They never contain tracebacks or server paths.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

__all__ = [
    "TeachboxError",
    "BadRequest",
    "Unauthorized",
    "Forbidden",
    "NotFound",
    "Conflict",
    "PayloadTooLarge",
    "Problem",
    "ValidationFailed",
    "error_to_payload",
    "error_from_payload",
]


class TeachboxError(Exception):
    """Base of every error a caller may see. ``status`` is the HTTP status it maps to."""

    status = 500
    code = "internal_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_dict(self) -> dict:
        return {"error": self.code, "message": self.message}


class BadRequest(TeachboxError):
    status = 400
    code = "bad_request"


class Unauthorized(TeachboxError):
    status = 401
    code = "unauthorized"


class Forbidden(TeachboxError):
    status = 403
    code = "forbidden"


class NotFound(TeachboxError):
    status = 404
    code = "not_found"


class Conflict(TeachboxError):
    status = 409
    code = "conflict"


class PayloadTooLarge(TeachboxError):
    status = 413
    code = "payload_too_large"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an upload: where it is and what to do about it.

    ``field`` is the form field it belongs to (``class_0_files``, ``class_1_name``,
    ``labelled_csv``, ``classes``), so the page can show it next to that field.
    """

    field: str
    reason: str
    fix: str = ""
    class_name: str = ""
    item: str = ""  # a file name, or "file.csv row 12"

    def sentence(self) -> str:
        where = " ".join(p for p in (
            f"Class '{self.class_name}':" if self.class_name else "",
            f"{self.item}:" if self.item else "",
        ) if p)
        text = f"{where} {self.reason}".strip()
        if self.fix:
            text = f"{text.rstrip('.')}. {self.fix}"
        return text

    def to_dict(self) -> dict:
        return {**asdict(self), "message": self.sentence()}


class ValidationFailed(BadRequest):
    """Every problem found in one pass; nothing was stored."""

    code = "validation_failed"

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        first = self.problems[0].sentence() if self.problems else ""
        more = f" (and {count - 1} more problem{'s' if count > 2 else ''})" if count > 1 else ""
        super().__init__(f"{first}{more}")

    def to_dict(self) -> dict:
        return {**super().to_dict(), "problems": [p.to_dict() for p in self.problems]}


_BY_CODE = {cls.code: cls for cls in (BadRequest, Unauthorized, Forbidden, NotFound, Conflict,
                                      PayloadTooLarge)}


def error_to_payload(error: TeachboxError) -> dict:
    """How a handler returns a typed error across a Lambda invocation."""
    return {"ok": False, "status": error.status, **error.to_dict()}


def error_from_payload(payload: dict) -> TeachboxError:
    """The typed error back on the caller's side of an invocation."""
    if payload.get("error") == ValidationFailed.code:
        return ValidationFailed([Problem(**{k: v for k, v in p.items() if k != "message"})
                                 for p in payload.get("problems", [])])
    cls = _BY_CODE.get(payload.get("error", ""), TeachboxError)
    return cls(payload.get("message", "The request failed."))
