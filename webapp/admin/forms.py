"""The one admin form: the confirmation of an action, posted with its CSRF token."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import SubmitField

__all__ = ["ConfirmForm"]


class ConfirmForm(FlaskForm):
    submit = SubmitField("Confirm")
