"""Register, log in, log out; ``login_required`` and the signed-in user on ``g.user``."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from urllib.parse import urlsplit

from flask import Blueprint, flash, g, redirect, render_template, request, session, url_for

from teachbox.errors import Conflict, NotFound
from teachbox.users import authenticate, create_user, get_user
from webapp.auth.forms import LoginForm, RegisterForm
from webapp.extensions import services
from webapp.ratelimit import LoginLimiter, TooManyAttempts

__all__ = ["bp", "login_required"]

_logger = logging.getLogger(__name__)

bp = Blueprint("auth", __name__, url_prefix="/auth")


@bp.before_app_request
def load_signed_in_user() -> None:
    username = session.get("username")
    g.user = None
    if username:
        try:
            user = get_user(services().storage, username)
        except NotFound:
            user = None
        # A disabled or deleted account loses its session at the next request.
        if user is None or user.disabled:
            session.clear()
        else:
            g.user = user


def login_required(view: Callable) -> Callable:
    @functools.wraps(view)
    def wrapped(**kwargs):
        if g.user is None:
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return view(**kwargs)

    return wrapped


def _safe_next(target: str | None) -> str:
    """Only same-site paths: an attacker's link must not bounce a login to their site."""
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return url_for("projects.index")


def _sign_in(username: str) -> None:
    session.clear()  # a fresh session on login: no fixation
    session["username"] = username


@bp.route("/register", methods=["GET", "POST"])
def register():
    form = RegisterForm()
    if form.validate_on_submit():
        try:
            user = create_user(services().storage, form.username.data, form.password.data)
        except Conflict as error:
            form.username.errors.append(error.message)
        else:
            _logger.info("registered user %s", user.username)
            _sign_in(user.username)
            flash(f"Welcome, {user.username}. Train your first model below.")
            return redirect(url_for("projects.index"))
    return render_template("auth/register.html", form=form)


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    if form.validate_on_submit():
        limiter = LoginLimiter(services().storage)
        address = request.remote_addr or ""
        try:
            limiter.check(form.username.data, address)
        except TooManyAttempts as error:
            form.password.errors.append(error.message)
            return render_template("auth/login.html", form=form), error.status
        user = authenticate(services().storage, form.username.data, form.password.data)
        if user is None:
            limiter.record_failure(form.username.data, address)
            form.password.errors.append("That username and password do not match an account.")
        else:
            limiter.reset(form.username.data, address)
            _sign_in(user.username)
            return redirect(_safe_next(request.args.get("next")))
    return render_template("auth/login.html", form=form)


@bp.route("/logout", methods=["POST"])
def logout():
    session.clear()
    flash("You are logged out.")
    return redirect(url_for("auth.login"))
