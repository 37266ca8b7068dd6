"""Text uploads: CSVs per class, one labelled CSV, pasted lines, and the bad files people send."""

from __future__ import annotations

import io
import random

from lambda_preprocess import handle
from teachbox.datasets import load_manifest
from teachbox.jobs import JobStatus, get_job
from teachbox.uploads import UploadState, get_upload_status
from tests.preprocess.corpus import drawn_image

CLASSES = ["positive", "negative", "neutral"]


def _rows(class_index: int, count: int = 120) -> list[str]:
    return [f"{CLASSES[class_index]} example number {n}, said plainly" for n in range(count)]


def _csv(rows: list[str], header: str = "text") -> bytes:
    lines = ([header] if header else []) + [f'"{row}"' for row in rows]
    return ("\n".join(lines) + "\n").encode("utf-8")


def _three_classes(new_upload, **fields):
    upload = new_upload("text", list(CLASSES), **fields)
    for index in range(3):
        upload.add_file(index, f"{CLASSES[index]}.csv", _csv(_rows(index)))
    return upload


def _refused(storage, upload, settings) -> list[str]:
    result = handle(upload.payload(), storage, settings)
    assert result["ok"] is False and result["status"] == 400
    assert storage.list("") == [f"uploads/{upload.upload_id}.json"]
    status = get_upload_status(storage, upload.upload_id)
    assert status.state == UploadState.REJECTED
    return [p["message"] for p in status.problems]


def _manifest(storage, upload, result):
    return load_manifest(storage, upload.project_id, result["dataset_id"])


def test_text_upload_is_snapshotted_split_70_30_and_queued(storage, settings, new_upload):
    upload = _three_classes(new_upload)

    result = handle(upload.payload(), storage, settings)

    manifest = _manifest(storage, upload, result)
    assert manifest.counts() == {name: {"train": 84, "val": 36} for name in CLASSES}
    assert sorted(s.text for s in manifest.samples if s.class_index == 1) == sorted(_rows(1))
    assert (manifest.featurizer, manifest.val_fraction) == ("minilm", 0.3)
    job = get_job(storage, result["job_id"])
    assert (job.status, job.kind, job.dataset_id) == (JobStatus.QUEUED, "text", result["dataset_id"])
    assert get_upload_status(storage, upload.upload_id).state == "queued"
    assert storage.list("staging/") == []


def test_text_split_is_the_same_whatever_the_row_order(storage, settings, new_upload):
    def split_of(order_seed: int) -> dict[str, str]:
        upload = new_upload("text", ["a", "b"])
        for index in range(2):
            rows = _rows(index, 100)
            random.Random(order_seed).shuffle(rows)
            upload.add_file(index, f"{index}.csv", _csv(rows))
        manifest = _manifest(storage, upload, handle(upload.payload(), storage, settings))
        return {sample.text: sample.split for sample in manifest.samples}

    assert split_of(1) == split_of(2)


def test_labelled_csv_rows_go_to_the_class_their_label_names(storage, settings, new_upload):
    upload = new_upload("text", ["pos", "neg"])
    lines = ["review;sentiment"] + [f"good thing {n};pos" for n in range(100)] + [
        f"bad thing {n};NEG" for n in range(100)]
    upload.add_labelled_csv("labels.csv", "\n".join(lines).encode())

    manifest = _manifest(storage, upload, handle(upload.payload(), storage, settings))

    assert {s.text for s in manifest.samples if s.class_index == 1} == {f"bad thing {n}" for n in range(100)}


def test_labelled_csv_without_header_finds_the_label_column_by_class_names(storage, settings, new_upload):
    upload = new_upload("text", ["pos", "neg"])
    lines = [f"pos,\"good, really {n}\"" for n in range(100)] + [f"neg,bad {n}" for n in range(100)]
    upload.add_labelled_csv("labels.csv", "\n".join(lines).encode())

    manifest = _manifest(storage, upload, handle(upload.payload(), storage, settings))

    assert manifest.counts() == {"pos": {"train": 70, "val": 30}, "neg": {"train": 70, "val": 30}}
    assert "good, really 7" in {s.text for s in manifest.samples}


def test_labelled_csv_header_with_other_names_is_not_an_example(storage, settings, new_upload):
    upload = new_upload("text", ["pos", "neg"])
    lines = ["comment,tag"] + [f"good {n},pos" for n in range(100)] + [f"bad {n},neg" for n in range(100)]
    upload.add_labelled_csv("labels.csv", "\n".join(lines).encode())

    result = handle(upload.payload(), storage, settings)

    assert len(_manifest(storage, upload, result).samples) == 200


def test_pasted_lines_are_examples_and_blank_lines_are_ignored(storage, settings, new_upload):
    upload = new_upload("text", ["a", "b"])
    upload.pasted = {str(i): "\n\n".join(_rows(i, 100)) + "\n" for i in range(2)}

    manifest = _manifest(storage, upload, handle(upload.payload(), storage, settings))

    assert manifest.counts() == {"a": {"train": 70, "val": 30}, "b": {"train": 70, "val": 30}}
    assert {s.source for s in manifest.samples if s.text == _rows(0)[1]} == {"pasted text line 3"}


