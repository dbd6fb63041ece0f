"""The word in a question the handbook never uses and everyday English rarely does: a topic it does not teach.

A learner's everyday wording brings words the handbook lacks too ("spreadsheet", "squash", "memorising"),
so absence alone says little. How common the word is in English says the rest: an interview topic the
handbook lacks is named by a rare term ("heteroscedasticity", "Wilcoxon", "Kalman"), an everyday rewording
by common words. The strength is 5 minus the word's Zipf frequency (wordfreq: 7 for "the", about 3 for
"gini"), clipped to 0-5; 0 when every word is the handbook's own (in any spelling) or common. Names get no
special weight: learners name their tools ("Excel", "Google"), eval/README.md, eleventh round.

Rarity cannot tell "chatbot" (Zipf 2.3) from "Kalman" (2.5). What the word does to the question's match
can: the embedder reads "chatbot" near the handbook's LLM sections, so the question matches the handbook
better with it than with a placeholder (`masked`); "Kalman" or "heteroscedasticity" add nothing or pull
away. That difference is the `lift` signal (rag/retrieve.py; thirteenth round).

    >>> vocab = vocabulary(["Gradient descent minimizes the loss."])
    >>> unknown_word("How do I minimise the loss?", vocab)
    ('', 0.0)
    >>> word, strength = unknown_word("What is the Wilcoxon test?", vocab)
    >>> word, round(strength, 1)
    ('Wilcoxon', 3.2)
    >>> word, strength = unknown_word("Why shouldn’t I minimise the loss?", vocab)
    >>> word, round(strength, 1)
    ("shouldn't", 0.2)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence

from rag.guard import stemmer

RAREST = 5.0  # the strength of a word wordfreq has never seen (Zipf 0)
# A name the handbook uses in at most this many chunks is something it says a word about, not one it uses
# everywhere ("model", "ML"); and one rarer in English than this names that thing wherever it is written.
NAME_TEXTS = 4
NAME_ZIPF = 3.0
_CAPS = re.compile(r"[A-Z][A-Z0-9]*[A-Z0-9]s?")  # EDA, TPUs, F1, H2O, FP32: matched as written
_DIGITS = re.compile(r"[A-Za-z]+[0-9][A-Za-z0-9]*")  # l1, fp16: a name in any case
# A word starts after a non-digit: "224x224" is a size, not the word "x224".
_WORD = re.compile(r"(?<![0-9])[A-Za-z][A-Za-z0-9'\-]*")
# British spellings the handbook writes the American way: minimise/minimize, colour(ing)/color(ing), analyse/analyze.
_BRITISH = (
    (r"is(e|es|ed|ing|ation|ations)$", r"iz\1"),
    (r"our(s|ed|ing|ings)?$", r"or\1"),
    (r"ys(e|es|ed|ing)$", r"yz\1"),
)
# "re" before a word the handbook has is that word done again: "reword", "resize", "recomputing".
_AGAIN = re.compile(r"re([a-z]{4,})")


def vocabulary(texts: Iterable[str]) -> frozenset[str]:
    """The stems of every word in `texts` (the indexed chunks), and of each part of a hyphenated one: a
    question's word is checked part by part, so "t-SNE" must find "sne" ("t" is too short to count).

    >>> unknown_word("Should I plot it with t-SNE or TF-IDF?", vocabulary(["t-SNE and TF-IDF, plotted"]))
    ('', 0.0)
    """
    words = {w for text in texts for w in _WORD.findall(text.lower())}
    parts = {p for w in words if "-" in w for p in w.split("-") if len(p) > 1}
    return frozenset(stemmer().stemWords(list(words | parts)))


def known(word: str, vocab: frozenset[str]) -> bool:
    """`word` or its American spelling is in `vocab`, or it is "re" and such a word.

    >>> vocab = vocabulary(["Resize the image, then colour jitter", "word2vec"])
    >>> known("resizing", vocab), known("recolouring", vocab), known("reword", vocab), known("regularize", vocab)
    (True, True, False, False)
    """
    snowball = stemmer()
    again = _AGAIN.fullmatch(word)
    forms = {word, again.group(1)} if again else {word}
    variants = forms | {re.sub(a, b, f) for f in forms for a, b in _BRITISH}
    return any(snowball.stemWord(v) in vocab for v in variants)


def preload() -> None:
    """Load the word frequencies (about 0.35 s: the package and its English table), e.g. in a thread while
    the index loads, so the first question does not wait for them."""
    zipf("the")


def zipf(word: str) -> float:
    """The word's Zipf frequency in English, its singular's if more common ("drownings" as "drowning")."""
    from wordfreq import zipf_frequency

    forms = {word, re.sub(r"s$", "", word), re.sub(r"ings$", "ing", word)}
    return max(zipf_frequency(f, "en") for f in forms)


def masked(question: str, word: str) -> str:
    """The question with `word` replaced by a placeholder: what it asks without the word the handbook lacks.

    >>> masked("How can a chatbot answer from my documents?", "chatbot")
    'How can a thing answer from my documents?'
    """
    return re.sub(rf"(?<![\w-]){re.escape(word)}(?![\w-])", "thing", question)


def _question_words(question: str) -> Iterator[tuple[str, str]]:
    """Each word of a question as written (no "'s", no edge quotes or hyphens) and as read: an acronym's
    plural as its singular ("GRUs" is "GRU"; Snowball keeps "grus" whole)."""
    for match in _WORD.finditer(question.replace("\u2019", "'")):  # a phone's apostrophe: "shouldn’t"
        raw = re.sub(r"'s$", "", match.group()).strip("'-")
        yield raw, raw[:-1] if len(raw) > 2 and raw[-1] == "s" and raw[:-1].isupper() else raw


def unknown_word(question: str, vocab: frozenset[str]) -> tuple[str, float]:
    """The question's word absent from `vocab` with the highest strength (5 - Zipf), as written, or ("", 0.0).
    An acronym's plural is its singular: Snowball keeps "grus" whole.

    >>> unknown_word("How do GRUs work?", vocabulary(["GRU (Gated Recurrent Unit)"]))
    ('', 0.0)
    """
    best = ("", 0.0)
    for raw, singular in _question_words(question):
        word = singular.lower()
        parts = [p for p in re.split(r"[-']", word) if len(p) > 1]
        unknown = [p for p in parts if not known(p, vocab)]
        if len(word) < 3 or not unknown:
            continue
        # A contraction is read whole: "shouldn't" is everyday English, its piece "shouldn" is not.
        whole = zipf(word) if "'" in word else 0.0
        strength = RAREST - max(whole, min(zipf(p) for p in unknown))
        if strength > best[1]:
            best = (raw, min(strength, RAREST))
    return best


def used_names(question: str, texts: Sequence[str], most: int = NAME_TEXTS) -> list[tuple[str, list[int]]]:
    """The question's names the handbook uses in 1 to `most` of `texts`, each as written with those texts'
    indices, in the question's order: the other side of `unknown_word`. A name is a word rare in English
    (Zipf <= NAME_ZIPF: "SARIMA", "tpu", "Kubernetes") or one written as an acronym or with a digit ("TN", "F1",
    "H2O"), matched as written then: "MAP" names the ranking metric, "map" is an everyday word.

    "What is a TPU?" met a decline that said nothing, though the handbook writes "GPU/TPU for inference".

    >>> used_names("what are TPUs, and MAP?", ["GPU/TPU for inference", "Map to regions", "NDCG, MAP"])
    [('TPU', [0]), ('MAP', [2])]
    >>> used_names("how do I map the model?", ["Map to regions", "the model"])
    []
    """
    out: list[tuple[str, list[int]]] = []
    for _, raw in _question_words(question):  # "TPUs" is "TPU"
        if len(raw) < 2 or not is_name(raw):
            continue
        found = [i for i, text in enumerate(texts) if names_in(raw, text)]
        if 0 < len(found) <= most and raw not in (w for w, _ in out):
            out.append((raw, found))
    return out


def is_name(word: str) -> bool:
    """A word (or phrase) that names one thing: rare in English, or written as an acronym or with a digit.

    >>> is_name("SVM"), is_name("l1"), is_name("autoencoder"), is_name("training")
    (True, True, True, False)
    """
    return bool(_CAPS.fullmatch(word) or _DIGITS.fullmatch(word)) or zipf(word.lower()) <= NAME_ZIPF


def names_in(word: str, text: str) -> bool:
    """`text` uses `word` as `used_names` matched it: as written when it is an acronym, else in any case."""
    flags = 0 if _CAPS.fullmatch(word) else re.IGNORECASE
    return bool(re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text, flags))
