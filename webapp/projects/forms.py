"""The Train form (fields per class, built per request), retrain, promote and predict forms.

These rules catch what can be checked before anything is stored (names, file counts); every
file's content is checked by preprocess, whose problems come back next to the same fields.
"""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    FileField,
    HiddenField,
    IntegerField,
    MultipleFileField,
    RadioField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import InputRequired, NumberRange, ValidationError

from teachbox.errors import BadRequest
from teachbox.featurizers.catalog import DEFAULTS, backbone_choices
from teachbox.projects import validate_class_names, validate_project_name
from teachbox.settings import Settings

__all__ = [
    "TrainForm",
    "class_limits",
    "chosen_files",
    "pasted_lines",
    "RetrainForm",
    "PromoteForm",
    "CancelForm",
    "PredictForm",
    "FeedbackForm",
    "RemovePendingForm",
    "CompareForm",
]


def class_limits(kind: str, settings: Settings) -> tuple[int, int]:
    if kind == "image":
        return settings.image_min_classes, settings.image_max_classes
    return settings.text_min_classes, settings.text_max_classes


def chosen_files(field) -> list:
    """The files a person actually chose (a browser sends an empty part for 'none')."""
    data = field.data or []
    if not isinstance(data, list):
        data = [data]
    return [f for f in data if getattr(f, "filename", "")]


def pasted_lines(text: str | None) -> list[str]:
    return [line for line in (text or "").splitlines() if line.strip()]


class TrainForm(FlaskForm):
    """Project name, number of classes, then per class a name and its examples.

    Per-class fields are named ``class_<i>_name``, ``class_<i>_files`` (images, or one CSV
    for text) and ``class_<i>_text`` (pasted lines): the names preprocess uses for its
    problems, so each problem lands next to its field.
    """

    project_name = StringField("Project name", validators=[InputRequired("Give the project a name.")])
    num_classes = IntegerField("Number of classes")
    labelled_csv = FileField("Or one CSV with a label column for every class")
    augment = BooleanField("Augment images (flips, crops) while training")
    # Choices per kind, from the catalog (measured times included), set in __init__.
    model = RadioField("Model")
    # Set when adding examples to an existing project: its earlier examples count too.
    project = HiddenField()
    resize = SubmitField("Show class fields")
    submit = SubmitField("Upload and train")

    def __init__(self, kind: str, num_classes: int, settings: Settings, extending: bool = False,
                 **kwargs) -> None:
        self.kind = kind
        self.settings = settings
        # With earlier examples the minimum is checked by preprocess on the combined dataset.
        self.extending = extending
        low, high = class_limits(kind, settings)
        self.class_count = min(max(num_classes, low), high)
        extra = []
        for i in range(self.class_count):
            extra.append((f"class_{i}_name", StringField(f"Class {i + 1} name")))
            if kind == "image":
                extra.append((f"class_{i}_files", MultipleFileField(f"Class {i + 1} images")))
            else:
                extra.append((f"class_{i}_files", FileField(f"Class {i + 1} CSV (one text per row)")))
                extra.append((f"class_{i}_text",
                              TextAreaField(f"Class {i + 1}: or paste one text per line")))
        # WTForms binds fields from _unbound_fields in __init__; extending it per instance
        # gives this request exactly class_count class fields.
        self._unbound_fields = [*self._unbound_fields, *extra]
        super().__init__(**kwargs)
        self.model.choices = backbone_choices(kind)
        if not self.model.data:
            self.model.data = DEFAULTS[kind]
        self.num_classes.validators = [
            NumberRange(low, high, f"Choose between {low} and {high} classes for a {kind} project.")
        ]

    def class_names(self) -> list[str]:
        return [(self[f"class_{i}_name"].data or "").strip() for i in range(self.class_count)]

    def validate_project_name(self, field) -> None:
        try:
            validate_project_name(field.data)
        except BadRequest as error:
            raise ValidationError(error.message) from None

    def validate(self, extra_validators=None) -> bool:
        extra = dict(extra_validators or {})
        for i in range(self.class_count):
            extra.setdefault(f"class_{i}_name", []).append(_check_class_name)
            if self.kind == "image":
                extra.setdefault(f"class_{i}_files", []).append(_check_image_count)
            else:
                extra.setdefault(f"class_{i}_text", []).append(_check_text_given)
        ok = super().validate(extra)
        return self._check_distinct_names() and ok

    def _check_distinct_names(self) -> bool:
        seen: dict[str, int] = {}
        ok = True
        names = self.class_names()
        for i, name in enumerate(names):
            key = name.casefold()
            if key and key in seen:
                first = seen[key]
                self[f"class_{i}_name"].errors.append(
                    f"Class {first + 1} is already called '{names[first]}'; give each class its own name."
                )
                ok = False
            seen.setdefault(key, i)
        return ok


