"""Guards on the model's words, applied sentence by sentence as they stream, so nothing unchecked is shown.

A 135M model pastes source headers and raw chunk text, cites sources that do not exist, says "not
covered" when its evidence answers, and answers from memory. Each sentence it writes is cleaned
(markup, headers and impossible citations removed), then kept only if it is grounded in the evidence
(MiniLM cosine to its best passage at or above the calibrated threshold) and is not a verbatim copy of
a passage (the passages are shown under the answer anyway). A sentence without a citation gets the one
of the passage that supports it. When no sentence survives, the answer is the evidence alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

# Calibrated with `hbrag eval calibrate` (eval/README.md): the best balanced accuracy between
# supported and unsupported sentences of the handbook.
GROUNDED = 0.35
# A sentence this close to one passage is that passage pasted, not an answer.
COPY = 0.96
# A sentence this close to one already kept says it again.
REPEAT = 0.85
# At least this share of a sentence's content words must come from the evidence or the question: cosine
# alone lets a fluent sentence on the right topic through with claims of its own.
SUPPORTED_TERMS = 0.5
# A sentence must bring at least this many of the evidence's words that the question does not have: one
# made of the question's own words ("The difference between Type I and Type II errors lies in the type of
# error") says nothing, however close its cosine.
NEW_TERMS = 2
# A sentence whose words are almost all one passage's is that passage pasted with a word dropped ("Creating
# variations of training images (rotation, flip, crop) to ..."): the passage is shown below it anyway.
NEAR_COPY = 0.9
# A sentence this far from the question (MiniLM cosine) answers something else: the model wrote about a
# passage that was retrieved for a neighbouring topic ("Step Decay: Reduce by factor every N epochs" for "the
# steps of a training loop"). Below every sentence read as right in the eval sets (eval/README.md).
ON_QUESTION = 0.30
# One sentence: the passages above it carry the answer, and the model's later sentences were where it went wrong.
# Of 14 summaries of two or more sentences read on five learner sets, the later sentences added a wrong or
# garbled claim to 12 ("the Elbow Method recommends ... the lowest silhouette score") and a right point the
# first lacked to 2 (eval/README.md, eighteenth round).
MAX_SENTENCES = 1
MIN_CHARS = 15
# A sentence of fewer words is a label and a cell ("Handling Outliers: Keep [1]"), not an answer: of the 116
# summaries kept on 663 learner questions (eval/README.md, twenty-eighth round) it was the only one under 9.
MIN_WORDS = 5
NOT_FIRST = "about another passage than the first"  # why a sentence failing `Gate.first_only` was dropped
UNNAMED = "does not name the row it cites"

_CITATION = re.compile(r"\[(\d+)\]")
_TOKEN = re.compile(r"\w+")
_LEAD_CITATION = re.compile(r"^\[(\d+)\]\s*:?\s*(.*)$")
_HEADER = re.compile(r"(?:^|\s)(?:\[\d+\]\s*)?Section\s+\d+\s*[—–-]", re.I)
_MARKUP = re.compile(r"```[a-z]*|\*\*|__|`|^#+\s*|^\s*[-*+>]\s+|^\s*\d+[.)]\s+|\|")
_END = re.compile(r"(?<=[.!?])\s+|(?<=[.!?][\"'”’)])\s+|\n+")  # also after a closing quote: metrics." It
_REFUSAL = re.compile(
    r"(does not|doesn't|do not|don't) (cover|mention|provide|contain|say|answer)|not (covered|mentioned|provided)"
    r"|no information|cannot answer|can't answer|I'm sorry|I am sorry|not enough information",
    re.I,
)


def is_refusal(text: str) -> bool:
    """The model declined ("The handbook does not cover this", "no information", ...)."""
    return bool(_REFUSAL.search(text))


def clean(sentence: str, n_sources: int) -> str:
    """Markup, source headers and citations of sources that do not exist, removed."""
    if _HEADER.search(sentence):
        return ""
    text = _MARKUP.sub(" ", sentence.strip())
    text = _CITATION.sub(lambda m: m.group(0) if 1 <= int(m.group(1)) <= n_sources else "", text)
    text = re.sub(r"\[(?!\d+\])[^\]]*\]?", "", text)  # a half-written "[4" or "[Source"
    text = " ".join(text.split())
    return re.sub(r"\s+([.,;:!?])", r"\1", text)


def split_sentences(text: str) -> tuple[list[str], str]:
    """Complete sentences of `text`, and the unfinished rest."""
    parts = _END.split(text)
    return [p for p in parts[:-1] if p.strip()], parts[-1]


@dataclass
class Gate:
    """Checks the model's sentences against the evidence as they stream.

    `passage_vectors` are the evidence passages' unit vectors (row n-1 is source [n]); `embed` turns
    sentences into unit vectors.
    """

    passage_vectors: np.ndarray
    embed: Callable[[list[str]], np.ndarray]
    threshold: float = GROUNDED
    # The words the answer may use: the evidence's and the question's (stemmed content terms). Empty: no check.
    vocabulary: frozenset[str] = frozenset()
    # For table-row passages: each row's own words, (its subject, its claims). A sentence naming one row's
    # subject with two claim words of another row mixes them ("the exponential distribution ... successes in
    # n trials"); one shared word ("... measured by time") is not a mix.
    row_words: tuple[tuple[frozenset[str], frozenset[str]], ...] = ()
    # Each passage's row subject (its own first-cell words; empty for a passage that is not a table row): a
    # sentence citing rows may name them, and no other row ("use one-hot encoding [1]" where [1] is the
    # binary-encoding row; "PyTorch is a component of the Keras framework [1]").
    row_subjects: tuple[frozenset[str], ...] = ()
    # The question's words: what a sentence repeats from the question is not information.
    asked: frozenset[str] = frozenset()
    # The passages' plain texts: a run of one of them pasted as the answer is shown below it anyway.
    passage_texts: tuple[str, ...] = ()
    # The column names of table-row passages ("use case", "description"): a sentence that uses them as labels
    # ("Optimizer: SGD; Description: ...") is table cells pasted, not an answer.
    fields: frozenset[str] = frozenset()
    # The numbers the evidence and the question state: a sentence stating another ("approximately 1.843 inches")
    # made it up, however grounded its words. None: no check.
    known_numbers: frozenset[str] | None = None
    # The question's unit vector: a sentence far from it answers another question. None: no check.
    question_vector: np.ndarray | None = None
    # The summary must be about source [1], the passage ranked as answering and shown first: a first passing
    # sentence citing another passage mostly picked the wrong row of a right table or stitched two ("sigmoid"
    # for probabilities that add up to one, with Softmax's row first). Such a sentence ends the summary (the
    # model's later sentences were worse still). Read on five learner sets, this dropped 16 wrong summaries,
    # 2 partly right and 2 right ones (eval/README.md, nineteenth round).
    first_only: bool = True
    kept: list[str] = field(default_factory=list)
    dropped: list[tuple[str, str]] = field(default_factory=list)  # (sentence, why)
    refused: bool = False
    _buffer: str = ""
    _kept_vectors: list[np.ndarray] = field(default_factory=list)

    def feed(self, piece: str) -> list[str]:
        """Add streamed text; return the sentences it completed that pass."""
        self._buffer += piece
        done, self._buffer = split_sentences(self._buffer)
        return [s for s in (self.check(d) for d in done) if s]

    def finish(self) -> list[str]:
        """The last sentence, if it was finished: one cut off by the token limit is not shown."""
        rest, self._buffer = self._buffer, ""
        if not re.search(r"[.!?][\])\"'*]*\s*$", rest):
            if rest.strip():
                self.dropped.append((rest, "unfinished"))
            return []
        return [s for s in (self.check(rest),) if s]

    @property
    def closed(self) -> bool:
        """A sentence about another passage than the first was dropped (`first_only`): no later one can pass."""
        return any(why == NOT_FIRST for _, why in self.dropped)

    def check(self, sentence: str) -> str:
        n = len(self.passage_vectors)
        if self.closed:
            return ""
        if is_refusal(sentence):
            self.refused = True
            self.dropped.append((sentence, "refusal"))
            return ""
        text = clean(sentence, n)
        lead = _LEAD_CITATION.match(text)
        if lead and not lead.group(2)[:1].isupper():
            # "[1] is a special case of ...": a source number used as a word reads as nonsense.
            self.dropped.append((sentence, "starts with a citation"))
            return ""
        if lead:  # "[2] At inference, ...": a list of facts; the citation goes to the end
            text = _cite(lead.group(2), int(lead.group(1)))
        words = _CITATION.sub("", text).strip()
        if len(words) < MIN_CHARS or len(_TOKEN.findall(words)) < MIN_WORDS:
            if sentence.strip():
                self.dropped.append((sentence, "header or fragment"))
            return ""
        if any(is_pasted(words, p) for p in self.passage_texts):
            self.dropped.append((sentence, "copy of a passage"))
            return ""
        if words.rstrip().endswith(":"):
            self.dropped.append((sentence, "introduces a list it does not give"))
            return ""
        if uses_fields(words, self.fields):
            self.dropped.append((sentence, "table cells pasted"))
            return ""
        if any(token_share(words, p) >= NEAR_COPY for p in self.passage_texts):
            self.dropped.append((sentence, "copy of a passage"))
            return ""
        said = terms(words)
        if self.vocabulary and supported_share(words, self.vocabulary) < SUPPORTED_TERMS:
            # On topic by cosine, but saying things the evidence does not ("... and interpretability").
            self.dropped.append((sentence, "words not in the evidence"))
            return ""
        if self.vocabulary and len((said - self.asked) & self.vocabulary) < NEW_TERMS:
            self.dropped.append((sentence, "only the question's words"))
            return ""
        if self.known_numbers is not None and numbers(words) - self.known_numbers:
            self.dropped.append((sentence, "a number not in the evidence"))
            return ""
        if mixes_rows(said | number_claims(words), self.row_words):
            self.dropped.append((sentence, "mixes table rows"))
            return ""
        vector = np.asarray(self.embed([words])[0], dtype=np.float32)
        sims = self.passage_vectors @ vector if n else np.zeros(0)
        best = int(np.argmax(sims)) if n else -1
        if n == 0 or sims[best] < self.threshold:
            self.dropped.append((sentence, "not grounded"))
            return ""
        if self.question_vector is not None and float(self.question_vector @ vector) < ON_QUESTION:
            self.dropped.append((sentence, "not about the question"))
            return ""
        if sims[best] >= COPY:
            self.dropped.append((sentence, "copy of a passage"))
            return ""
        if any(float(v @ vector) >= REPEAT for v in self._kept_vectors):
            self.dropped.append((sentence, "repeated"))
            return ""
        cited = {int(n) - 1 for n in _CITATION.findall(text)}
        named = named_rows(said, self.row_subjects)
        if not cited:  # the row the sentence names, else the passage it is closest to
            source = named[0] if len(named) == 1 else best
            cited, text = {source}, _cite(text, source + 1)
        # Checked with the citation it has or was given: uncited, "standardizing ... a more robust approach"
        # for Robust Scaling's row names two rows all the same.
        if names_other_row(cited, named, self.row_subjects):
            self.dropped.append((sentence, "names a row it does not cite"))
            return ""
        if self.first_only and cited != {0}:
            self.dropped.append((sentence, NOT_FIRST))
            return ""
        if unnamed_rows(cited, named, self.row_subjects):
            self.dropped.append((sentence, UNNAMED))
            return ""
        self.kept.append(text)
        self._kept_vectors.append(vector)
        return text


def is_pasted(sentence: str, passage: str, min_words: int = 5) -> bool:
    """The sentence is a verbatim run of the passage (case, punctuation and markup aside)."""
    words = _TOKEN.findall(sentence.lower())
    return len(words) >= min_words and f" {' '.join(words)} " in f" {' '.join(_TOKEN.findall(passage.lower()))} "


def token_share(sentence: str, passage: str) -> float:
    """Share of the sentence's words (all of them, function words too) that the passage has; 0 under 4 words."""
    words = _TOKEN.findall(sentence.lower())
    if len(words) < 4:
        return 0.0
    have = set(_TOKEN.findall(passage.lower()))
    return sum(w in have for w in words) / len(words)


