"""Turn a follow-up ("and how do I fix it?") into a standalone question before retrieval.

Rule-based on purpose: the 135M model rewrites questions unreliably and would add a second prompt's
latency to every turn. The rule: a short question that leans on the previous one (starts with a
conjunction, or refers back with a pronoun) gets the previous question's topic put in place.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_LEADS = re.compile(r"^(and|but|so|also|then|ok(ay)?|what about|how about)\b[\s,]*", re.I)
_PRONOUN = re.compile(r"\b(it|its|that|this|they|them|their|those|these|one)\b", re.I)
_ASKING = re.compile(
    r"^(what|which|how|why|when|where|who)\s+(is|are|was|were|does|do|did|can|could|should|would)\s+(an?\s+|the\s+)?"
    r"|^(explain|define|describe|tell me about|what's|whats)\s+(an?\s+|the\s+)?",
    re.I,
)
MAX_FOLLOW_UP_WORDS = 12


def is_follow_up(question: str) -> bool:
    words = question.split()
    return 0 < len(words) <= MAX_FOLLOW_UP_WORDS and bool(_LEADS.match(question) or _PRONOUN.search(question))


def topic_of(question: str) -> str:
    """The subject of a question: "What is overfitting?" -> "overfitting"."""
    topic = _ASKING.sub("", question.strip()).strip()
    topic = re.sub(r"\s+(work|mean|used for|important)\s*\?*$", "", topic, flags=re.I)
    return topic.rstrip("?.! ").strip() or question.strip().rstrip("?")


def standalone_question(question: str, previous_questions: Sequence[str]) -> str:
    """The question itself when it stands alone; else the question with the last topic put in.

    >>> standalone_question("and how do I fix it?", ["What is overfitting?"])
    'how do I fix overfitting?'
    >>> standalone_question("What is dropout?", ["What is overfitting?"])
    'What is dropout?'
    """
    if not previous_questions or not is_follow_up(question):
        return question
    topic = topic_of(previous_questions[-1])
    rest = _LEADS.sub("", question.strip()).strip()
    if _PRONOUN.search(rest):
        return _PRONOUN.sub(topic, rest, count=1)
    return f"{rest.rstrip('?')} ({topic})?" if rest else previous_questions[-1]
