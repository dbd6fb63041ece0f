"""A learner's typos, corrected to the handbook's own words before anything reads the question.

A misspelt word ("overfiting", "atention", "diffrence") is a word the handbook never uses and English rarely
does, which is how declining recognises a topic the handbook lacks (rag/unknown.py): 17 of the 24 misspelt
questions of eval/data/typos_s25.jsonl were declined, most with "the handbook never uses the word ...". A word
is corrected when the handbook does not use it (in any inflection), English rarely does (Zipf < MAX_ZIPF:
"salaries" or "dose" are words, not typos), it is written in lower case or capitalised (an acronym in
capitals, "GELU", or its plural, "GRUs", names something of its own, not "ReLU" misspelt), and a handbook word
lies within MAX_EDITS (Damerau-Levenshtein: a letter dropped, doubled, changed, or two swapped); the handbook's
most frequent such word wins.

    >>> speller = Speller(["Overfitting: the model memorizes training data. Attention weights the values."])
    >>> speller.correct("What is overfiting and how does atention work?")
    'What is overfitting and how does attention work?'
    >>> speller.correct("How does a Kalman filter track GELU?")
    'How does a Kalman filter track GELU?'
    >>> speller.correct("What does the handbook say about GRUs?")  # not "gpus", one edit away
    'What does the handbook say about GRUs?'
    >>> Speller(["Tune the model, tune it again, then plot it with t-SNE."]).correct("what is tsne")
    'what is t-sne'
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

from rapidfuzz import process
from rapidfuzz.distance import DamerauLevenshtein

from rag.unknown import known, zipf

MAX_ZIPF = 3.0  # at or above: an English word, right as written
# Each of the 28 typos of eval/data/typos_s25.jsonl is one edit from its word; two edits also turned real words
# the handbook lacks into its own ("quartiles" into "quantile", "flagging" into "bagging", "statistician").
MAX_EDITS = 1
MIN_LENGTH = 4  # shorter words have too many neighbours one edit away
_WORD = re.compile(r"[A-Za-z]+(?:['’-][A-Za-z]+)*")  # "t-SNE" and "shouldn't" whole


class Speller:
    """The handbook's words and how often it uses each, built once with the index's chunks."""

    def __init__(self, texts: Iterable[str], vocabulary: frozenset[str] = frozenset()) -> None:
        self.counts = Counter(w for text in texts for w in _WORD.findall(text.lower()) if len(w) >= MIN_LENGTH)
        self.words = sorted(self.counts)
        self.vocabulary = vocabulary  # the stems of rag/unknown.py: an inflection the handbook lacks is no typo
        # A hyphenated word written without its hyphen ("tsne" for "t-SNE") is that word, before any other one
        # edit away: "tune" is used more often, and won.
        self.joined = {w.replace("-", ""): w for w in self.words if "-" in w}

    def correct(self, question: str) -> str:
        """The question with each typo replaced by the handbook's word (as the handbook writes it: lower case)."""
        return _WORD.sub(lambda m: self._word(m.group()), question)

    def _word(self, word: str) -> str:
        lower = word.lower()
        acronym = word.isupper() or (word[-1] == "s" and word[:-1].isupper())  # "GELU", "GRUs"
        if len(word) < MIN_LENGTH or acronym or lower in self.counts or "'" in lower or "’" in lower:
            return word
        if (self.vocabulary and known(lower, self.vocabulary)) or zipf(lower) >= MAX_ZIPF:
            return word
        if lower in self.joined:
            return self.joined[lower]
        near = process.extract(
            lower, self.words, scorer=DamerauLevenshtein.distance, score_cutoff=MAX_EDITS, limit=None
        )
        if not near:
            return word
        best = min(score for _, score, _ in near)
        return max((w for w, score, _ in near if score == best), key=lambda w: (self.counts[w], w))
