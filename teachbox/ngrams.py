"""Word and character n-gram features for text, shared by training and serving (numpy + nltk).

Words come from nltk's ``TreebankWordTokenizer`` and ``SnowballStemmer``; neither needs
nltk data files, so nothing is ever downloaded at run time. Character n-grams are taken
inside word boundaries (``" word "``) as in scikit-learn's ``char_wb``. The vocabulary and
inverse document frequencies are fitted on the training split only and stored in the
bundle as ``ngrams.json``; a feature row is sublinear tf-idf, L2-normalised.
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from nltk.stem.snowball import SnowballStemmer
from nltk.tokenize import RegexpTokenizer, TreebankWordTokenizer

__all__ = [
    "NGRAMS_FORMAT_VERSION",
    "NgramVocabulary",
    "fit_ngrams",
    "word_terms",
    "char_terms",
]

_logger = logging.getLogger(__name__)

NGRAMS_FORMAT_VERSION = 1
WORD_NGRAMS = (1, 2)
CHAR_NGRAMS = (3, 5)
_WORD_CHARS = re.compile(r"\w")
# Splits text into runs of letters/digits for character n-grams (punctuation is a boundary).
_CHAR_WORDS = RegexpTokenizer(r"\w+")
_TREEBANK = TreebankWordTokenizer()
_STEMMER = SnowballStemmer("english")


def _stems(text: str) -> list[str]:
    # Punctuation tokens carry little topic signal and inflate the vocabulary.
    return [
        _STEMMER.stem(token)
        for token in _TREEBANK.tokenize(text.lower())
        if _WORD_CHARS.search(token)
    ]


def word_terms(text: str) -> list[str]:
    """Stemmed word unigrams and bigrams of ``text``, prefixed ``w:``."""
    stems = _stems(text)
    terms = []
    for n in range(WORD_NGRAMS[0], WORD_NGRAMS[1] + 1):
        terms.extend("w:" + " ".join(stems[i : i + n]) for i in range(len(stems) - n + 1))
    return terms


def char_terms(text: str) -> list[str]:
    """Character 3- to 5-grams inside word boundaries of ``text``, prefixed ``c:``."""
    terms = []
    for word in _CHAR_WORDS.tokenize(text.lower()):
        padded = f" {word} "
        for n in range(CHAR_NGRAMS[0], CHAR_NGRAMS[1] + 1):
            terms.extend("c:" + padded[i : i + n] for i in range(len(padded) - n + 1))
    return terms


def _terms(text: str) -> list[str]:
    return word_terms(text) + char_terms(text)


@dataclass
class NgramVocabulary:
    """A fitted vocabulary: ``terms[i]`` is column ``i``, weighted by ``idf[i]``."""

    terms: list[str]
    idf: list[float]
    format_version: int = NGRAMS_FORMAT_VERSION

    def __post_init__(self) -> None:
        self._index = {term: i for i, term in enumerate(self.terms)}
        self._idf = np.asarray(self.idf, dtype=np.float32)

    @property
    def dim(self) -> int:
        return len(self.terms)

    def transform(self, texts: Sequence[str]) -> np.ndarray:
        """Sublinear tf-idf rows, L2-normalised, float32 ``[len(texts), dim]``."""
        features = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            counts = Counter(t for t in _terms(text) if t in self._index)
            if not counts:
                continue
            columns = np.fromiter((self._index[t] for t in counts), dtype=np.int64, count=len(counts))
            values = np.fromiter(counts.values(), dtype=np.float32, count=len(counts))
            features[row, columns] = (1.0 + np.log(values)) * self._idf[columns]
        norms = np.linalg.norm(features, axis=1, keepdims=True)
        return features / np.maximum(norms, 1e-12)

    def to_dict(self) -> dict:
        return {
            "format_version": self.format_version,
            "word_ngrams": list(WORD_NGRAMS),
            "char_ngrams": list(CHAR_NGRAMS),
            "terms": self.terms,
            "idf": self.idf,
        }

    @classmethod
    def from_dict(cls, data: dict) -> NgramVocabulary:
        if data.get("format_version", 0) > NGRAMS_FORMAT_VERSION:
            raise ValueError(
                f"ngrams.json has format {data['format_version']}, newer than this Teachbox "
                f"understands ({NGRAMS_FORMAT_VERSION}); upgrade Teachbox."
            )
        return cls(terms=list(data["terms"]), idf=[float(v) for v in data["idf"]])


def fit_ngrams(
    texts: Iterable[str], max_terms: int = 4000, min_df: int = 2
) -> NgramVocabulary:
    """Fit the vocabulary on training texts: the ``max_terms`` terms found in the most texts
    (at least ``min_df`` of them; ties broken alphabetically so a fit is deterministic)."""
    texts = list(texts)
    document_frequency: Counter[str] = Counter()
    for text in texts:
        document_frequency.update(set(_terms(text)))
    kept = [(t, df) for t, df in document_frequency.items() if df >= min_df]
    kept.sort(key=lambda item: (-item[1], item[0]))
    kept = kept[:max_terms]
    n = len(texts)
    # Smoothed idf, as scikit-learn's TfidfVectorizer(smooth_idf=True).
    idf = [math.log((1 + n) / (1 + df)) + 1.0 for _, df in kept]
    _logger.debug("fitted %d n-gram terms on %d texts", len(kept), n)
    return NgramVocabulary(terms=[t for t, _ in kept], idf=idf)