def row_fields(rows: Iterable[str]) -> frozenset[str]:
    """The column names of table-row passages ("Method: Mean/Median; When to Use: ..." gives "when to use")."""
    return frozenset(cell.split(": ", 1)[0].strip().lower() for row in rows for cell in row.split("; ") if ": " in cell)


def numbers(text: str) -> frozenset[str]:
    """The numbers a text states, without thousands commas or citations: "1,000 trees, 95.4% [2]" → {1000, 95.4}.

    >>> sorted(numbers("About 1.843 inches, 1,000 trees and 95% [2]."))
    ['1.843', '1000', '95']
    """
    text = _CITATION.sub("", re.sub(r"(?<=\d),(?=\d{3})", "", text))
    return frozenset(re.findall(r"\d+(?:\.\d+)?", text))


def uses_fields(sentence: str, fields: frozenset[str]) -> bool:
    """The sentence labels something with a column name ("Description: ...")."""
    lowered = sentence.lower()
    return any(re.search(rf"(?<!\w){re.escape(f)}\s*:", lowered) for f in fields if f)


def _cite(sentence: str, number: int) -> str:
    """Put `[number]` before the sentence's final punctuation."""
    match = re.search(r"[.!?]+$", sentence)
    if match:
        return f"{sentence[: match.start()]} [{number}]{match.group(0)}"
    return f"{sentence} [{number}]"


