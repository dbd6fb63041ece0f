"""Grade a learner's answer point by point: each key point of the reference is covered, missing or contradicted.

    points        = the reference's key points (study/points.py): bullets, numbered items, sentences
    match(point)  = W_COS * cosine(point, the learner's closest clause or sentence)
                    + (1 - W_COS) * share of the point's content terms the answer uses
    credit(point) = match mapped linearly from [LO, HI] onto [0, 1]; a contradicted point earns 0
    contradicted  = a facet of the point and the learner's clause closest to it (cosine >= ALIGN) disagree:
                    an opposite word, a negation, reversed roles, a different number, or another point's
                    label where this point's belongs (study/contradiction.py)
    confused      = a "Which term means ...?" card answered with another glossary term (the whole answer is it),
                    or a "What is ...?" card answered with another term's definition: the answer is at least
                    DESCRIBES close to it and MARGIN closer than to its own ("the number of passes over the
                    data" for Learning Rate is Epoch), or an answer of RIVAL_WORDS words or more is at least RIVAL
                    close to a definition whose marking words it uses and within RIVAL_MARGIN of its own
                    ("outputs max(0, x)" for Softmax); a near tie names no term
    grade         = round(5 * (mean credit) ** GAMMA); with a contradiction at most CAP_CONTRADICTED (FSRS "Again");
                    empty / "I don't know" / skip is 0; fewer than MIN_WORDS words at most 2 unless the card
                    asks for a term.

The constants were chosen on the fit part of `eval/data/grading.jsonl` (`hbrag eval grading --fit` searches them);
its check part is never used to choose anything. The local model never decides a grade.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from study.contradiction import mentions, names, reversed_roles, strong, swapped_label, swapped_pair, transposed
from study.points import KeyPoint, clauses, content_stems, key_points, sentences, words

W_COS = 0.8
LO = 0.10
HI = 0.70
ALIGN = 0.25
TIE = 0.05  # clauses this close to the closest one are read as candidates for the same point
COVERED = 0.5  # credit at which a point counts as covered in the feedback
CAP_CONTRADICTED = 1
GAMMA = 0.6
MIN_WORDS = 3
MAX_ROLES = 3
DESCRIBES = 0.60  # read off the fit part with the others in view, then checked on fresh4 (eval/README.md)
MARGIN = 0.10
RIVAL, RIVAL_MARGIN, RIVAL_WORDS = 0.50, 0.10, 8  # read off the seen splits, then checked once on fresh11
RIVAL_NAMED = 0.05  # a rival this much closer than the card's own definition is named in the feedback
RARE = 3  # a word in at most this many glossary definitions names one
KIND_CREDIT = 0.3  # a kind, an example or the broader term: partly right
KIND_SCORE = round(5 * KIND_CREDIT**GAMMA)  # 2

PARAMS = {"w_cos": W_COS, "lo": LO, "hi": HI, "align": ALIGN, "gamma": GAMMA}  # what calibration searches

_SKIPS = re.compile(r"^\s*(|skip|pass|idk|i\s*don'?t\s*know|no\s*idea|not\s*sure|\?+|-+)\s*[.!]*\s*$", re.I)


@dataclass(frozen=True)
class PointResult:
    point: KeyPoint
    verdict: str  # covered / missing / contradicted
    credit: float  # 0..1
    said: str = ""  # the learner's clause closest to the point
    reason: str = ""  # why it contradicts ("higher instead of lower")

    def to_dict(self) -> dict[str, Any]:
        return {
            "point": self.point.text,
            "verdict": self.verdict,
            "credit": round(self.credit, 3),
            "said": self.said,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Grade:
    score: int  # 0..5
    points: list[PointResult] = field(default_factory=list)
    skipped: bool = False

    def _with(self, verdict: str) -> list[PointResult]:
        return [p for p in self.points if p.verdict == verdict]

    @property
    def covered(self) -> list[PointResult]:
        return self._with("covered")

    @property
    def missing(self) -> list[PointResult]:
        return self._with("missing")

    @property
    def contradicted(self) -> list[PointResult]:
        return self._with("contradicted")


def is_skip(answer: str) -> bool:
    return bool(_SKIPS.match(answer or ""))


def term_share(point: str, answer_stems: set[str]) -> float:
    stems = set(content_stems(point))
    return len(stems & answer_stems) / len(stems) if stems else 0.0


def credit(match: float, lo: float = LO, hi: float = HI) -> float:
    return float(np.clip((match - lo) / (hi - lo), 0.0, 1.0))


def combine(credits: list[float], contradicted: bool, words: int, short_ok: bool, gamma: float = GAMMA) -> int:
    """The 0-5 grade from the points' credits (pure, for calibration); gamma < 1 lifts a partly right answer."""
    score = round(5 * (sum(credits) / len(credits)) ** gamma) if credits else 0
    if contradicted:
        score = min(score, CAP_CONTRADICTED)
    if words < MIN_WORDS and not short_ok:
        score = min(score, 2)
    return max(0, min(5, score))


