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

Two words written as one are the handbook's two words: "batchnorm" or "logloss" for its "Batch Normalization"
and "Log Loss" (the first word whole, the second whole or cut after at least MIN_PREFIX letters), and a class
name ("RandomForestClassifier", "TfidfVectorizer") is read as its words when they hold one of the handbook's
phrases or words. Before this, "the handbook never uses the word batchnorm" declined 18 of the 27 questions of
eval/data/joined_s29.jsonl.

    >>> speller = Speller(["**Batch Normalization** speeds training.", "| **Random Forest** | bagging |"])
    >>> speller.correct("why use batchnorm in a RandomForestClassifier?")
    'why use batch normalization in a random forest classifier?'
    >>> speller.correct("is a DeepSpeed randomwalk a forestry thing?")  # no handbook phrase: as written
    'is a DeepSpeed randomwalk a forestry thing?'
"""

from __future__ import annotations

import itertools
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
MIN_PREFIX = 4  # "batchnorm": the second word of a phrase cut to at least this many letters ("norm")
_WORD = re.compile(r"[A-Za-z]+(?:['’-][A-Za-z]+)*")  # "t-SNE" and "shouldn't" whole
_RUN = re.compile(r"[a-z]+(?: [a-z]+)+")  # words separated by single spaces only: a phrase, not two cells
_CAMEL = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+")  # "GridSearchCV": Grid, Search, CV


class Speller:
    """The handbook's words and how often it uses each, built once with the index's chunks."""

    def __init__(self, texts: Iterable[str], vocabulary: frozenset[str] = frozenset()) -> None:
        self.counts = Counter(w for text in texts for w in _WORD.findall(text.lower()) if len(w) >= MIN_LENGTH)
        self.words = sorted(self.counts)
        self.vocabulary = vocabulary  # the stems of rag/unknown.py: an inflection the handbook lacks is no typo
        # A hyphenated word written without its hyphen ("tsne" for "t-SNE") is that word, before any other one
        # edit away: "tune" is used more often, and won.
        self.joined = {w.replace("-", ""): w for w in self.words if "-" in w}
        self.phrases = phrases(texts)

    def correct(self, question: str) -> str:
        """The question with each typo replaced by the handbook's word (as the handbook writes it: lower case)."""
        return _WORD.sub(lambda m: self._word(m.group()), question)

    def _word(self, word: str) -> str:
        lower = word.lower()
        acronym = word.isupper() or (word[-1] == "s" and word[:-1].isupper())  # "GELU", "GRUs"
        if lower.endswith(("'s", "’s")) and len(word) > 2:  # "RandomForestClassifier's"
            return self._word(word[:-2]) + word[-2:]
        if len(word) < MIN_LENGTH or acronym or "'" in lower or "’" in lower:
            return word
        if (self.vocabulary and known(lower, self.vocabulary)) or zipf(lower) >= MAX_ZIPF:
            return word
        split = self._split(word)  # before the handbook's words: "BatchNorm" is in its code, not its prose
        if split:
            return split
        if lower in self.counts:
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

    def _split(self, word: str) -> str:
        """A phrase of the handbook written as one word, or a class name read as its words; "" if neither."""
        lower = word.lower()
        if lower in self.phrases:
            return self.phrases[lower]
        parts = [p.lower() for p in _CAMEL.findall(word)]
        if len(parts) < 2 or "".join(parts) != lower:
            return ""
        out, found, i = [], False, 0
        while i < len(parts):
            pair = "".join(parts[i : i + 2]) if i + 1 < len(parts) else ""
            if pair and (pair in self.phrases or pair in self.counts):  # "Random"+"Forest", "Grid"+"Search"
                out.append(self.phrases.get(pair, pair))
                found, i = True, i + 2
                continue
            found = found or parts[i] in self.joined  # "Tfidf" is "tf-idf"
            out.append(self.joined.get(parts[i], parts[i]))
            i += 1
        return " ".join(out) if found else ""


def phrases(texts: Iterable[str]) -> dict[str, str]:
    """Each two-word phrase of the texts by its words joined ("logloss": "log loss"), and by the first word
    and the second cut after MIN_PREFIX or more letters ("batchnorm": "batch normalization"); the most
    frequent phrase wins a shared key.

    >>> phrases(["Log Loss and **batch normalization**: batch size"])["batchnorm"]
    'batch normalization'
    """
    counts = Counter(
        pair
        for text in texts
        for run in _RUN.findall(text.lower())
        for pair in itertools.pairwise(run.split())
        if min(len(pair[0]), len(pair[1])) >= 3
    )
    out: dict[str, tuple[int, str]] = {}
    for (first, second), n in counts.items():
        for cut in {len(second), *range(MIN_PREFIX, len(second))}:
            key = first + second[:cut]
            if n > out.get(key, (0, ""))[0]:
                out[key] = (n, f"{first} {second}")
    return {key: phrase for key, (_, phrase) in out.items()}
