"""Domain rules for turning what a person uploaded into dataset samples.

``images`` decodes, checks and normalizes one image file; ``text`` decodes text files, reads
CSVs and normalizes rows. Both report what is wrong as sentences a person can act on, so the
preprocess step, the API and a zip import all refuse bad input in the same words.
"""

from teachbox.ingest.images import IMAGE_FORMATS, ImageRejected, NormalizedImage, normalize_image
from teachbox.ingest.text import (
    LABEL_COLUMN_NAMES,
    TEXT_COLUMN_NAMES,
    DecodedText,
    LabelledRow,
    TextFileRejected,
    TextRow,
    decode_text_file,
    normalize_text,
    read_labelled_csv,
    read_pasted_lines,
    read_text_column,
)

__all__ = [
    "IMAGE_FORMATS",
    "ImageRejected",
    "NormalizedImage",
    "normalize_image",
    "TEXT_COLUMN_NAMES",
    "LABEL_COLUMN_NAMES",
    "DecodedText",
    "LabelledRow",
    "TextFileRejected",
    "TextRow",
    "decode_text_file",
    "normalize_text",
    "read_labelled_csv",
    "read_pasted_lines",
    "read_text_column",
]
