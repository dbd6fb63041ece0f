"""Does a learner's clause contradict the handbook's point it is about? Cheap signals, no large model.

Each check compares one point (or facet of a point) with the learner's clause closest to it, and returns a
short reason or "". They are deliberately narrow: a false "you contradicted the handbook" on a good answer
costs more than a missed one, so a check fires only on words both sides are about.

    >>> flip("Lower temperature means more deterministic output", "A higher temperature is more deterministic")
    'higher instead of lower'
"""

from __future__ import annotations

import re
from functools import lru_cache

from study.points import STOP, clauses, content_stems, stem, words

# Opposites a misconception swaps while keeping the vocabulary. Words, stemmed on first use.
ANTONYMS = (
    ("increase", "decrease"),
    ("increase", "reduce"),
    ("increases", "lowers"),
    ("higher", "lower"),
    ("high", "low"),
    ("more", "fewer"),
    ("more", "less"),
    ("larger", "smaller"),
    ("large", "small"),
    ("big", "small"),
    ("faster", "slower"),
    ("fast", "slow"),
    ("faster", "slows"),
    ("overfitting", "underfitting"),
    ("l1", "l2"),
    ("positive", "negative"),
    ("true", "false"),
    ("parallel", "sequentially"),
    ("parallel", "sequential"),
    ("before", "after"),
    ("sparse", "dense"),
    ("training", "inference"),
    ("early", "later"),
    ("early", "late"),
    ("maximum", "minimum"),
    ("max", "min"),
    ("maximum", "average"),
    ("max", "average"),
    ("downsampling", "upsampling"),
    ("reduces", "increases"),
    ("simple", "complex"),
    ("oversimplified", "complex"),
    ("efficient", "expensive"),
    ("cheap", "expensive"),
    ("subset", "full"),
    ("random", "single"),
    ("many", "single"),
    ("averages", "best"),
    ("deterministic", "random"),
    ("fixed", "learned"),
    ("bidirectional", "autoregressive"),
    ("encoder", "decoder"),
    ("vanishing", "exploding"),
    ("zero", "one"),
    ("allows", "stops"),
    ("recent", "old"),
    ("lower", "raise"),
    ("non-linearity", "linear"),
    ("nonlinear", "linear"),
    ("small", "large"),
    ("frozen", "all"),
    ("ascent", "descent"),
    ("harmonic", "arithmetic"),
    ("minority", "majority"),
    ("during", "before"),
    ("sparse", "denser"),
    ("fill", "delete"),
    ("fill", "drop"),
)
# The two ends of a scale: every word of one end is an opposite of every word of the other, so "a much smaller
# learning rate" contradicts "higher learning rates" as "lower" would.
POLES = (
    (
        ("increase", "higher", "high", "more", "larger", "large", "bigger", "greater", "raise", "add", "grow"),
        ("decrease", "reduce", "lower", "low", "fewer", "less", "smaller", "small", "shrink", "remove"),
    ),
    (("multiple", "many", "several", "combining", "combine"), ("single",)),
)
_ARTICLES = frozenset({"the", "a", "an"})
NEGATORS = frozenset({"not", "no", "never", "cannot", "without", "instead", "nor", "neither", "none"})
# A denied need negates its subject: "X is not needed", "X doesn't matter", "X plays no part", "X is unnecessary".
_NEEDS = frozenset({"need", "requir", "necessari", "matter", "import", "relev", "part", "role"})
_NEEDLESS = frozenset({"unnecessary", "unneeded", "needless", "irrelevant", "pointless"})
_AUXILIARIES = frozenset(
    {"is", "are", "was", "were", "be", "do", "does", "did", "can", "will", "would", "should", "play", "plays"}
)
_NEGATING_VERBS = frozenset({"avoid", "prevent", "stop", "lack", "fail", "reduc", "limit", "mitig", "combat"})
# Words that make "A <rel> B" directional, so "A from B" and "B from A" say different things.
RELATIONS = frozenset({"from", "given", "assuming", "causes", "cause", "before", "after", "than", "into", "to", "|"})
# "A from B" says what "B into A" or "B to A" says: a converse, not a reversal.
SOURCE, TARGETS = frozenset({"from"}), (frozenset({"into"}), frozenset({"to"}))


# Everyday phrases for a word of an opposite pair, read as that word: "reads the tokens one at a time" says
# "sequentially" where the handbook says "in parallel".
PHRASES = (
    (re.compile(r"\bone (?:at a time|after (?:another|the other))\b"), "sequentially"),
    (re.compile(r"\b(?:all at once|at the same time|simultaneously)\b"), "in parallel"),
)


