"""A project: one owner, one kind (image or text), its class names."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

from teachbox.errors import BadRequest, NotFound
from teachbox.records import from_dict, now
from teachbox.storage import ObjectNotFound, Storage, new_id

__all__ = [
    "KINDS",
    "Project",
    "create_project",
    "load_project",
    "save_project",
    "list_projects",
    "project_key",
    "validate_project_name",
    "validate_class_names",
]

KINDS = ("image", "text")
_NAME_MAX = 60
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


@dataclass
class Project:
    id: str
    owner: str
    name: str
    kind: str
    class_names: list[str]
    created: float
    featurizer: str = ""
    description: str = ""
    updated: float = 0.0
    extra: dict = field(default_factory=dict)


def project_key(project_id: str) -> str:
    return f"projects/{project_id}/project.json"


def _owner_index_key(owner: str, project_id: str) -> str:
    return f"owners/{owner}/{project_id}"


def validate_project_name(name: str) -> str:
    """Return the trimmed name or raise BadRequest with the reason."""
    name = (name or "").strip()
    if not name:
        raise BadRequest("Give the project a name.")
    if len(name) > _NAME_MAX:
        raise BadRequest(f"Project name is longer than {_NAME_MAX} characters; shorten it.")
    if _CONTROL.search(name):
        raise BadRequest("Project name contains control or direction characters; remove them.")
    return name


def validate_class_names(names: list[str]) -> list[str]:
    """Class names are displayed labels only (never keys or paths), so any printable text
    is fine; they must be non-empty, short, without control characters, and distinct."""
    cleaned = [(n or "").strip() for n in names]
    problems = []
    for index, name in enumerate(cleaned, start=1):
        if not name:
            problems.append(f"class {index} has no name")
        elif len(name) > _NAME_MAX:
            problems.append(f"class {index} name is longer than {_NAME_MAX} characters")
        elif _CONTROL.search(name):
            problems.append(f"class {index} name contains control or direction characters")
    lowered = [n.casefold() for n in cleaned]
    duplicates = sorted({n for n in cleaned if n and lowered.count(n.casefold()) > 1})
    if duplicates:
        problems.append("two classes share the name " + ", ".join(repr(d) for d in duplicates))
    if problems:
        raise BadRequest("Class names: " + "; ".join(problems) + ".")
    return cleaned


def create_project(
    storage: Storage, owner: str, name: str, kind: str, class_names: list[str],
    featurizer: str = "", project_id: str | None = None,
) -> Project:
    """Create and save a project; ``project_id`` lets the web app choose the id up front
    (it names the upload before preprocess creates the project)."""
    if kind not in KINDS:
        raise BadRequest(f"Unknown project kind {kind!r}; use one of: {', '.join(KINDS)}.")
    project = Project(
        id=project_id or new_id(),
        owner=owner,
        name=validate_project_name(name),
        kind=kind,
        class_names=validate_class_names(class_names),
        created=now(),
        featurizer=featurizer,
    )
    save_project(storage, project)
    storage.put(_owner_index_key(owner, project.id), b"")
    return project


def save_project(storage: Storage, project: Project) -> None:
    project.updated = now()
    storage.put_json(project_key(project.id), asdict(project))


def load_project(storage: Storage, project_id: str) -> Project:
    """Raises NotFound if there is no such project (or the id is not a valid key)."""
    if not re.fullmatch(r"[0-9a-f]{16}", project_id or ""):
        raise NotFound("No such project.")
    try:
        return from_dict(Project, storage.get_json(project_key(project_id)))
    except ObjectNotFound:
        raise NotFound("No such project.") from None


def list_projects(storage: Storage, owner: str | None = None) -> list[Project]:
    """Projects of ``owner`` (all projects when None), newest first."""
    prefix = f"owners/{owner}/" if owner else "owners/"
    projects = []
    for key in storage.list(prefix):
        try:
            projects.append(load_project(storage, key.rsplit("/", 1)[1]))
        except NotFound:
            continue  # index entry of a project being deleted
    return sorted(projects, key=lambda p: p.created, reverse=True)