def named_term(answer: str, terms: Sequence[str]) -> str:
    """The glossary term the whole answer is ("one-hot encoding", "the MSE"), or "": a term inside a longer
    answer ("high bias", "an embedding layer") is not read as naming it."""
    said = [w for w in words(answer) if w not in ("a", "an", "the")]
    for term in terms:
        if said and said == words(re.sub(r"\s*\(.*?\)", "", term)):
            return term
    return ""


def confused(grade: Grade, reason: str, said: str) -> Grade:
    """The grade with its first point contradicted for `reason`, capped like any contradiction."""
    first = replace(grade.points[0], verdict="contradicted", credit=0.0, said=said, reason=reason)
    return Grade(min(grade.score, CAP_CONTRADICTED), [first, *grade.points[1:]], grade.skipped)


def close(grade: Grade, reason: str, said: str) -> Grade:
    """The grade of an answer that names a kind or an example of the term, or what it is a kind of: partly
    right (at least KIND_SCORE), the point still missing, with the relation as its reason."""
    credit = max(grade.points[0].credit, KIND_CREDIT)
    first = replace(grade.points[0], verdict="missing", credit=credit, said=said, reason=reason)
    return Grade(max(grade.score, KIND_SCORE), [first, *grade.points[1:]], grade.skipped)


def _bare(term: str) -> tuple[str, ...]:
    return tuple(words(re.sub(r"\s*\(.*?\)", "", term)))


def kinds(glossary: dict[str, str]) -> dict[tuple[str, str], str]:
    """(narrower, broader) -> how the glossary says it: a term that is another with a word before it ("Word
    Embedding", "Embedding"), a definition that opens with another term ("Dropout: Regularization by ..."), one
    that names a variant ("LSTM: ..., RNN variant"), or a parenthesis of examples ("Regularization: ... (L1, L2,
    dropout)")."""
    by_words = {_bare(t): t for t in glossary}
    out: dict[tuple[str, str], str] = {}
    for term, definition in glossary.items():
        mine = _bare(term)
        said = words(re.sub(r"\(.*?\)", "", definition))  # words as written: "Decoding" is no "Decoder"
        for other_words, other in by_words.items():
            n = len(other_words)
            if other == term or not n:
                continue
            if len(mine) > n and mine[-n:] == other_words:  # "Word Embedding", "Embedding"
                out[(term, other)] = f"{term} is more specific than {other}"
            elif tuple(said[:n]) == other_words:
                out[(term, other)] = f"{term} is a kind of {other}"
            elif any(tuple(said[i : i + n + 1]) == (*other_words, "variant") for i in range(len(said))):
                out[(term, other)] = f"{term} is a variant of {other}"
        for inside in re.findall(r"\(([^()]*)\)", definition):
            for item in inside.split(","):
                member = by_words.get(tuple(words(item)))
                if member and member != term:
                    out[(member, term)] = f"{member} is an example of {term}"
    return out