def _phrased(text: str) -> str:
    text = text.lower()
    for pattern, word in PHRASES:
        text = pattern.sub(word, text)
    return text


def _as_written(word: str, text: str) -> str:
    """The phrase `text` used where `word` stands for it ("one at a time" for "sequentially"), else `word`."""
    for pattern, stands_for in PHRASES:
        found = pattern.search(text.lower())
        if found and word in stands_for.split():
            return found.group(0)
    return word


@lru_cache(maxsize=1)
def _pairs() -> tuple[tuple[str, str], ...]:
    out = []
    for a, b in ANTONYMS:
        out += [(stem(a), stem(b)), (stem(b), stem(a))]
    return tuple(dict.fromkeys(out))


@lru_cache(maxsize=1)
def _poles() -> tuple[tuple[frozenset[str], frozenset[str]], ...]:
    stems = tuple((frozenset(map(stem, up)), frozenset(map(stem, down))) for up, down in POLES)
    return stems + tuple((down, up) for up, down in stems)


def _pole_pairs(point: set[str], clause: set[str]) -> list[tuple[str, str]]:
    """Opposites across a scale's ends, where the point uses one end only and the clause the other only: "lower
    temperature = more deterministic" uses both ends about different things, so no word of it is read as a side."""
    return [
        (a, b)
        for mine, theirs in _poles()
        if not point & theirs and not clause & mine
        for a in sorted(point & mine)
        for b in sorted(clause & theirs)
    ]


def _stems(text: str) -> set[str]:
    return {stem(w) for w in words(text)}


def _subject(ws: list[str], i: int) -> set[int]:
    """The three words before position `i`, auxiliaries skipped: what "is not needed" or "plays no part" denies."""
    j = i - 1
    while j >= 0 and ws[j] in _AUXILIARIES:
        j -= 1
    return set(range(max(j - 2, 0), j + 1))


def _after(ws: list[str], i: int, n: int) -> set[int]:
    """The positions of the `n` words after position `i`, articles not counted: "does not need all the data"
    denies "data" as "doesn't need all data" does."""
    out: set[int] = set()
    for j in range(i + 1, len(ws)):
        if len(out) == n:
            break
        if ws[j] not in _ARTICLES:
            out.add(j)
    return out


def _windows(ws: list[str], soft: bool) -> set[int]:
    """Positions a negator governs: three words after "not", "no", "without", "rather than", and the subject of
    a denied need ("statistical significance is not needed", "the code versions don't need tracking",
    "freshness plays no part", "X is unnecessary"); with `soft`, also the word after "avoids", "prevents",
    "reduces" and the words either side of "only" (they agree with a negation but never accuse one: "reduces X"
    vs "shrinks X", "touched only once" vs "never touch during development")."""
    out: set[int] = set()
    for i, w in enumerate(ws):
        if w in _NEEDLESS:
            out |= _subject(ws, i)
        elif w == "rather" and ws[i + 1 : i + 2] == ["than"]:
            out |= set(range(i + 2, min(i + 5, len(ws))))
        elif w in NEGATORS or w.endswith("n't"):
            out |= _after(ws, i, 3)
            if i + 1 < len(ws) and stem(ws[i + 1]) in _NEEDS:
                out |= _subject(ws, i)
        elif soft and stem(w) in _NEGATING_VERBS:
            out |= set(range(i + 1, min(i + 2, len(ws))))
        elif soft and w == "only":
            out |= {j for j in (i - 1, i + 1) if 0 <= j < len(ws)}
    return out


def _negated(ws: list[str], soft: bool) -> set[str]:
    return {stem(ws[i]) for i in _windows(ws, soft)}


def _only_negated(ws: list[str]) -> set[str]:
    """Stems a text uses only under a negation: "(no inherent position), encodings add position information"
    negates an aside, not "position", so an answer that never says "no" beside it leaves nothing out."""
    inside = _windows(ws, False)
    return {stem(ws[i]) for i in inside} - {stem(w) for i, w in enumerate(ws) if i not in inside}


def negation(point: str, clause: str, whole: str = "") -> str:
    """A term both sides use is negated outright on one side and not at all on the other. `whole` is the point
    a facet was cut from: "neural networks are just linear transformations" is negated by the "Without
    activation functions," before it, so a clause saying it under "without" agrees."""
    shared = set(content_stems(point)) & set(content_stems(clause))
    pw, cw = words(point), words(clause)
    p, c = _only_negated(pw) & shared, _only_negated(cw) & shared
    if p and not _negated(cw, True) & shared:
        return f"leaves out the handbook's negation of {next(w for w in pw if stem(w) in p)}"
    c -= _in_compounds(point, set(cw))
    if c and not (_negated(pw, True) | _negated(words(whole), True)) & shared:
        return f"negates {_span(cw, c)}"
    return ""