def gated(pieces: Iterable[str], gate: Gate, limit: int = MAX_SENTENCES) -> Iterator[str]:
    """The stream of accepted sentences, each with the space that joins it to the previous one; at most
    `limit`, the first that pass."""
    for piece in pieces:
        for sentence in gate.feed(piece):
            yield (" " if len(gate.kept) > 1 else "") + sentence
            if len(gate.kept) >= limit:
                return  # closing the stream stops the model
        if gate.closed:
            return
    for sentence in gate.finish():
        yield (" " if len(gate.kept) > 1 else "") + sentence


def terms(text: str) -> set[str]:
    """Stemmed content words (the evidence module's stop list), for comparing wording across inflections."""
    from rag.evidence import content_terms

    snowball = stemmer()
    return {snowball.stemWord(t) for part in content_terms(text) for t in part.split("-") if t}


def supported_share(sentence: str, vocabulary: frozenset[str]) -> float:
    """Share of the sentence's content words found in `vocabulary` (1.0 for a sentence without any)."""
    words = terms(sentence)
    return len(words & vocabulary) / len(words) if words else 1.0


@lru_cache(maxsize=1)
def stemmer() -> Any:
    """The English Snowball stemmer, built once per process (the gate and the study grader share it)."""
    import Stemmer

    return Stemmer.Stemmer("english")


