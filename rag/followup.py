"""Turn a follow-up ("and how do I fix it?") into a standalone question before retrieval.

Rule-based on purpose: the 135M model rewrites questions unreliably and would add a second prompt's
latency to every turn. The rule: a short question that leans on the previous one (starts with a
conjunction, refers back with a pronoun, or asks for an example, a formula or more without naming a subject)
gets the previous question's topic put in place; "what about X?" asks the previous question of X, and "and
in deep learning?" narrows it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from rag.definition import bare_term
from rag.smalltalk import kind

_LEADS = re.compile(r"^(?:(and|but|so|also|then|ok(ay)?|what about|how about)\b[\s,]*)+", re.I)
_PRONOUN = re.compile(r"\b(it|its|that|this|they|them|their|those|these|one)\b", re.I)
_ASKING = re.compile(
    r"^(what|which|how|why|when|where|who)\s+(is|are|was|were|does|do|did|can|could|should|would)\s+(an?\s+|the\s+)?"
    r"|^(explain|define|describe|tell me about|what's|whats)\s+(an?\s+|the\s+)?",
    re.I,
)
MAX_FOLLOW_UP_WORDS = 12
# A request with no subject of its own ("Can you give an example?", "Why?", "tell me more"): every word is one
# of these, so it asks about the previous question's topic.
_REQUEST = frozenset(
    "a an the any some is are there can could would you me us please give show tell explain say more again "  # noqa: SIM905
    "example examples formula formulas equation code python snippet detail details simply simpler simple plain "
    "words english briefly short shorter elaborate intuition summary summarize what what's whats why how "
    "of in for with by step steps another one mean means meaning".split()
)
_PREPOSITION = re.compile(r"^(in|with|without|during|under)\b", re.I)  # narrows; "for X" may replace a "for Y"
_RELATION = re.compile(r"^(in|for|with|without|on|during|under|when|if|at|to|from|about|as|by|vs)\b", re.I)
_PERSON = re.compile(r"^(i|you|we|my|our)\b", re.I)
_WORD = re.compile(r"[\w'’-]+")


def _request_only(question: str) -> bool:
    words = [w.lower().replace("’", "'") for w in _WORD.findall(question)]
    return bool(words) and all(w in _REQUEST for w in words)


def is_follow_up(question: str) -> bool:
    """Whether a question leans on the previous one; a bare term ("one hot encoding", "this" aside) is a new
    question, though "one" reads as a pronoun."""
    words = question.split()
    if bare_term(question) and not _PRONOUN.fullmatch(question.strip().rstrip("?.! ")):
        return False
    leans = _LEADS.match(question) or _PRONOUN.search(question) or _request_only(question)
    return 0 < len(words) <= MAX_FOLLOW_UP_WORDS and bool(leans)


def topic_of(question: str) -> str:
    """The subject of a question: "What is overfitting?" -> "overfitting"."""
    topic = _ASKING.sub("", question.strip()).strip()
    topic = re.sub(r"\s+(work|mean|used for|important)\s*\?*$", "", topic, flags=re.I)
    return topic.rstrip("?.! ").strip() or question.strip().rstrip("?")


def standalone_question(question: str, previous_questions: Sequence[str]) -> str:
    """The question itself when it stands alone; else the question with the last topic put in.

    >>> standalone_question("and how do I fix it?", ["What is overfitting?"])
    'how do I fix overfitting?'
    >>> standalone_question("What about underfitting?", ["What is overfitting?"])
    'What is underfitting?'
    >>> standalone_question("Can you give an example?", ["What is overfitting?"])
    'Can you give an example (overfitting)?'
    >>> standalone_question("What is dropout?", ["What is overfitting?"])
    'What is dropout?'
    >>> standalone_question("one hot encoding", ["What is overfitting?"])
    'one hot encoding'
    """
    if not previous_questions or not is_follow_up(question) or kind(question):
        return question  # "ok thanks" is not "ok" + "thanks" about the previous topic
    previous = previous_questions[-1].strip()
    topic = topic_of(previous)
    rest = _LEADS.sub("", question.strip()).strip()
    if _PRONOUN.search(rest):
        return _PRONOUN.sub(topic, rest, count=1)
    if not rest:
        return previous
    subject = rest.rstrip("?.! ")
    if _PREPOSITION.match(rest):  # "and in deep learning?": the previous question, narrowed
        return f"{previous.rstrip('?.! ')} {subject}?"
    clean = len(topic.split()) <= 5 and not _PERSON.match(topic)  # "overfitting", not "I use L2 regularization"
    bare = not (_ASKING.match(rest) or _request_only(rest) or _RELATION.match(rest))  # "underfitting", a subject
    if _LEADS.match(question) and bare and clean and topic in previous:
        return previous.replace(topic, subject, 1)  # "what about underfitting?": the same question, a new subject
    return f"{subject} ({topic})?"