def _in_compounds(text: str, said: set[str]) -> set[str]:
    """Stems `text` uses only as an -ing word naming a term, in a form the other side never writes (`said`):
    "learning" of "learning rate" is not the "learned" of "chosen before training rather than learned"."""
    tokens = text.replace("**", "").split()
    inside, alone = set(), set()
    for token, after in zip(tokens, [*tokens[1:], ""], strict=True):
        word = words(token)
        if not word:
            continue
        named = word[-1].endswith("ing") and token[-1].isalnum() and bool(content_stems(after))
        joined = named and word[-1] not in said
        (inside if joined else alone).add(stem(word[-1]))
    return inside - alone


def _span(ws: list[str], stems: set[str]) -> str:
    """The words from the first to the last of `stems` (at most five): "statistical significance", "code and
    data versions"."""
    at = [i for i, w in enumerate(ws) if stem(w) in stems]
    end = max(i for i in at if i - at[0] < 5)
    return " ".join(ws[at[0] : end + 1])


def flip(point: str, clause: str, context: str = "", whole: str = "") -> str:
    """The clause uses an opposite of a word the point uses, about the same thing: a content word within three
    words of each is shared ("lower temperature" / "higher temperature"), or the point's label (`context`, "Bias")
    is in the clause. The opposite must be absent from the `whole` point the facet comes from ("freeze early
    layers, fine-tune later ones" says both) unless two context words tie the clause to this facet ("freeze ...
    layers"). A point of a word or two is its own context ("Underfitting"); so is one of three words against a
    clause that never says the point's own word ("Deleting every row that has a missing value" for "Filling in
    missing values"), when that word carries meaning and its pair is named, not a scale's ends ("fewer parameters"
    does not deny "more efficient")."""
    pw, cw = words(_phrased(point)), words(_phrased(clause))
    ps, cs = [stem(w) for w in pw], [stem(w) for w in cw]
    elsewhere = {stem(w) for w in words(_phrased(whole))}
    content = set(content_stems(point))
    labelled = bool(set(content_stems(context)) & set(cs))
    named = _pairs()
    for a, b in [*named, *_pole_pairs(set(ps), set(cs))]:
        if b in ps and a in ps:
            reason = _phrase_flip(pw, cw, a, b)
            if reason:
                return reason
            continue
        if a not in ps or b not in cs:
            continue
        i, j = ps.index(a), cs.index(b)
        near_p = set(content_stems(" ".join(pw[max(i - 3, 0) : i + 4])))
        near_c = set(content_stems(" ".join(cw[max(j - 3, 0) : j + 4])))
        context = len((near_p & near_c) - {a, b})
        short = len(content) <= 2 or (len(content) == 3 and a in content and a not in cs and (a, b) in named)
        if b in elsewhere:
            if context >= 2:
                return f"{_as_written(cw[j], clause)} instead of {_as_written(pw[i], point)}"
        elif short or labelled or context:
            return f"{_as_written(cw[j], clause)} instead of {_as_written(pw[i], point)}"
    return ""


def _phrase_flip(pw: list[str], cw: list[str], a: str, b: str) -> str:
    """A point that uses both words of an opposite pair ("true positives + false negatives") is told apart by
    phrase: the clause has the point's phrase with the opposite word ("false positives") and never the phrase
    itself, where the point does not use that phrase too. A phrase is a word and its neighbour, a word that is not a
    function word."""
    ps, cs = [stem(w) for w in pw], [stem(w) for w in cw]

    def phrases(stems: list[str], word: str) -> set[tuple[int, str]]:
        out = set()
        for i, s in enumerate(stems):
            if s == word:
                out |= {(d, stems[i + d]) for d in (-1, 1) if 0 <= i + d < len(stems) and stems[i + d] not in STOP}
        return out

    mine, theirs = phrases(ps, a) - phrases(ps, b), phrases(cs, b)  # "false positives" may be the point's own too
    for d, n in sorted(mine & theirs):
        if (d, n) not in phrases(cs, a):
            word_a, word_b = next(w for w in pw if stem(w) == a), next(w for w in cw if stem(w) == b)
            near = next(w for w in cw if stem(w) == n)
            if d < 0:
                return f"{near} {word_b} instead of {near} {word_a}"
            return f"{word_b} {near} instead of {word_a} {near}"
    return ""


