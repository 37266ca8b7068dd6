"""Decode text files, read CSVs and pasted lines, and normalize rows.

A class's examples come as a CSV with one text column, as one CSV with a text and a label
column, or as pasted lines. Row numbers are what a spreadsheet shows (the header is row 1),
so a person can find the row a message names.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import unicodedata
from dataclasses import dataclass

from teachbox.ingest._sizes import too_large_reason

__all__ = [
    "TEXT_COLUMN_NAMES",
    "LABEL_COLUMN_NAMES",
    "TextFileRejected",
    "DecodedText",
    "TextRow",
    "LabelledRow",
    "decode_text_file",
    "normalize_text",
    "read_text_column",
    "read_labelled_csv",
    "read_pasted_lines",
]

_logger = logging.getLogger(__name__)

TEXT_COLUMN_NAMES = ("text", "sentence", "review", "content")
LABEL_COLUMN_NAMES = ("label", "class", "category", "sentiment", "target")
_DELIMITERS = ",;\t|"
_SNIFF_CHARS = 64 * 1024
# Control characters other than tab, newline, carriage return and form feed.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")
_MAX_CONTROL_SHARE = 0.01


class TextFileRejected(ValueError):
    """A text file that cannot be used; ``reason`` and ``fix`` are for the person."""

    def __init__(self, reason: str, fix: str) -> None:
        super().__init__(f"{reason}. {fix}")
        self.reason = reason
        self.fix = fix


@dataclass(frozen=True)
class DecodedText:
    text: str
    encoding: str  # "utf-8", "utf-8-sig", "cp1252" or "latin-1"
    note: str = ""  # set when the encoding was a guess the person should check


@dataclass(frozen=True)
class TextRow:
    row: int  # spreadsheet row (header = 1) or pasted line number
    text: str  # normalized; "" for an empty row


@dataclass(frozen=True)
class LabelledRow:
    row: int
    text: str
    label: str


def normalize_text(text: str) -> str:
    """Trim, collapse runs of whitespace (newlines included) to one space, NFC-compose."""
    return unicodedata.normalize("NFC", " ".join(text.split()))


def decode_text_file(data: bytes, filename: str, max_bytes: int, full_size: int = 0) -> DecodedText:
    """Decode a CSV/text file: UTF-8 (with or without BOM), else Windows-1252, else Latin-1.
    ``full_size`` is the file's size when ``data`` holds only its first ``max_bytes + 1`` bytes.

    Raises:
        TextFileRejected: empty, over ``max_bytes``, or binary.
    """
    if not data:
        raise TextFileRejected("the file is empty (0 bytes)", "Choose the file again or remove it.")
    if len(data) > max_bytes:
        raise TextFileRejected(
            too_large_reason(full_size or len(data), max_bytes),
            "Split it into smaller files or remove long rows.",
        )
    binary = TextFileRejected(
        "the file is not text (it looks like a binary file)",
        "Export it as a CSV or .txt file.",
    )
    if b"\x00" in data:
        raise binary
    note = ""
    try:
        encoding = "utf-8-sig" if data.startswith(b"\xef\xbb\xbf") else "utf-8"
        text = data.decode(encoding)
    except UnicodeDecodeError:
        try:
            encoding, text = "cp1252", data.decode("cp1252")
            label = "Windows-1252 (Western European)"
        except UnicodeDecodeError:
            encoding, text = "latin-1", data.decode("latin-1")
            label = "Latin-1"
        note = (
            f"{filename} is not UTF-8; it was read as {label}. "
            "Check that accented letters look right, or save it as UTF-8."
        )
    if len(_CONTROL.findall(text)) > _MAX_CONTROL_SHARE * len(text):
        raise binary
    return DecodedText(text=text, encoding=encoding, note=note)


def _unquote(line: str) -> str:
    """A one-column line as a spreadsheet writes it: quoted when it holds commas or quotes.
    Only a quote pair around the whole line counts, so a stray quote never swallows the
    lines after it."""
    stripped = line.strip()
    if len(stripped) >= 2 and stripped[0] == stripped[-1] == '"':
        return stripped[1:-1].replace('""', '"')
    return line


def _lines(text: str) -> list[tuple[int, list[str]]]:
    return [(number, [_unquote(line)]) for number, line in enumerate(text.splitlines(), start=1)]


def _records(text: str, max_chars: int) -> list[tuple[int, list[str]]]:
    """(row number, cells) for every record, with the delimiter sniffed; lines if none."""
    try:
        dialect = csv.Sniffer().sniff(text[:_SNIFF_CHARS], delimiters=_DELIMITERS)
    except csv.Error:
        return _lines(text)
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    records = []
    number = 0
    try:
        for number, cells in enumerate(reader, start=1):
            records.append((number, cells))
    except csv.Error as error:
        if "field larger than field limit" in str(error):
            raise TextFileRejected(
                f"row {number + 1} is longer than {max_chars} characters", "Shorten it or remove it."
            ) from None
        raise TextFileRejected(
            f"row {number + 1} is not valid CSV ({error})", "Fix the quotes in that row."
        ) from None
    widths = {len(cells) for _, cells in records if any(c.strip() for c in cells)}
    if len(widths) > 1:
        # The "delimiter" is punctuation inside free text: one text per line.
        return _lines(text)
    return records


def _header(records: list[tuple[int, list[str]]]) -> list[str]:
    return [c.strip().casefold() for c in records[0][1]] if records else []


def _find(names: list[str], wanted: tuple[str, ...]) -> int:
    for index, name in enumerate(names):
        if name in wanted:
            return index
    return -1


def _describe_columns(records: list[tuple[int, list[str]]]) -> str:
    return ", ".join(repr(c.strip()) for c in records[0][1])


def _no_rows() -> TextFileRejected:
    return TextFileRejected("the file has no rows of text", "Put one example per row.")


def read_text_column(text: str, max_chars: int, one_per_line: bool = False) -> list[TextRow]:
    """The rows of a one-text-column CSV (or the column named text/sentence/review/content),
    header skipped, empty rows kept as "" so the caller can report them. ``one_per_line``
    (a .txt file) takes every line whole: commas in prose are not columns.

    Raises:
        TextFileRejected: several columns and none named as text, a malformed or over-long row,
            or no text at all.
    """
    records = _lines(text) if one_per_line else _records(text, max_chars)
    header = _header(records)
    column = _find(header, TEXT_COLUMN_NAMES)
    width = max((len(cells) for _, cells in records), default=0)
    if column < 0 and width > 1:
        raise TextFileRejected(
            f"the file has {width} columns ({_describe_columns(records)}); "
            "Teachbox needs one text column",
            "Keep only the text column, or name it 'text' in the first row.",
        )
    if column >= 0:
        records = records[1:]
    rows = [
        TextRow(number, normalize_text(cells[max(column, 0)] if len(cells) > max(column, 0) else ""))
        for number, cells in records
    ]
    if not any(row.text for row in rows):
        raise _no_rows()
    return rows


def read_labelled_csv(text: str, class_names: list[str], max_chars: int) -> list[LabelledRow]:
    """Rows of a CSV with a text column and a label column. The columns are found by their
    header names or, in a two-column file without a header, the label column is the one whose
    values are class names.

    Raises:
        TextFileRejected: the two columns cannot be told apart, a row is malformed or too long,
            or there is no text.
    """
    records = _records(text, max_chars)
    header = _header(records)
    text_column, label_column = _find(header, TEXT_COLUMN_NAMES), _find(header, LABEL_COLUMN_NAMES)
    width = max((len(cells) for _, cells in records), default=0)
    if text_column >= 0 and label_column >= 0:
        records = records[1:]
    elif width == 2:
        known = {name.casefold() for name in class_names}
        matches = [sum(c[i].strip().casefold() in known for _, c in records if len(c) == 2) for i in (0, 1)]
        label_column = 0 if matches[0] > matches[1] else 1
        text_column = 1 - label_column
        first = records[0][1] if records else []
        if len(first) == 2 and first[label_column].strip().casefold() not in known:
            records = records[1:]  # a header with other names ("comment,tag"), not a labelled row
    else:
        raise TextFileRejected(
            f"the file has {width} column{'s' if width != 1 else ''} "
            f"({_describe_columns(records)}); Teachbox needs a text column and a label column",
            "Name them 'text' and 'label' in the first row.",
        )
    rows = []
    for number, cells in records:
        def cell(index: int, cells: list[str] = cells) -> str:
            return cells[index] if index < len(cells) else ""

        rows.append(LabelledRow(number, normalize_text(cell(text_column)), cell(label_column).strip()))
    if not any(row.text for row in rows):
        raise _no_rows()
    return rows


def read_pasted_lines(text: str) -> list[TextRow]:
    """One example per pasted line; blank lines are dropped (they are how people separate)."""
    rows = [TextRow(number, normalize_text(line)) for number, line in enumerate(text.splitlines(), start=1)]
    return [row for row in rows if row.text]
