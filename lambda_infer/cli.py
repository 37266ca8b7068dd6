"""``teachbox predict PROJECT FILE...``: ask a project's model about local files.

Image projects take image files. Text projects take text files, or ``-`` for standard input,
with one text per non-empty line. Answers print one line per input, in order:

    photo.jpg    circle  0.97   (circle 0.97, square 0.03)
"""

from __future__ import annotations

import logging
import re
import sys
from pathlib import Path

from lambda_infer.events import MAX_BATCH
from lambda_infer.service import predict
from teachbox.errors import BadRequest, TeachboxError
from teachbox.projects import load_project
from teachbox.settings import load_settings
from teachbox.storage import open_storage

__all__ = ["predict_files"]

_logger = logging.getLogger(__name__)

_INPUT_NUMBER = re.compile(r"^Input (\d+)")


def _read_inputs(kind: str, files: list[str]) -> tuple[list[str], list[bytes] | list[str]]:
    """(what to call each input, the inputs) for the project's kind."""
    names: list[str] = []
    inputs: list = []
    for name in files:
        if name == "-" and kind == "text":
            lines = sys.stdin.read().splitlines()
        else:
            path = Path(name)
            if not path.is_file():
                raise BadRequest(f"{name}: no such file.")
            if kind == "image":
                names.append(name)
                inputs.append(path.read_bytes())
                continue
            try:
                lines = path.read_text(encoding="utf-8").splitlines()
            except UnicodeDecodeError:
                raise BadRequest(f"{name}: not UTF-8 text; save it as UTF-8.") from None
        for number, line in enumerate(lines, start=1):
            if line.strip():
                names.append(f"{'stdin' if name == '-' else name} line {number}")
                inputs.append(line)
    if not inputs:
        raise BadRequest("Nothing to classify: the files hold no non-empty lines.")
    return names, inputs


def _name_input(message: str, names: list[str]) -> str:
    return _INPUT_NUMBER.sub(lambda match: names[int(match.group(1)) - 1], message)


def predict_files(project_id: str, files: list[str], top_k: int = 3) -> int:
    """Print the model's answers for ``files``; return the exit status (0 when all answered).

    Raises TeachboxError (printed by ``teachbox``'s main) for an unknown project, no model, or
    an unreadable input, naming the file.
    """
    settings = load_settings()
    storage = open_storage(settings.storage, region=settings.aws_region,
                           endpoint_url=settings.s3_endpoint_url)
    project = load_project(storage, project_id)
    names, inputs = _read_inputs(project.kind, files)
    width = max(len(name) for name in names)
    for start in range(0, len(inputs), MAX_BATCH):
        batch = inputs[start:start + MAX_BATCH]
        try:
            result = predict(project_id, batch, storage, settings, top_k=top_k)
        except TeachboxError as error:
            # "Input 3 ..." counts within this batch; a person wants the file's name instead.
            error.message = _name_input(error.message, names[start:start + MAX_BATCH])
            raise
        for name, answer in zip(names[start:start + MAX_BATCH], result["predictions"], strict=True):
            others = ", ".join(f"{t['label']} {t['probability']:.2f}" for t in answer["top"])
            print(f"{name:<{width}}  {answer['label']}  {answer['confidence']:.2f}  ({others})")
    _logger.debug("answered %d inputs with model %s", len(inputs), result["version"])
    return 0
