"""Text into units a grade can talk about: a reference answer into key points, a learner's answer into clauses.

    >>> [p.text for p in key_points("- **Bias**: Error from simple assumptions\\n- **Goal**: Find the sweet spot")]
    ['Bias: Error from simple assumptions', 'Goal: Find the sweet spot']

A point is a bullet or numbered item, else a sentence (or a part after ";"). A bullet that starts with a short
label ("**Bias**: ...", "Type I (False Positive): ...") keeps it as `label`, and a label standing alone on its
line ("**When to use Batch**:") labels the bullets under it: the labels are what a swapped answer mixes up.
Facets are a point's comma-separated parts, so "lower = deterministic, higher = random" is checked part by part.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rag.guard import stemmer

_BULLET = re.compile(r"^(?:[-*+]|\d+[.)])\s+(.*)$")
_BOLD_LABEL = re.compile(r"^\*\*(.+?)\*\*\s*:?\s*(.*)$")
_PLAIN_LABEL = re.compile(r"^([A-Za-z][^:=.]{0,30}?)\s*:\s+(.+)$")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9])|;\s*")
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9+\-']*|\d+(?:\.\d+)?")
# Where a learner's sentence may turn to its next claim: sentence ends, ";", ":", commas, "and/while/but ...".
_CLAUSE = re.compile(r"(?<=[.!?])\s+|;\s*|:\s+|,\s+|\s+(?:and|while|whereas|but|so|since|because)\s+")

# Function words and the handbook's filler labels ("Goal", "adds"): never a key term.
_STOP_WORDS = """a an the and or of to in on for with by as is are be been being it its this that these those
    from at into
    than then so such can could should would will may might must do does did if when which what who why how
    where while also more most less least very much many each any all some other same use used using uses e g
    eg i ie via per vs versus about between your you we our their there here has have had get gets make makes
    one two three new like only just both either neither it's don't doesn't add adds added goal find found
    allow allows allowing help helps need needs needed provide provides example examples type types benefit
    benefits prevention solution solutions component components metric metrics detection response situation
    common cause causes approach approaches order way ways thing things lot kind instead don t s"""
STOP = frozenset(_STOP_WORDS.split())
# Labels that say what kind of item a bullet is, not whose it is.
FILLER_LABELS = frozenset({"example", "examples", "e.g.", "eg", "note", "use case", "use cases"})


_VOWELS = frozenset("aeiouy")


def stem(word: str) -> str:
    """The Snowball stem, with an acronym's plural read as the acronym ("CNNs" is "cnn"; Snowball keeps it)."""
    word = word.lower()
    if len(word) > 3 and word.endswith("s") and word[-2] != "s" and not _VOWELS & set(word[:-1]):
        return word[:-1]
    return stemmer().stemWord(word)


def words(text: str) -> list[str]:
    """Lower-case tokens in order, markup dropped."""
    return [w.lower() for w in _WORD.findall(text.replace("**", "").replace("`", ""))]


def content_stems(text: str) -> list[str]:
    """Stems of the words that carry meaning, in order (repeats kept: order matters for role swaps)."""
    return [stem(w) for w in words(text) if w not in STOP and (len(w) > 2 or w[0].isdigit() or w in ("l1", "l2"))]


def clean(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("**", "").replace("`", "")).strip(" :")


@dataclass(frozen=True)
class KeyPoint:
    text: str  # the point as the handbook words it, markup removed
    label: str = ""  # "Bias" for "**Bias**: Error from ..."; the heading line's label for bullets under it
    facets: tuple[str, ...] = ()  # comma-separated parts, each checked against the learner's closest clause


def _facets(body: str) -> tuple[str, ...]:
    """Comma- and "="-separated parts, and a parenthesis of words ("(lower is better)"), plus the whole body
    when it has parts: "observing results ..., assuming the null is true" only reverses as a whole. A formula
    ("TP / (TP + FP)") stays whole."""
    text = body
    if not re.search(r"[/+×*]", body):
        text = re.sub(r"\(([^()]*\s[^()]*)\)", r", \1,", body)
    parts = [p.strip(" ,") for p in re.split(r",\s*|\s+=\s+(?=\w+\s+\w+)", text) if p.strip(" ,")]
    parts = [p for p in parts if len(content_stems(p)) >= 1]
    return tuple(parts + [body]) if len(parts) > 1 else (tuple(parts) or (body,))


def _split_label(text: str) -> tuple[str, str]:
    for pattern in (_BOLD_LABEL, _PLAIN_LABEL):
        match = pattern.match(text)
        if match and len(match.group(1).split()) <= 5:
            return clean(match.group(1)), match.group(2).strip()
    return "", text


def key_points(reference: str) -> list[KeyPoint]:
    """The reference's points in order; a reference with no point of two content words is one point whole."""
    points: list[KeyPoint] = []
    heading = ""
    for raw in reference.splitlines():
        line = raw.strip().lstrip(">").strip()
        if not line:
            continue
        bullet = _BULLET.match(line)
        if not bullet:
            heading = ""  # a heading labels the bullets right under it, not what follows a sentence
        pieces = [bullet.group(1)] if bullet else [s for s in _SENTENCE.split(line) if s.strip()]
        for piece in pieces:
            label, body = _split_label(piece)
            if label and not clean(body):  # "**Prevention**:" alone: it labels what follows
                heading = label
                continue
            text = clean(f"{label}: {body}" if label else body)
            if len(content_stems(text)) < 2 and not (label and body):
                continue
            # A filler label ("Example: Fraud detection") says what kind of item it is, not whose: the heading's
            # label ("When to use Real-Time") is the role a learner can swap.
            own = "" if label.lower() in FILLER_LABELS else label
            points.append(KeyPoint(text, own or (heading if bullet else label), _facets(clean(body))))
    if not points and clean(reference):
        whole = clean(reference)
        points.append(KeyPoint(whole, "", (whole,)))
    return points


def clauses(answer: str) -> list[str]:
    """The learner's answer cut where a new claim starts; a piece with no content word joins the one before."""
    out: list[str] = []
    for piece in _CLAUSE.split(answer.strip()):
        piece = piece.strip(" ,.;")
        if not piece:
            continue
        if out and len(content_stems(piece)) < 1:
            out[-1] = f"{out[-1]} {piece}"
        else:
            out.append(piece)
    return out


def sentences(answer: str) -> list[str]:
    return [s.strip(" ;") for s in _SENTENCE.split(answer.strip()) if s.strip(" ;")]