class Grader:
    """Grades with an embedder (`embed_documents`, normalised vectors); the reference side is embedded once.

    `glossary` ((term, definition) pairs) lets a "Which term means ...?" card tell a wrong term from a vague one."""

    def __init__(self, embedder: Any, glossary: Sequence[tuple[str, str]] = ()) -> None:
        self.embedder = embedder
        self._references: dict[str, tuple[list[KeyPoint], np.ndarray, list[str], np.ndarray]] = {}
        self._answers: dict[str, np.ndarray] = {}  # a few hundred, so calibration re-grades without re-embedding
        self.glossary = dict(glossary)

    @property
    def glossary(self) -> dict[str, str]:
        return self._glossary

    @glossary.setter
    def glossary(self, terms: dict[str, str]) -> None:
        """A new glossary (the handbook changed) drops the embedded definitions of the old one."""
        self._glossary = terms
        self._definitions: np.ndarray | None = None  # the definitions, embedded when a definition card is dealt
        self._stems: list[set[str]] | None = None  # each definition's content stems, when first needed
        self._rarity: Counter[str] = Counter()  # in how many definitions each content stem occurs
        self._kinds = kinds(terms)

    def _kind(self, a: str, b: str) -> str:
        """How the glossary relates two terms as a kind and its broader term, either way round, or ""."""
        return self._kinds.get((a, b)) or self._kinds.get((b, a), "")

    def _confusion(self, answer: str, reference: str, vector: np.ndarray) -> tuple[str, str, bool]:
        """Why the answer is another glossary term where this card's belongs (its name, or its definition), or
        ("", "", False); True when the other term is a kind of this one or the reverse (partly right, not wrong).
        `vector` is the whole answer's."""
        if reference in self.glossary:
            other = named_term(answer, [t for t in self.glossary if t != reference])
            if not other:
                return "", "", False
            kind = self._kind(other, reference)
            return f"{kind or f'{other} is another term'}: {self.glossary[other]}", answer, bool(kind)
        terms, definitions = list(self.glossary), list(self.glossary.values())
        if reference not in definitions:
            return "", "", False
        if self._definitions is None:
            self.prepare([reference])
        sims = self._definitions @ vector
        own = definitions.index(reference)
        other = max((j for j in range(len(terms)) if j != own), key=lambda j: sims[j])
        close_to = sims[other] >= DESCRIBES and sims[other] - sims[own] >= MARGIN
        if not (close_to and self._marks(other, set(content_stems(answer)))):
            other = self._rival(answer, own, sims)
            if other < 0:
                return "", "", False
            if sims[other] - sims[own] < RIVAL_NAMED and not self._kind(terms[other], terms[own]):
                # A near tie says the answer is not this definition, not which one it is: "A deep neural network
                # with many hidden layers" for Perceptron is as close to Latent Space ("Hidden representation ...").
                return "that reads as another term's definition as much as this one's", answer, False
        kind = self._kind(terms[other], terms[own])
        if kind:
            return f"that describes {terms[other]} ({kind}): {definitions[other]}", answer, True
        return f"that describes {terms[other]}: {definitions[other]}", answer, False

    def _rival(self, answer: str, own: int, sims: np.ndarray) -> int:
        """The definition a full answer reads as close to as to its own (within RIVAL_MARGIN, at least RIVAL) and
        whose marking words it uses where its own definition and term have none of them, or -1: "True positives
        divided by true positives plus false negatives" for Precision is Recall's."""
        if len(answer.split()) < RIVAL_WORDS:
            return -1
        terms = list(self.glossary)
        stems = self._definition_stems()
        said = set(content_stems(answer)) - stems[own] - set(content_stems(terms[own]))
        rivals = [j for j in range(len(stems)) if j != own and self._marks(j, said)]
        best = max(rivals, key=lambda j: sims[j], default=-1)
        return best if best >= 0 and sims[best] >= RIVAL and sims[own] - sims[best] < RIVAL_MARGIN else -1

    def _definition_stems(self) -> list[set[str]]:
        """Each definition's content stems, and (in `_rarity`) in how many definitions each stem occurs."""
        if self._stems is None:
            self._stems = [set(content_stems(d)) for d in self.glossary.values()]
            self._rarity = Counter(s for stems in self._stems for s in stems)
        return self._stems

    def _marks(self, j: int, said: set[str]) -> bool:
        """`said` (an answer's content stems) holds a word that marks definition `j` out among the glossary's (in
        at most RARE of them): "train" and "model" are in many, so "A way to train a model" describes no term in
        particular."""
        return any(self._rarity[s] <= RARE for s in said & self._definition_stems()[j])

    def _embed(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self.embedder.embed_documents(texts), dtype=np.float32)

    def prepare(self, references: Iterable[str]) -> None:
        """Embed the references' points and facets in one batch, when the cards are dealt: the learner reads
        and types meanwhile, and grading then embeds only the answer (p95 98 -> 31-41 ms, eval/README.md)."""
        todo = []
        references = list(dict.fromkeys(references))
        if self._definitions is None and set(references) & set(self.glossary.values()):
            self._definitions = self._embed(list(self.glossary.values()))
        for reference in references:
            if reference not in self._references:
                points = key_points(reference)
                todo.append((reference, points, [f for p in points for f in p.facets]))
        texts = [t for _, points, facets in todo for t in [p.text for p in points] + facets]
        vectors = self._embed(texts) if texts else None
        at = 0
        for reference, points, facets in todo:
            n, m = len(points), len(facets)
            self._references[reference] = (points, vectors[at : at + n], facets, vectors[at + n : at + n + m])
            at += n + m

    def _reference(self, reference: str) -> tuple[list[KeyPoint], np.ndarray, list[str], np.ndarray]:
        if reference not in self._references:
            self.prepare([reference])
        return self._references[reference]

    def grade(self, answer: str, reference: str, params: dict[str, float] | None = None) -> Grade:
        points, point_vecs, facets, facet_vecs = self._reference(reference)
        if is_skip(answer):
            return Grade(0, [PointResult(p, "missing", 0.0) for p in points], skipped=True)
        pieces = list(dict.fromkeys(clauses(answer)))
        candidates = list(dict.fromkeys(pieces + sentences(answer) + [answer.strip()]))
        if answer not in self._answers:
            if len(self._answers) > 512:
                self._answers.clear()
            self._answers[answer] = self._embed(candidates)
        vectors = self._answers[answer]
        grade = judge(points, point_vecs, facets, facet_vecs, candidates, vectors, len(pieces), answer, params or {})
        reason, said, kind = self._confusion(answer, reference, vectors[candidates.index(answer.strip())])
        # A point already contradicted says what is wrong more precisely ("negatives instead of positives").
        if not reason or not grade.points or (grade.contradicted and not kind):
            return grade
        return close(grade, reason, said) if kind else confused(grade, reason, said)