def reversed_roles(point: str, clause: str) -> str:
    """Two shared terms related in one order by the handbook and in the other by the learner (A from B / B from A);
    not a converse (A from B / B into A)."""
    p_words, c_words = words(point), words(clause)

    def positions(ws: list[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        for i, w in enumerate(ws):
            out.setdefault(stem(w), i)
        return out

    p_pos, c_pos = positions(p_words), positions(c_words)
    shared = [s for s in dict.fromkeys(content_stems(point)) if s in c_pos]
    for i, x in enumerate(shared):
        for y in shared[i + 1 :]:
            px, py, cx, cy = p_pos[x], p_pos[y], c_pos[x], c_pos[y]
            if (px < py) == (cx < cy):
                continue
            p_between = set(p_words[min(px, py) + 1 : max(px, py)])
            c_between = set(c_words[min(cx, cy) + 1 : max(cx, cy)])
            p_rel, c_rel = p_between & RELATIONS, c_between & RELATIONS
            # A converse ("representation from input" against "input into a representation") says the same thing.
            converse = any({frozenset(p_rel), frozenset(c_rel)} == {SOURCE, target} for target in TARGETS)
            if p_rel and c_rel and not converse:
                return f"reverses {p_words[px]} and {p_words[py]}"
    return ""


def transposed(point: str, sentence: str, min_shared: int = 5) -> str:
    """The learner restates the point with two of its terms swapped and everything else in place: "a weighted
    sum of the queries, with weights from the similarity between the values and keys" where the handbook sums
    the values. Read over a whole sentence (the swap spans clauses), on the terms both use once, in order; the
    two must have another shared term between them, so "keys and queries" for "queries and keys" is no swap."""

    def order(text: str) -> list[str]:
        stems = content_stems(text)
        return [s for s in dict.fromkeys(stems) if stems.count(s) == 1]

    mine, theirs = order(point), order(sentence)
    shared = set(mine) & set(theirs)
    p, c = [s for s in mine if s in shared], [s for s in theirs if s in shared]
    if len(p) < min_shared:
        return ""
    moved = [i for i, (a, b) in enumerate(zip(p, c, strict=True)) if a != b]
    if len(moved) != 2 or moved[1] - moved[0] < 2:
        return ""
    i, j = moved
    if (p[i], p[j]) != (c[j], c[i]):
        return ""
    said = {stem(w): w for w in words(sentence)}
    return f"swaps {said[p[j]]} and {said[p[i]]}"


def numbers(point: str, clause: str) -> str:
    """Both give a number for the same thing and no number agrees."""
    p = {w for w in words(point) if w[0].isdigit()}
    c = {w for w in words(clause) if w[0].isdigit()}
    if p and c and not p & c:
        return f"{', '.join(sorted(c))} instead of {', '.join(sorted(p))}"
    return ""


def swapped_label(label: str, siblings: list[str], clause: str) -> str:
    """The clause closest to this point's content names another point's label and not its own (bias <-> variance)."""
    mine = _distinct(label, siblings)
    if not mine or mentions(label, siblings, clause):  # it names this point's label too ("... boosting model")
        return ""
    cs = {stem(w) for w in words(clause)[:3]}  # the clause's subject: "Bias means ...", "In Word2Vec, skip-gram ..."
    for other in siblings:
        theirs = _distinct(other, [label] + [s for s in siblings if s != other])
        if theirs and theirs & cs:
            return f"says {other} where the handbook says {label}"
    return ""


def mentions(label: str, others: list[str], text: str) -> bool:
    """The text uses a word of this label that none of the others has ("II" of "Type II" beside "Type I")."""
    return bool(_distinct(label, others) & _stems(text))


def names(label: str, siblings: list[str], clause: str) -> bool:
    """The clause's subject is this label ("Bias means ...")."""
    return mentions(label, siblings, " ".join(words(clause)[:3]))


def _distinct(label: str, others: list[str]) -> set[str]:
    """The label's own words: those no other label shares ("I" for "Type I" beside "Type II"). A longer label
    that holds all of this one's words ("Few-shot prompting" beside "Prompting") is a kind of it, not a rival."""
    mine = _stems(label) - {"the", "a", "an", "when", "to", "use"}
    rivals = [_stems(o) for o in others if not mine < _stems(o)]
    return mine - set().union(*rivals) if rivals else mine


_CHANCE = r"(?:probability|chance|likelihood|odds)"
_UNDER = re.compile(
    rf"\b{_CHANCE}\s+of\s+(?P<event>[^,;]+?),?\s+(?:assuming|given|if|when)\s+(?:that\s+)?(?P<condition>[^,.;]+)",
    re.IGNORECASE,
)
_CLAIM = re.compile(rf"\b{_CHANCE}\s+(?:that|of)\s+(?P<event>[^,.;]+)", re.IGNORECASE)


def conditioned(point: str, clause: str) -> str:
    """The chance of the point's condition where the handbook gives the chance of an event under it: P(B | A)
    read as P(A), the p-value taken for "the probability that the null hypothesis is true". Only when the
    learner's event shares a term with the condition and none with the handbook's event; "the probability
    that H0 is true given the data" shares "data" and is read by `reversed_roles` instead.

    >>> conditioned("the probability of seeing results this extreme, assuming the null hypothesis is true",
    ...             "The probability that the null hypothesis is true")
    'the chance that the null hypothesis is true, not of seeing results this extreme assuming it'
    >>> conditioned("the probability of seeing results this extreme, assuming the null hypothesis is true",
    ...             "if the null were true, the chance of seeing results at least this extreme")
    ''
    """
    under, claim = _UNDER.search(point), _CLAIM.search(clause)
    if not under or not claim:
        return ""
    event, condition, said = (set(content_stems(m)) for m in (under["event"], under["condition"], claim["event"]))
    if said & condition and not said & event:
        return f"the chance that {claim['event'].strip()}, not of {under['event'].strip()} assuming it"
    return ""


def strong(point: str, clause: str, label: str = "", whole: str = "", min_shared: int = 2) -> str:
    """An opposite word, a negation or a different number: the first that fires, or "".

    Negation and numbers need `min_shared` content terms in common, so they only judge a clause about the
    same thing; an opposite word brings its own check of context (`flip`)."""
    text = f"{label} {point}" if label else point
    shared = len(set(content_stems(text)) & set(content_stems(clause)))
    if shared >= 1 or len(set(content_stems(point))) <= 1:
        reason = flip(point, clause, label, whole) or conditioned(whole or point, clause)
        if reason:
            return reason
    if shared < min_shared:
        return ""
    return negation(text, clause, whole) or numbers(text, clause)


_UNIT = re.compile(r"(?<=[.!?])\s+|;\s*|,\s+")
_ROMAN = frozenset({"i", "ii", "iii", "iv"})
_TRIVIAL = frozenset({"the", "a", "an", "of", "to", "is", "are", "and", "or", "in", "on", "for", "with", "by"})


def _anchors(text: str) -> set[str]:
    """The words a statement is about: content stems, and the numerals that name things ("Type I")."""
    return set(content_stems(text)) | ({w for w in words(text)} & _ROMAN)


def swapped_pair(point: str, reference: list[str], answer: str) -> tuple[str, str]:
    """Both sides of a contrast kept, the bindings swapped: "a higher temperature is more deterministic"
    where the handbook ties "deterministic" to "lower"; "Type I is a false negative".

    Within a statement of the point that uses one word of an opposite pair (lower), its anchors are the words
    only that side of the contrast has (deterministic; not "temperature", which both sides have). It fires
    when every clause of the answer using such an anchor uses the opposite (higher) and never the word itself.
    `reference` is every point of the reference, so the other side's words are known. Returns (reason, clause).
    """
    units = [u for p in reference for u in _UNIT.split(p) if u.strip()]
    answer_units = [(c, _stems(c) | _anchors(c)) for c in clauses(answer)]
    for unit in (u for u in _UNIT.split(point) if u.strip()):
        mine = _stems(unit)
        for a, b in _pairs():
            if a not in mine or b in mine:
                continue
            # The other side: statements with the opposite word, parallel to this one (a word in common).
            sides = [u for u in units if b in _stems(u) and (_stems(u) & mine) - {a, b} - _TRIVIAL]
            if not sides:
                continue  # the reference never states the other side: nothing to swap with
            other = set().union(*(_stems(u) | _anchors(u) for u in sides))
            for w in sorted(_anchors(unit) - {a, b} - other):
                hits = [(c, st) for c, st in answer_units if w in st]
                if hits and all(b in st and a not in st for _, st in hits):
                    said = words(hits[0][0])
                    word_w = next((x for x in said if stem(x) == w or x == w), w)
                    word_a = next(x for x in words(unit) if stem(x) == a)
                    word_b = next(x for x in said if stem(x) == b)
                    return f"ties {word_w} to {word_b}; the handbook ties it to {word_a}", hits[0][0]
    return "", ""
