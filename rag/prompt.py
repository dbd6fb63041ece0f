"""Build the chat prompt: the question, then the evidence as numbered facts; answer from them, cite as [n].

Pure functions of plain data.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

NOT_COVERED = "The handbook does not cover this."

# Measured on the question bank (eval/README.md): for a 135M model the question comes first, the context is
# a few short numbered facts (a sentence, a bullet, a table row), never raw chunks with their headers, and
# the instructions are short.
SYSTEM_PROMPT = (
    "You are a helpful study assistant for a data science interview handbook. "
    "Answer the question using only the facts, and cite them like [1]."
)

CLOSED_BOOK_PROMPT = (
    "You are a study assistant for Data Science and Machine Learning interviews. "
    "Answer the question in a few clear sentences."
)

_HUMAN = (
    "Question: {question}\n\nFacts:\n{facts}\n\nAnswer the question in one or two sentences, citing facts like [1]."
)


def format_facts(facts: Sequence[str]) -> str:
    return "\n".join(f"[{n}] {fact}" for n, fact in enumerate(facts, start=1))


def build_messages(question: str, facts: Sequence[str]) -> list[dict[str, str]]:
    """The chat messages for a grounded answer from numbered facts (LangChain's prompt template fills them)."""
    from langchain_core.prompts import ChatPromptTemplate

    template = ChatPromptTemplate.from_messages([("system", SYSTEM_PROMPT), ("human", _HUMAN)])
    messages = template.format_messages(facts=format_facts(facts), question=question.strip())
    roles = {"system": "system", "human": "user", "ai": "assistant"}
    return [{"role": roles[m.type], "content": str(m.content)} for m in messages]


def build_closed_book_messages(question: str) -> list[dict[str, str]]:
    """No sources at all: the eval's baseline of what the model knows by itself."""
    return [{"role": "system", "content": CLOSED_BOOK_PROMPT}, {"role": "user", "content": question.strip()}]


_CITATION = re.compile(r"\[(\d+)\]")


def cited_numbers(answer: str) -> list[int]:
    """The source numbers an answer cites, in order of first citation."""
    seen: list[int] = []
    for match in _CITATION.finditer(answer):
        n = int(match.group(1))
        if n not in seen:
            seen.append(n)
    return seen


def leaks_prompt(answer: str, window: int = 40) -> bool:
    """True when the answer repeats a run of `window` characters of the system prompt (an injection worked)."""
    folded = " ".join(answer.lower().split())
    system = " ".join(SYSTEM_PROMPT.lower().split())
    return any(system[i : i + window] in folded for i in range(0, max(1, len(system) - window + 1), 8))