def test_latin1_csv_is_accepted_and_noted(storage, settings, new_upload):
    upload = new_upload("text", ["a", "b"])
    upload.add_file(0, "a.csv", "\n".join(f"café numéro {n}" for n in range(100)).encode("latin-1"))
    upload.add_file(1, "b.csv", _csv(_rows(1, 100)))

    result = handle(upload.payload(), storage, settings)

    assert "café numéro 5" in {s.text for s in _manifest(storage, upload, result).samples}
    assert get_upload_status(storage, upload.upload_id).notes == [
        "a.csv is not UTF-8; it was read as Windows-1252 (Western European). "
        "Check that accented letters look right, or save it as UTF-8."]


def test_utf8_bom_and_header_are_not_part_of_the_first_example(storage, settings, new_upload):
    upload = new_upload("text", ["a", "b"])
    upload.add_file(0, "a.csv", b"\xef\xbb\xbf" + _csv(_rows(0, 100), header="Text"))
    upload.add_file(1, "b.csv", _csv(_rows(1, 100), header=""))

    manifest = _manifest(storage, upload, handle(upload.payload(), storage, settings))

    assert sorted(s.text for s in manifest.samples) == sorted(_rows(0, 100) + _rows(1, 100))


def test_text_column_is_picked_by_name_among_several(storage, settings, new_upload):
    upload = new_upload("text", ["a", "b"])
    upload.add_file(0, "a.tsv", ("id\treview\tstars\n" + "".join(
        f"{n}\tnice {n}\t5\n" for n in range(100))).encode())
    upload.add_file(1, "b.csv", _csv(_rows(1, 100)))

    manifest = _manifest(storage, upload, handle(upload.payload(), storage, settings))

    assert {s.text for s in manifest.samples if s.class_index == 0} == {f"nice {n}" for n in range(100)}


def test_whitespace_is_collapsed_and_unicode_composed(storage, settings, new_upload):
    upload = new_upload("text", ["a", "b"])
    upload.pasted = {"0": "\n".join(["  cafe\u0301 \t  au   lait  "] + _rows(0, 99)),
                     "1": "\n".join(_rows(1, 100))}

    manifest = _manifest(storage, upload, handle(upload.payload(), storage, settings))

    assert "caf\u00e9 au lait" in {s.text for s in manifest.samples}


def test_csv_injection_is_stored_as_plain_text(storage, settings, new_upload):
    upload = new_upload("text", ["a", "b"])
    upload.pasted = {"0": "\n".join(["=cmd|' /C calc'!A0"] + _rows(0, 99)), "1": "\n".join(_rows(1, 100))}

    manifest = _manifest(storage, upload, handle(upload.payload(), storage, settings))

    assert "=cmd|' /C calc'!A0" in {s.text for s in manifest.samples}


def test_empty_rows_are_skipped_and_reported(storage, settings, new_upload):
    upload = new_upload("text", ["a", "b"])
    rows = _rows(0, 100)
    upload.add_file(0, "a.csv", ("text\n" + "\n".join(rows[:3] + ["", "   "] + rows[3:])).encode())
    upload.add_file(1, "b.csv", _csv(_rows(1, 100)))

    result = handle(upload.payload(), storage, settings)

    assert len(_manifest(storage, upload, result).samples) == 200
    assert get_upload_status(storage, upload.upload_id).notes == [
        "Class 'a': a.csv: skipped 2 empty rows (5, 6)."]


def test_duplicate_rows_in_a_class_are_dropped_and_noted(storage, settings, new_upload):
    upload = new_upload("text", ["a", "b"])
    upload.add_file(0, "a.csv", _csv(_rows(0, 100) + [_rows(0)[0]]))
    upload.add_file(1, "b.csv", _csv(_rows(1, 100)))

    result = handle(upload.payload(), storage, settings)

    assert len(_manifest(storage, upload, result).samples) == 200
    assert get_upload_status(storage, upload.upload_id).notes == [
        "Class 'a': kept one of each exact duplicate, skipped 1 duplicate (a.csv row 102 = a.csv row 2)."]


def test_same_text_in_two_classes_is_refused(storage, settings, new_upload):
    upload = new_upload("text", ["a", "b"])
    upload.add_file(0, "a.csv", _csv(_rows(0, 100)))
    upload.add_file(1, "b.csv", _csv(_rows(1, 100) + [_rows(0)[4]]))

    assert _refused(storage, upload, settings) == [
        "Class 'b': b.csv row 102: the same text is also in class 'a' (a.csv row 6). "
        "Keep it in one class only."]


def test_empty_csv_is_refused(storage, settings, new_upload):
    upload = _three_classes(new_upload).add_file(2, "more.csv", b"")

    assert _refused(storage, upload, settings) == [
        "Class 'neutral': more.csv: the file is empty (0 bytes). Choose the file again or remove it."]