def _class_index(field) -> int:
    return int(field.name.split("_")[1])


def _check_class_name(form: TrainForm, field) -> None:
    name = (field.data or "").strip()
    if not name:
        raise ValidationError(f"Name class {_class_index(field) + 1}.")
    try:
        validate_class_names([name])
    except BadRequest as error:
        raise ValidationError(error.message.replace("class 1", f"class {_class_index(field) + 1}")) from None


def _check_image_count(form: TrainForm, field) -> None:
    count = len(chosen_files(field))
    low, high = form.settings.image_min_per_class, form.settings.image_max_per_class
    index = _class_index(field)
    name = (form[f"class_{index}_name"].data or "").strip() or f"class {index + 1}"
    if count < low and not form.extending:
        raise ValidationError(
            f"'{name}' has {count} image{'s' if count != 1 else ''}; add at least {low - count} more "
            f"({low}-{high} per class)."
        )
    if count > high:
        raise ValidationError(
            f"'{name}' has {count} images; remove {count - high} ({low}-{high} per class)."
        )


def _check_text_given(form: TrainForm, field) -> None:
    i = _class_index(field)
    if form.extending or chosen_files(form.labelled_csv) or chosen_files(form[f"class_{i}_files"]):
        return
    if pasted_lines(field.data):
        return
    raise ValidationError(
        f"Give class {i + 1} its examples: choose a CSV file, paste lines here, "
        "or upload one labelled CSV above."
    )


class RetrainForm(FlaskForm):
    submit = SubmitField("Retrain on the same data")


class PromoteForm(FlaskForm):
    version = HiddenField()
    submit = SubmitField("Make current")


class CancelForm(FlaskForm):
    submit = SubmitField("Cancel training")


class PredictForm(FlaskForm):
    image = FileField("Image")
    text = TextAreaField("Text")
    submit = SubmitField("Predict")


class FeedbackForm(FlaskForm):
    """"Right" or "Wrong? this is class X" after a prediction. The page posts the input back
    (a normalized image of a few tens of kB, or the text), so the server keeps nothing between
    predicting and correcting."""

    class_index = SelectField("This is class", coerce=int)
    image_b64 = HiddenField()
    text = HiddenField()
    submit = SubmitField("Add as example")

    def __init__(self, class_names: list[str], **kwargs) -> None:
        super().__init__(**kwargs)
        self.class_index.choices = list(enumerate(class_names))


class RemovePendingForm(FlaskForm):
    submit = SubmitField("Remove")


class ArchiveForm(FlaskForm):
    """Examples in one step: a .zip with one folder per class (text: or one CSV per class),
    or a folder dropped on the page, whose files arrive named ``folder/class/file``."""

    project_name = StringField("Project name", validators=[InputRequired("Give the project a name.")])
    archive = FileField("A .zip with one folder per class")
    folder = MultipleFileField("Or a folder with one folder per class")
    project = HiddenField()
    submit = SubmitField("Import and train")

    def validate_project_name(self, field) -> None:
        try:
            validate_project_name(field.data)
        except BadRequest as error:
            raise ValidationError(error.message) from None

    def validate_archive(self, field) -> None:
        chosen = chosen_files(field)
        if not chosen and not chosen_files(self.folder):
            raise ValidationError("Choose a .zip file, or drop a folder with one folder per class.")
        if chosen and not chosen[0].filename.lower().endswith(".zip"):
            raise ValidationError(f"'{chosen[0].filename}' is not a .zip file; choose a .zip with one "
                                  "folder per class.")


class ProjectImportForm(FlaskForm):
    archive = FileField("Project export (.zip)")
    submit = SubmitField("Import project")

    def validate_archive(self, field) -> None:
        if not chosen_files(field):
            raise ValidationError("Choose a .zip made by 'Export project'.")


class CompareForm(FlaskForm):
    """Train the latest examples again with another model, without replacing the serving one."""

    model = RadioField("Model to compare with")
    submit = SubmitField("Train with this model to compare")

    def __init__(self, kind: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.model.choices = backbone_choices(kind)
