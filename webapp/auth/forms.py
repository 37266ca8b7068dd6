"""Account forms; the rules themselves live in ``teachbox.users``."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, EqualTo, ValidationError

from teachbox.errors import BadRequest
from teachbox.users import validate_password, validate_username

__all__ = ["LoginForm", "RegisterForm"]


class LoginForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired("Enter your username.")])
    password = PasswordField("Password", validators=[DataRequired("Enter your password.")])
    submit = SubmitField("Log in")


class RegisterForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired("Choose a username.")])
    password = PasswordField("Password", validators=[DataRequired("Choose a password.")])
    confirm = PasswordField(
        "Repeat password", validators=[EqualTo("password", "The two passwords differ; type them again.")]
    )
    submit = SubmitField("Create account")

    def validate_username(self, field) -> None:
        try:
            validate_username(field.data)
        except BadRequest as error:
            raise ValidationError(error.message) from None

    def validate_password(self, field) -> None:
        try:
            validate_password(field.data)
        except BadRequest as error:
            raise ValidationError(error.message) from None