def distinctive_rows(rows: list[str], question: str) -> tuple[tuple[frozenset[str], frozenset[str]], ...]:
    """Each table row's own words, in no other row and not in the question: (its subject, its claims).

    A row reads "Distribution: Poisson; Use Case: Count of events"; its subject is the first cell's value. The
    numbers its other cells state are claims too (`number_claims`: "3+" of "Compare means of 3+ groups").
    """
    asked = terms(question) | number_claims(question)
    split = []
    for row in rows:
        cells = row.split("; ")
        subject = cells[0].split(": ", 1)[-1] if len(cells) > 1 else ""
        said = " ".join(c.split(": ", 1)[-1] for c in cells[1:])
        split.append((terms(subject), terms(said) | number_claims(said)))
    every = [a | b for a, b in split]
    out = []
    for i, (subject, claims) in enumerate(split):
        others = set().union(*(o for j, o in enumerate(every) if j != i))
        out.append((frozenset(subject - asked - others), frozenset(claims - asked - others)))
    return tuple(out)


def mixes_rows(words: set[str], rows: tuple[tuple[frozenset[str], frozenset[str]], ...]) -> bool:
    """The sentence names one row's subject and makes a claim of another row it does not name: two of its words,
    or a number only that row states. A number is a claim in itself: "you can use a t-test to compare the means
    of 3+ groups" (ANOVA's row) was shown for "how do I check whether two groups ... spend different amounts?"."""
    return any(
        (rows[i][0] & words) and not (rows[j][0] & words) and _weight(rows[j][1] & words) >= 2
        for i in range(len(rows))
        for j in range(len(rows))
        if i != j
    )


