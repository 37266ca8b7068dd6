"""Forms of the project page's 'Use from code' section: create and revoke API tokens."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import HiddenField, StringField, SubmitField
from wtforms.validators import InputRequired, Length, Regexp

__all__ = ["NewTokenForm", "RevokeTokenForm"]


class NewTokenForm(FlaskForm):
    name = StringField("Token name", validators=[
        InputRequired("Give the token a name, such as the program that will use it."),
        Length(max=60, message="Token name is longer than 60 characters; shorten it."),
    ], description="Which program will use it, so you know what breaks when you revoke it.")
    submit = SubmitField("Create token")


class RevokeTokenForm(FlaskForm):
    token_id = HiddenField(validators=[InputRequired(), Regexp(r"^[0-9a-f]{16}$")])
    submit = SubmitField("Revoke")
