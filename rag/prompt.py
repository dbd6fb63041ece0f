"""Build the chat prompt: numbered sources, answer only from them, cite as [n], say so when they fall short.

Pure functions of plain data; the token counter is passed in so the budget is the model's own count.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

NOT_COVERED = "The handbook does not cover this."

# Measured on the question bank (eval/README.md): for a 135M model the question must come before the
# sources and the instructions must be short; longer rule lists made it answer "The answer is:" and stop.
SYSTEM_PROMPT = (
    "You are a helpful study assistant for a data science interview handbook. "
    "Answer using only the sources, and cite them like [1]. "
    f'If the sources do not answer the question, say: "{NOT_COVERED}"'
)

CLOSED_BOOK_PROMPT = (
    "You are a study assistant for Data Science and Machine Learning interviews. "
    "Answer the question in a few clear sentences."
)

_HUMAN = (
    "Question: {question}\n\nSources:\n\n{sources}\n\n"
    "Answer the question in two or three sentences, citing sources like [1]."
)


@dataclass(frozen=True)
class Source:
    """What the prompt needs of a retrieved passage."""

    section: str
    text: str


def format_source(number: int, source: Source) -> str:
    return f"[{number}] {source.section}\n{source.text.strip()}"


def fit_sources(sources: Sequence[Source], count_tokens: Callable[[str], int], budget: int) -> list[Source]:
    """Keep the best-ranked sources whose formatted text fits `budget` tokens.

    Lower-ranked sources are dropped first; if even the best one is too long on its own it is cut
    (at a line boundary where possible) rather than leaving the model with nothing.
    """
    kept: list[Source] = []
    used = 0
    for number, source in enumerate(sources, start=1):
        cost = count_tokens(format_source(number, source)) + 2
        if used + cost <= budget:
            kept.append(source)
            used += cost
        elif not kept:
            kept.append(_truncate(source, count_tokens, budget))
            break
        else:
            break
    return kept


def _truncate(source: Source, count_tokens: Callable[[str], int], budget: int) -> Source:
    lines = source.text.splitlines()
    while len(lines) > 1 and count_tokens(format_source(1, Source(source.section, "\n".join(lines)))) > budget:
        lines.pop()
    text = "\n".join(lines)
    while len(text) > 20 and count_tokens(format_source(1, Source(source.section, text))) > budget:
        text = text[: int(len(text) * 0.8)]
    return Source(source.section, text)


def build_messages(question: str, sources: Sequence[Source]) -> list[dict[str, str]]:
    """The chat messages for a grounded answer (LangChain's prompt template fills them in)."""
    from langchain_core.prompts import ChatPromptTemplate

    template = ChatPromptTemplate.from_messages([("system", SYSTEM_PROMPT), ("human", _HUMAN)])
    numbered = "\n\n".join(format_source(n, s) for n, s in enumerate(sources, start=1))
    messages = template.format_messages(sources=numbered, question=question.strip())
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


def is_refusal(answer: str) -> bool:
    """True when the model said the sources do not cover the question."""
    text = " ".join(answer.lower().split())
    return text.startswith(NOT_COVERED.lower()[:-1]) or "does not cover this" in text[:80]


def leaks_prompt(answer: str, window: int = 40) -> bool:
    """True when the answer repeats a run of `window` characters of the system prompt (an injection worked)."""
    folded = " ".join(answer.lower().split())
    system = " ".join(SYSTEM_PROMPT.lower().split())
    return any(system[i : i + window] in folded for i in range(0, max(1, len(system) - window + 1), 8))
