"""Forms of the project page's 'Use from code' section: create and revoke API tokens."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import HiddenField, StringField, SubmitField
from wtforms.validators import InputRequired, Regexp

__all__ = ["NewTokenForm", "RevokeTokenForm"]


class NewTokenForm(FlaskForm):
    # The name's rules live in teachbox.tokens.create_token, which the view calls.
    # Ids of their own: the project page holds other forms with a "submit" field.
    name = StringField("Token name", id="token-name",
                       description="Which program will use it, so you know what breaks when you revoke it.")
    submit = SubmitField("Create token", id="create-token")


class RevokeTokenForm(FlaskForm):
    token_id = HiddenField(validators=[InputRequired(), Regexp(r"^[0-9a-f]{16}$")])
