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

A term of two words clipped ("batch norm", "log reg", "grad descent", "cross val") is the handbook's term, when
the handbook names it (a heading, a table's first column, a bold label: `terms`). Before this, 7 of the 24
questions of eval/data/clipped_s32.jsonl were declined ("explain grad descent like I'm five") and "how does log
reg turn a score into a class?" opened on MLflow's code.

    >>> speller = Speller(["| **Logistic Regression** | Linear |"], terms={"logistic regression"})
    >>> speller.correct("how does Log Reg work?"), speller.correct("is a log regular?")
    ('how does logistic regression work?', 'is a log regular?')

So is one word clipped that neither the handbook nor English uses ("backprop", "hyperparams", "preproc"): the
handbook's most frequent word it begins. 7 of the 10 questions of eval/data/clipword_s32.jsonl were declined.

    >>> speller = Speller(["Backpropagation computes gradients. Tune hyperparameters, then the hyperparameter."])
    >>> speller.correct("is backprop slow?"), speller.correct("which hyperparams?"), speller.correct("a backpack?")
    ('is backpropagation slow?', 'which hyperparameters?', 'a backpack?')

English shorthand that is no clip of the handbook's word ("std dev", "avg", "lr", "nn") is read as its words
(`SHORTHAND`), when written in lower case outside code. Of the 14 questions of eval/data/abbrev_s33.jsonl, 1 was
declined and 7 opened on a gold section; none and 10 after ("what does an lr scheduler do?" was declined).

A typo that is itself an English word ("gradient decent", "learning rat", "transfer leaning") is wrong only
beside its term's other words: a two- or three-word term the handbook names, written with one word a word of
English the handbook never uses, within MAX_TERM_EDITS of the term's own, is read as the term. 4 of the 9
questions of eval/data/realword_s33.jsonl were declined; 1 after.

    >>> speller = Speller(["Gradient descent and the learning rate."], terms={"gradient descent", "learning rate"})
    >>> speller.correct("is gradient decent slow?"), speller.correct("a good learning rat?")
    ('is gradient descent slow?', 'a good learning rate?')
    >>> speller.correct("a decent gradient?"), speller.correct("is zero shot learning a rate?")
    ('a decent gradient?', 'is zero shot learning a rate?')

    >>> speller = Speller(["The standard deviation sets the learning rate of a neural network."])
    >>> speller.correct("std dev of an lr?"), speller.correct("what does nn.Linear do with LR or lr=0.1?")
    ('standard deviation of a learning rate?', 'what does nn.Linear do with LR or lr=0.1?')
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence

from rapidfuzz import process
from rapidfuzz.distance import DamerauLevenshtein

from rag.definition import term_key
from rag.unknown import known, zipf

MAX_ZIPF = 3.0  # at or above: an English word, right as written
# Each of the 28 typos of eval/data/typos_s25.jsonl is one edit from its word; two edits also turned real words
# the handbook lacks into its own ("quartiles" into "quantile", "flagging" into "bagging", "statistician").
MAX_EDITS = 1
MIN_LENGTH = 4  # shorter words have too many neighbours one edit away
MIN_PREFIX = 4  # "batchnorm": the second word of a phrase cut to at least this many letters ("norm")
# "reg" for "regression": a clipped word keeps this many letters or more and drops as many ("set" is not "sets").
MIN_CLIP = 3
# English shorthand a learner writes for a word the handbook spells out; not a clip of it ("std", "avg") or a
# clip English already uses ("temp", "stats"), so neither rule above reads it. Lower case only: "LR" and "NN"
# are acronyms a learner chose. Expanded where the handbook uses the words (eval/data/abbrev_s33.jsonl).
SHORTHAND = {
    "std": "standard deviation",
    "avg": "average",
    "lr": "learning rate",
    "nn": "neural network",
    "nns": "neural networks",
    "temp": "temperature",
    "corr": "correlation",
    "prob": "probability",
    "probs": "probabilities",
    "stats": "statistics",
    "diff": "difference",
    "info": "information",
    "approx": "approximate",
    "eval": "evaluation",
    "val": "validation",
}
SHORTHAND_PAIRS = {("std", "dev"): "standard deviation", ("dev", "set"): "validation set"}
# A typo that is itself an English word ("gradient decent", "learning rat") is wrong only beside its term's other
# words: a word of a two- or three-word term this many edits off, the other words as the term writes them.
MAX_TERM_EDITS = 2  # "principle" for "principal"; a word under 5 letters 1 ("rat", "tee")
_CODE = frozenset("._(=/")  # "nn.Linear", "lr=0.01", "torch.optim.lr_scheduler": code, as written
_WORD = re.compile(r"[A-Za-z]+(?:['’-][A-Za-z]+)*")  # "t-SNE" and "shouldn't" whole
_RUN = re.compile(r"[a-z]+(?: [a-z]+)+")  # words separated by single spaces only: a phrase, not two cells
_CAMEL = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+")  # "GridSearchCV": Grid, Search, CV


class Speller:
    """The handbook's words and how often it uses each, built once with the index's chunks."""

    def __init__(
        self, texts: Sequence[str], vocabulary: frozenset[str] = frozenset(), terms: Iterable[str] = ()
    ) -> None:
        self.counts = Counter(w for text in texts for w in _WORD.findall(text.lower()) if len(w) >= MIN_LENGTH)
        self.words = sorted(self.counts)
        self.vocabulary = vocabulary  # the stems of rag/unknown.py: an inflection the handbook lacks is no typo
        # A hyphenated word written without its hyphen ("tsne" for "t-SNE") is that word, before any other one
        # edit away: "tune" is used more often, and won.
        self.joined = {w.replace("-", ""): w for w in self.words if "-" in w}
        self.phrases = phrases(texts)
        self.clipped = clipped(texts, frozenset(terms))

        def spelled(full: str) -> bool:  # the handbook writes the words a shorthand stands for
            return all(w in self.counts or len(w) < MIN_LENGTH for w in full.split())

        self.shorthand = {short: full for short, full in SHORTHAND.items() if spelled(full)}
        self.clipped |= {pair: full for pair, full in SHORTHAND_PAIRS.items() if spelled(full)}
        self.terms = {tuple(t.split()) for t in terms if 2 <= len(t.split()) <= 3}
        # Words the handbook uses inside a hyphenated one ("shot" of "few-shot"): never a typo for another.
        self.parts = {p for w in self.words if "-" in w for p in w.split("-")}

    def correct(self, question: str) -> str:
        """The question with each clipped term and each typo replaced by the handbook's words (as the handbook
        writes them: lower case)."""
        return _WORD.sub(self._match, self._misheard(self._unclip(question)))

    def _misheard(self, question: str) -> str:
        """The question with each term written with one word a real word near the term's ("gradient decent",
        "transfer leaning", "decision tee") written as the handbook names it."""
        return _replace_runs(question, (3, 2), lambda run: self._term_for([w.group().lower() for w in run]))

    def _term_for(self, said: list[str]) -> str:
        """The named term these words mean, when all but one are its words (a plural allowed) and that one is an
        English word the handbook never uses within MAX_TERM_EDITS of the term's; else ""."""
        if tuple(said) in self.terms:
            return ""
        found = []
        for term in self.terms:
            if len(term) != len(said):
                continue
            odd = [(w, t) for w, t in zip(said, term, strict=True) if w not in (t, f"{t}s", f"{t}es")]
            if len(odd) != 1:
                continue
            word, meant = odd[0]
            plural = word.endswith("s") and not meant.endswith("s")
            stem = word[:-1] if plural else word
            limit = MAX_TERM_EDITS if len(meant) >= 5 else 1
            used = word in self.counts or word in self.parts or len(word) < 3
            if not used and zipf(word) >= MAX_ZIPF and DamerauLevenshtein.distance(stem, meant) <= limit:
                found.append(
                    " ".join(
                        t if (w, t) != odd[0] else (f"{meant}s" if plural else meant)
                        for w, t in zip(said, term, strict=True)
                    )
                )
        return found[0] if len(found) == 1 else ""

    def _match(self, match: re.Match[str]) -> str:
        word, text = match.group(), match.string
        if word.lower() == "an" and (after := _WORD.match(text, match.end() + 1)) and self._expands(after):
            return word[0] if self.shorthand[after.group()][0] not in "aeiou" else word  # "an lr": "a learning rate"
        return self.shorthand[word] if self._expands(match) else self._word(word)

    def _expands(self, match: re.Match[str]) -> bool:
        """A shorthand as written (lower case), not in code."""
        text = match.string
        near = text[match.start() - 1 : match.start()] + text[match.end() : match.end() + 1]
        return match.group() in self.shorthand and not _CODE & set(near)

    def _unclip(self, question: str) -> str:
        return _replace_runs(question, (2,), self._clipped_term)

    def _clipped_term(self, run: list[re.Match[str]]) -> str:
        """The term two clipped words stand for ("log reg"), or "": not for acronyms a learner chose ("LR")."""
        if any(w.group().isupper() and len(w.group()) > 1 for w in run):
            return ""
        return self.clipped.get((run[0].group().lower(), run[1].group().lower()), "")

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
            return self._unclipped(lower) or word
        best = min(score for _, score, _ in near)
        return max((w for w, score, _ in near if score == best), key=lambda w: (self.counts[w], w))

    def _unclipped(self, lower: str) -> str:
        """The handbook's most frequent word that `lower` begins, MIN_CLIP or more letters shorter ("backprop":
        "backpropagation", "hyperparam": "hyperparameters"), or ""."""
        if lower.endswith("s") and (single := self._unclipped(lower[:-1])):  # "hyperparams"
            return f"{single}s" if f"{single}s" in self.counts else single
        start = bisect.bisect_left(self.words, lower)
        longer = itertools.takewhile(lambda w: w.startswith(lower), self.words[start:])
        found = [w for w in longer if len(w) - len(lower) >= MIN_CLIP and "-" not in w]
        # A word and its plural are one word: "hyperparameter" for "hyperparam", as often as "hyperparameters".
        uses = {w: self.counts[w] + self.counts.get(f"{w}s", 0) for w in found}
        return max(found, key=lambda w: (uses[w], -len(w))) if len(lower) >= MIN_PREFIX and found else ""

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


def _replace_runs(question: str, sizes: tuple[int, ...], read: Callable[[list[re.Match[str]]], str]) -> str:
    """The question with each run of words one space apart that `read` names a term for written as that term,
    runs of the first size tried first, left to right."""
    words = list(_WORD.finditer(question))
    out, at, i = [], 0, 0
    while i < len(words):
        for n in sizes:
            run = words[i : i + n]
            spaced = len(run) == n and all(question[a.end() : b.start()] == " " for a, b in itertools.pairwise(run))
            if spaced and (term := read(run)):
                out += [question[at : run[0].start()], term]
                at, i = run[-1].end(), i + n
                break
        else:
            i += 1
    return "".join([*out, question[at:]])


def clipped(texts: Iterable[str], terms: frozenset[str]) -> dict[tuple[str, str], str]:
    """Each two-word term of the handbook (a phrase of the texts whose `term_key` is one of `terms` or opens one,
    or a word of two joined by a hyphen) by its words with one or both clipped after MIN_CLIP or more letters,
    MIN_CLIP or more dropped. The most frequent term wins a shared key, written as its shortest phrase ("neural
    network", not "neural networks"); a key the texts use as a phrase stays as written.

    >>> c = clipped(["Batch Normalization, cross-validation, batch size"], frozenset({"batch normalization"}))
    >>> c["batch", "norm"], c["cross", "val"], ("batch", "siz") in c
    ('batch normalization', 'cross-validation', False)
    >>> clipped(["mixed precision training"], frozenset({"mixed precision training"}))["mixed", "prec"]
    'mixed precision'
    """
    counts = _pairs(texts)
    written: dict[tuple[str, str], str] = {}
    for text in texts:
        for word in _WORD.findall(text.lower()):
            if word.count("-") == 1 and (pair := tuple(word.split("-"))) not in written:
                written[pair] = word  # "cross-validation" names a term of its own, whatever `terms` holds
                counts[pair] += 1
    opening = terms | {" ".join(t.split()[:2]) for t in terms}  # "mixed precision" of "mixed precision training"
    named: dict[str, tuple[int, str]] = {}  # a term's key -> how often the texts use it, and its shortest phrase
    for pair, n in counts.items():
        if pair in written or (key := term_key(" ".join(pair))) in opening:
            phrase = written.get(pair, " ".join(pair))
            key = phrase if pair in written else key
            total, shortest = named.get(key, (0, phrase))
            named[key] = (total + n, min(shortest, phrase, key=len))
    out: dict[tuple[str, str], tuple[int, str]] = {}
    for n, phrase in named.values():
        pair = tuple(re.split(r"[ -]", phrase))
        for key in itertools.product(_clips(pair[0]), _clips(pair[1])):
            if key != pair and n > out.get(key, (0, ""))[0]:
                out[key] = (n, phrase)
    return {key: phrase for key, (_, phrase) in out.items() if key not in counts}


def _pairs(texts: Iterable[str]) -> Counter[tuple[str, str]]:
    """How often the texts write each two words in a row, lower case, within a phrase (`_RUN`)."""
    return Counter(
        pair for text in texts for run in _RUN.findall(text.lower()) for pair in itertools.pairwise(run.split())
    )


def _clips(word: str) -> list[str]:
    return [word, *(word[:n] for n in range(MIN_CLIP, len(word) - MIN_CLIP + 1))]


def phrases(texts: Iterable[str]) -> dict[str, str]:
    """Each two-word phrase of the texts by its words joined ("logloss": "log loss"), and by the first word
    and the second cut after MIN_PREFIX or more letters ("batchnorm": "batch normalization"); the most
    frequent phrase wins a shared key.

    >>> phrases(["Log Loss and **batch normalization**: batch size"])["batchnorm"]
    'batch normalization'
    """
    counts = {pair: n for pair, n in _pairs(texts).items() if min(len(pair[0]), len(pair[1])) >= 3}
    out: dict[str, tuple[int, str]] = {}
    for (first, second), n in counts.items():
        for cut in {len(second), *range(MIN_PREFIX, len(second))}:
            key = first + second[:cut]
            if n > out.get(key, (0, ""))[0]:
                out[key] = (n, f"{first} {second}")
    return {key: phrase for key, (_, phrase) in out.items()}
