"""The ``teachbox`` command: one entry point, subcommands per area.

This module is the composition root, so it may import the adapters (web app, trainer,
handlers); it does so lazily, inside each command, to keep ``teachbox --help`` fast.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

from teachbox.errors import TeachboxError
from teachbox.settings import SettingsError, describe_settings, load_settings
from teachbox.storage import open_storage

__all__ = ["main", "build_parser"]

ROOT = Path(__file__).resolve().parent.parent


def _storage(settings):
    return open_storage(settings.storage, region=settings.aws_region,
                        endpoint_url=settings.s3_endpoint_url)


def cmd_web(args: argparse.Namespace) -> int:
    settings = load_settings()
    if args.dev:
        from webapp import create_app

        create_app(settings).run(host=settings.host, port=settings.port, debug=True)
        return 0
    command = [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "deploy" / "gunicorn.conf.py"),
               "webapp.wsgi:app"]
    # Replace this process with gunicorn, so whoever started `teachbox web` signals gunicorn
    # itself and no orphan server outlives it.
    os.execv(sys.executable, command)
    return 0  # not reached


def cmd_trainer(args: argparse.Namespace) -> int:
    from trainer.daemon import main as trainer_main

    return trainer_main(once=args.once, burst=args.burst, max_jobs=args.max_jobs)


def cmd_run(args: argparse.Namespace) -> int:
    """Web app and one trainer as child processes; Ctrl-C stops both."""
    settings = load_settings()
    env = dict(os.environ)
    if not settings.secret_key:
        # One key shared by all gunicorn workers for this run, so sessions survive.
        env["TEACHBOX_SECRET_KEY"] = os.urandom(32).hex()
    # Children get their own session, so Ctrl-C reaches only this process and each child
    # gets exactly one SIGTERM from us: a trainer treats a second signal as "exit now".
    children = [
        subprocess.Popen([sys.executable, "-m", "teachbox.cli", command], env=env, start_new_session=True)
        for command in ("web", "trainer")
    ]
    print(f"Teachbox: http://{settings.host}:{settings.port}  (Ctrl-C stops the web app and trainer)",
          flush=True)
    try:
        while all(child.poll() is None for child in children):
            try:
                children[0].wait(timeout=1)
            except subprocess.TimeoutExpired:
                pass
    except KeyboardInterrupt:
        pass
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()
    return max((child.returncode or 0) for child in children)


def cmd_user_create(args: argparse.Namespace) -> int:
    from teachbox.users import create_user

    settings = load_settings()
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("Password: ")
    user = create_user(_storage(settings), args.username, password, is_admin=args.admin)
    print(f"Created {'admin ' if user.is_admin else ''}user '{user.username}'.")
    return 0


def cmd_settings(args: argparse.Namespace) -> int:
    for name, default, help_text in describe_settings():
        print(f"{name:36} {default:24} {help_text}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from lambda_infer.cli import predict_files

    return predict_files(args.project, args.files, top_k=args.top_k)


def cmd_project_export(args: argparse.Namespace) -> int:
    import tempfile

    from teachbox.project_export import export_project

    target = Path(args.file).resolve()
    # Written beside the target and renamed: an interrupted export leaves no half file.
    with tempfile.NamedTemporaryFile(dir=target.parent, prefix=f".{target.name}.", delete=False) as out:
        try:
            export_project(_storage(load_settings()), args.project, out)
        except BaseException:
            os.unlink(out.name)
            raise
    os.replace(out.name, target)
    print(f"Exported project {args.project} to {target}.")
    return 0


def cmd_project_import(args: argparse.Namespace) -> int:
    from teachbox.errors import NotFound
    from teachbox.project_export import import_project
    from teachbox.users import get_user

    storage = _storage(load_settings())
    try:
        get_user(storage, args.owner)
    except NotFound:
        # A project of nobody would be invisible to everyone but admins.
        raise NotFound(f"There is no user '{args.owner}'; create it first "
                       f"(teachbox user create {args.owner}).") from None
    with open(args.file, "rb") as archive:
        project = import_project(storage, archive, owner=args.owner)
    print(f"Imported '{project.name}' as project {project.id}, owned by {project.owner}.")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="teachbox", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    web = sub.add_parser("web", help="serve the web app (gunicorn)")
    web.add_argument("--dev", action="store_true", help="Flask's debug server instead")
    web.set_defaults(func=cmd_web)

    trainer = sub.add_parser("trainer", help="run the training daemon")
    trainer.add_argument("--once", action="store_true", help="train one job, then exit")
    trainer.add_argument("--burst", action="store_true", help="exit when the queue is empty")
    trainer.add_argument("--max-jobs", type=int, default=None, help="exit after this many jobs")
    trainer.set_defaults(func=cmd_trainer)

    run = sub.add_parser("run", help="web app and a trainer together (local mode)")
    run.set_defaults(func=cmd_run)

    user = sub.add_parser("user", help="manage accounts").add_subparsers(dest="action", required=True)
    create = user.add_parser("create", help="create an account")
    create.add_argument("username")
    create.add_argument("--admin", action="store_true", help="make it an administrator")
    create.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    create.set_defaults(func=cmd_user_create)

    predict = sub.add_parser("predict", help="predict files or texts with a project's model")
    predict.add_argument("project", help="project id")
    predict.add_argument("files", nargs="+", help="image files, text files, or '-' for stdin lines")
    predict.add_argument("--top-k", type=int, default=3)
    predict.set_defaults(func=cmd_predict)

    project = sub.add_parser("project", help="export or import a whole project").add_subparsers(
        dest="action", required=True)
    export = project.add_parser("export", help="write a project, its datasets and models to one zip")
    export.add_argument("project", help="project id")
    export.add_argument("file", help="the .zip to write")
    export.set_defaults(func=cmd_project_export)
    import_ = project.add_parser("import", help="import an exported project as a new project")
    import_.add_argument("file", help="a .zip made by 'teachbox project export'")
    import_.add_argument("--owner", required=True, help="the user who will own the imported project")
    import_.set_defaults(func=cmd_project_import)

    show = sub.add_parser("settings", help="list every TEACHBOX_* setting and its default")
    show.set_defaults(func=cmd_settings)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return args.func(args) or 0
    except SettingsError as error:
        print(f"teachbox: bad setting: {error}", file=sys.stderr)
        return 2
    except TeachboxError as error:
        print(f"teachbox: {error.message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