def number_claims(text: str) -> set[str]:
    """The numbers `text` states, as claims to compare with words ("#3"; `numbers`)."""
    return {f"#{n}" for n in numbers(text)}


def _weight(claims: set[str]) -> int:
    """How much a sentence borrows from a row: a word counts one, a number two (it is a claim by itself)."""
    return sum(2 if c.startswith("#") else 1 for c in claims)


def row_subjects(
    is_row: Sequence[bool], rows: tuple[tuple[frozenset[str], frozenset[str]], ...]
) -> tuple[frozenset[str], ...]:
    """Each passage's row subject from `distinctive_rows` (given for the row passages, in order), empty for
    a passage that is not a row or when there are no rows to tell apart."""
    subjects = iter(subject for subject, _ in rows)
    return tuple(next(subjects, frozenset()) if row else frozenset() for row in is_row)


def named_rows(words: set[str], subjects: tuple[frozenset[str], ...]) -> list[int]:
    """The passages whose row subject the sentence names ("one-hot" of "One-Hot Encoding")."""
    return [i for i, subject in enumerate(subjects) if subject & words]


def unnamed_rows(cited: set[int], named: list[int], subjects: tuple[frozenset[str], ...]) -> list[int]:
    """The cited row passages whose subject the sentence does not name.

    The rows offered are the choices a "which ..." question picks from, so the answer is a row's name: "you
    can use the DAG-based scheduling tool like [1]" (Airflow's row) or "This is a type of partial dependence
    plots [1]" (Prescriptive's row) names none and answers nothing. A subject the question already names is
    not a row's own (`distinctive_rows`), so "What is dropout?" needs no "dropout" in its answer.

    >>> rows = (frozenset({"airflow"}), frozenset({"prefect"}), frozenset())
    >>> unnamed_rows({0}, named_rows({"dag", "schedul", "tool"}, rows), rows)
    [0]
    >>> unnamed_rows({0}, named_rows({"airflow", "schedul"}, rows), rows), unnamed_rows({2}, [], rows)
    ([], [])
    """
    return sorted(c for c in cited if 0 <= c < len(subjects) and subjects[c] and c not in named)


def names_other_row(cited: set[int], named: list[int], subjects: tuple[frozenset[str], ...]) -> bool:
    """The sentence cites table rows only, and names a row's subject it does not cite, beside its own or not.

    A cited row with another row's name stitched in ("PyTorch is a fundamental component of the Keras
    framework [1]", "a simple Flask/Triton server") states what neither row says (eval/README.md, twentieth
    round).

    >>> rows = (frozenset({"binari"}), frozenset({"target"}), frozenset({"one", "hot"}))
    >>> names_other_row({0}, named_rows({"use", "one", "hot"}, rows), rows)
    True
    >>> names_other_row({0}, named_rows({"binari", "or", "one", "hot"}, rows), rows)
    True
    >>> names_other_row({0}, named_rows({"use", "binari"}, rows), rows), names_other_row(set(), [2], rows)
    (False, False)
    """
    rows_only = bool(cited) and all(0 <= c < len(subjects) and subjects[c] for c in cited)
    return rows_only and bool(set(named) - cited)
