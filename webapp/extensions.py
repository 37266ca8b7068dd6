"""Extensions created unbound here and bound to an app in ``create_app``."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from flask_wtf.csrf import CSRFProtect

from teachbox.invoker import Invoker
from teachbox.settings import Settings
from teachbox.storage import Storage

__all__ = ["csrf", "TeachboxServices", "services"]

csrf = CSRFProtect()


@dataclass(frozen=True)
class TeachboxServices:
    """What every view needs, built once per app."""

    settings: Settings
    storage: Storage
    invoker: Invoker


def services() -> TeachboxServices:
    return current_app.extensions["teachbox"]