def test_csv_with_only_a_header_is_refused(storage, settings, new_upload):
    upload = _three_classes(new_upload).add_file(2, "more.csv", b"text\n\n")

    assert _refused(storage, upload, settings) == [
        "Class 'neutral': more.csv: the file has no rows of text. Put one example per row."]


def test_csv_with_10_mb_in_one_cell_is_refused_by_size(storage, settings, new_upload):
    huge = b'text\n"' + b"a" * (10 * 1024 * 1024) + b'"\n'
    upload = _three_classes(new_upload).add_file(0, "huge.csv", huge)

    assert _refused(storage, upload, settings) == [
        "Class 'positive': huge.csv: the file is 10.0 MB; the limit is 5.0 MB. "
        "Split it into smaller files or remove long rows."]


def test_over_long_row_is_refused_naming_the_row(storage, settings, new_upload):
    upload = _three_classes(new_upload).add_file(1, "long.csv", _csv(["short", "x" * 6000]))

    assert _refused(storage, upload, settings) == [
        "Class 'negative': long.csv row 3: the row is 6000 characters long; the limit is 5000. "
        "Shorten it or remove it."]


def test_row_beyond_the_csv_field_limit_is_refused_naming_the_row(storage, settings, new_upload):
    table = "id\ttext\n1\tshort\n2\t" + "x" * 200_000 + "\n"
    upload = _three_classes(new_upload).add_file(1, "long.tsv", table.encode())

    assert _refused(storage, upload, settings) == [
        "Class 'negative': long.tsv: row 3 is longer than 5000 characters. Shorten it or remove it."]


def test_binary_file_as_csv_is_refused(storage, settings, new_upload):
    upload = _three_classes(new_upload).add_file(0, "photo.csv", drawn_image(1, fmt="PNG"))

    assert _refused(storage, upload, settings) == [
        "Class 'positive': photo.csv: the file is not text (it looks like a binary file). "
        "Export it as a CSV or .txt file."]


def test_several_columns_without_a_text_column_are_refused_listing_them(storage, settings, new_upload):
    table = io.StringIO()
    table.write("id,author,body\n")
    table.writelines(f"{n},me,hello {n}\n" for n in range(100))
    upload = _three_classes(new_upload).add_file(0, "posts.csv", table.getvalue().encode())

    assert _refused(storage, upload, settings) == [
        "Class 'positive': posts.csv: the file has 3 columns ('id', 'author', 'body'); Teachbox needs one "
        "text column. Keep only the text column, or name it 'text' in the first row."]


def test_labelled_csv_with_an_unknown_label_is_refused_naming_the_rows(storage, settings, new_upload):
    upload = new_upload("text", ["pos", "neg"])
    lines = ["text,label"] + [f"good {n},pos" for n in range(102)] + [f"bad {n},neg" for n in range(100)]
    lines[5] = "meh,neutral"
    lines[9] = "so-so,neutral"
    upload.add_labelled_csv("labels.csv", "\n".join(lines).encode())

    assert _refused(storage, upload, settings) == [
        "labels.csv rows 6, 10: the label 'neutral' is not one of the classes ('pos', 'neg'). "
        "Correct the label, or add a class with that name."]


def test_too_few_examples_are_refused(storage, settings, new_upload):
    upload = new_upload("text", ["a", "b"])
    upload.pasted = {"0": "\n".join(_rows(0, 99)), "1": "\n".join(_rows(1, 100))}

    assert _refused(storage, upload, settings) == [
        "Class 'a': 99 examples; at least 100 are needed. Add 1 more."]


def test_four_text_classes_are_refused(storage, settings, new_upload):
    upload = new_upload("text", ["a", "b", "c", "d"])

    assert _refused(storage, upload, settings) == [
        "A text project needs 2 to 3 classes; this one has 4. Remove 1 class."]


def test_many_problems_in_one_field_are_shown_up_to_twenty(storage, settings, new_upload):
    long_rows = [f"{n} " + "x" * 6000 for n in range(25)]
    upload = _three_classes(new_upload).add_file(1, "long.csv", _csv(long_rows))

    problems = _refused(storage, upload, settings)

    assert len(problems) == 21
    assert problems[-1] == "5 more problems like these. Fix the ones above and upload again."


def test_retrain_can_add_a_class_to_the_base_dataset(storage, settings, new_upload):
    first = new_upload("text", ["a", "b"])
    first.pasted = {str(i): "\n".join(_rows(i, 100)) for i in range(2)}
    base_id = handle(first.payload(), storage, settings)["dataset_id"]
    retrain = new_upload("text", ["a", "b", "c"], project_id=first.project_id, base_dataset_id=base_id)
    retrain.pasted = {"2": "\n".join(_rows(2, 100))}

    result = handle(retrain.payload(), storage, settings)

    manifest = _manifest(storage, retrain, result)
    assert {name: sum(c.values()) for name, c in manifest.counts().items()} == {"a": 100, "b": 100, "c": 100}