def _facet_contradiction(
    facet: str, sims: np.ndarray, clauses: list[str], align: float, point: KeyPoint, siblings: list[str]
) -> tuple[str, str]:
    """The reason a facet is contradicted by the learner's clauses closest to it (within TIE of the closest), or "".

    `sims` holds only the clauses this facet's point is the closest point to (others are -1): a clause about
    another point never contradicts this one. An opposite word, a negation or a different number in any of
    them (at least `align` close) is a contradiction. Embeddings barely see word order, so "skip-gram predicts
    context from word" is as close to the CBOW point as to its own: a clause that agrees, or names the
    point's own label, clears the order-based signals.
    """
    best = float(sims.max()) if len(sims) else -1.0
    if best < align:
        return "", ""
    for k in np.flatnonzero(sims >= align):
        reason = strong(facet, clauses[int(k)], point.label, point.text)
        if reason:
            return reason, clauses[int(k)]
    near = [int(k) for k in np.argsort(-sims) if sims[k] >= max(align, best - TIE)]
    # Reversed roles: every near clause must show it. A swapped label: one near clause naming a sibling's label
    # where this point's belongs is enough, unless another near clause names this point's own label.
    reversals = [reversed_roles(facet, clauses[k]) for k in near]
    if all(reversals):
        return reversals[0], clauses[near[0]]
    if point.label and siblings and not any(names(point.label, siblings, clauses[k]) for k in near):
        for k in near:
            reason = swapped_label(point.label, siblings, clauses[k])
            if reason:
                return reason, clauses[k]
    return "", ""


def _names_others(point: KeyPoint, points: list[KeyPoint]) -> bool:
    others = [p.label for p in points if p.label and p.label != point.label]
    return any(mentions(other, [point.label], point.text) for other in others)


def judge(
    points: list[KeyPoint],
    point_vecs: np.ndarray,
    facets: list[str],
    facet_vecs: np.ndarray,
    candidates: list[str],
    cand_vecs: np.ndarray,
    n_clauses: int,
    answer: str,
    params: dict[str, float],
) -> Grade:
    """The grade from embedded points and answer pieces (the first `n_clauses` candidates are the clauses)."""
    w_cos, lo, hi, align, gamma = (params.get(k, d) for k, d in PARAMS.items())
    answer_stems = set(content_stems(answer))
    sims = point_vecs @ cand_vecs.T
    facet_sims = facet_vecs @ cand_vecs[:n_clauses].T
    # Labels are roles a learner can swap when they are a contrast of two or three (bias / variance), not a list.
    # A point whose text names the other labels ("Example: Type I = ...; Type II = ...") is about them, not a role.
    labels = [p.label for p in points if p.label and not _names_others(p, points)]
    labels = labels if len(set(labels)) <= MAX_ROLES else []
    owner = np.repeat(np.arange(len(points)), [len(p.facets) for p in points])
    # Which point each clause is about: the one with the facet closest to it.
    closest = np.stack([facet_sims[owner == i].max(axis=0) for i in range(len(points))]).argmax(axis=0)
    term_card = len(points) == 1 and len(set(content_stems(points[0].text))) <= 3
    results, offset = [], 0
    for i, point in enumerate(points):
        best = int(np.argmax(sims[i]))
        match = w_cos * float(sims[i, best]) + (1 - w_cos) * term_share(point.text, answer_stems)
        reason, said = "", candidates[best]
        roles = point.label in labels and not _names_others(point, points)
        siblings = [lab for lab in dict.fromkeys(labels) if lab != point.label] if roles else []
        for j in range(offset, offset + len(point.facets)):
            mine = np.where(closest == i, facet_sims[j], -1.0)
            reason, clause = _facet_contradiction(facets[j], mine, candidates, align, point, siblings)
            if reason:
                said = clause
                break
        offset += len(point.facets)
        c = credit(match, lo, hi)
        if term_card:  # a term is named or it is not: "Accuracy" is not close enough to "F1-Score"
            c = 1.0 if term_share(point.text, answer_stems) == 1.0 else min(c, 0.5)
        verdict = "contradicted" if reason else ("covered" if c >= COVERED else "missing")
        results.append(PointResult(point, verdict, 0.0 if reason else c, said if c > 0 or reason else "", reason))
    if not any(r.reason for r in results):
        # Both sides of a contrast kept and swapped, or two terms of one statement swapped: no single clause
        # contradicts its own point, the pairing does.
        for i, point in enumerate(points):
            reason, said = swapped_pair(point.text, [p.text for p in points], answer)
            if not reason:
                swaps = ((transposed(point.text, s), s) for s in sentences(answer))
                reason, said = next(((r, s) for r, s in swaps if r), ("", ""))
            if reason:
                results[i] = PointResult(point, "contradicted", 0.0, said, reason)
                break
    score = combine([r.credit for r in results], any(r.reason for r in results), len(answer.split()), term_card, gamma)
    return Grade(score, results)
