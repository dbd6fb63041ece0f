"""The assistant: validate the question, retrieve, decline or build the prompt, stream a cited answer."""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from ingest.errors import HbragError
from rag.llm import GenerationParams, guard_loops, trim_loop
from rag.prompt import NOT_COVERED, Source, build_messages, cited_numbers, fit_sources, is_refusal, leaks_prompt
from rag.retrieve import Hit, Retrieval, RetrievalOptions, Retriever
from rag.settings import Settings


def clean_question(question: str, max_chars: int) -> str:
    """The question with control characters removed and whitespace folded; raises on empty or too long."""
    if not isinstance(question, str):
        raise HbragError("the question must be text")
    text = "".join(ch if ch in "\n\t" or unicodedata.category(ch)[0] != "C" else " " for ch in question).replace(
        "\ufffd", " "
    )
    text = " ".join(text.split())
    if not text:
        raise HbragError("the question is empty: ask something about the handbook")
    if len(text) > max_chars:
        raise HbragError(f"the question is {len(text):,} characters long; the limit is {max_chars:,}")
    return text


PROMPT_WITHHELD = "I can only help with questions about the handbook."


def decline_message(hits: list[Hit]) -> str:
    nearest = "; ".join(dict.fromkeys(h.chunk.section for h in hits)) or "none"
    return f"{NOT_COVERED} The nearest sections I found: {nearest}."


@dataclass(frozen=True)
class Answer:
    """An answer as it grows: `delta` is what the last step added; `done` marks the final one."""

    question: str
    text: str = ""
    delta: str = ""
    sources: list[Hit] = field(default_factory=list)
    refused: bool = False
    declined: bool = False  # refused by retrieval, without calling the model
    done: bool = False
    timings: dict[str, float] = field(default_factory=dict)
    prompt_tokens: int = 0
    rewritten: str = ""  # the standalone question a follow-up was rewritten into

    def cited_sources(self) -> list[int]:
        return [n for n in cited_numbers(self.text) if 1 <= n <= len(self.sources)]

    def to_dict(self) -> dict[str, Any]:
        out = {
            "question": self.question,
            "answer": self.text,
            "refused": self.refused,
            "sources": [h.to_dict() for h in self.sources],
            "timings": self.timings,
        }
        if self.rewritten:
            out["rewritten"] = self.rewritten
        return out


class Assistant:
    """Ties a retriever to a language model. The model is created on first use, so a declined
    question (or a retrieval-only session) never loads it."""

    def __init__(self, settings: Settings, retriever: Retriever, llm_factory: Callable[[], Any]) -> None:
        self.settings = settings
        self.retriever = retriever
        self._llm_factory = llm_factory
        self._llm: Any = None
        self.generations = 0  # how many times the model was asked to generate

    @property
    def llm(self) -> Any:
        if self._llm is None:
            self._llm = self._llm_factory()
        return self._llm

    def options(self, **overrides: Any) -> RetrievalOptions:
        s = self.settings
        base = RetrievalOptions(
            k=s.k,
            retriever=s.retriever,
            depth=s.depth,
            rrf_k=s.rrf_k,
            dense_weight=s.dense_weight,
            bm25_weight=s.bm25_weight,
            mmr=s.mmr,
            mmr_lambda=s.mmr_lambda,
            merge_adjacent=s.merge_adjacent,
        )
        return replace(base, **{k: v for k, v in overrides.items() if v is not None})

    def params(self, **overrides: Any) -> GenerationParams:
        s = self.settings
        base = GenerationParams(s.temperature, s.max_tokens, s.top_k, s.top_p, s.repeat_penalty, s.seed)
        return replace(base, **{k: v for k, v in overrides.items() if v is not None})

    def retrieve(self, question: str, **overrides: Any) -> Retrieval:
        question = clean_question(question, self.settings.max_question_chars)
        return self.retriever.search(question, self.options(**overrides))

    def stream(
        self,
        question: str,
        retrieval: dict[str, Any] | None = None,
        generation: dict[str, Any] | None = None,
        rewritten: str = "",
    ) -> Iterator[Answer]:
        """Yield the answer as it grows; the first carries the sources, the last has `done=True`.

        `rewritten` is a standalone form of a follow-up question, used for retrieval and the prompt.
        """
        started = time.perf_counter()
        question = clean_question(question, self.settings.max_question_chars)
        query = clean_question(rewritten, self.settings.max_question_chars) if rewritten else question
        found = self.retriever.search(query, self.options(**(retrieval or {})))
        retrieve_ms = (time.perf_counter() - started) * 1000
        answer = Answer(question=question, sources=found.hits, rewritten=rewritten)
        if found.best_score < self.settings.min_score or not found.hits:
            text = decline_message(found.hits)
            yield replace(
                answer,
                text=text,
                delta=text,
                refused=True,
                declined=True,
                done=True,
                timings={
                    "retrieve_ms": round(retrieve_ms, 1),
                    "ttft_ms": 0.0,
                    "total_ms": round(retrieve_ms, 1),
                    "tokens": 0,
                    "tokens_per_s": 0.0,
                },
            )
            return
        yield answer
        hits, messages = self.prompt_for(query, found.hits)
        answer = replace(answer, sources=hits)
        yield from self._generate(answer, messages, self.params(**(generation or {})), started, retrieve_ms)

    def prompt_for(self, question: str, hits: list[Hit]) -> tuple[list[Hit], list[dict[str, str]]]:
        """The sources that fit the prompt budget and the chat messages built from them."""
        sources = fit_sources(
            [Source(h.chunk.section, h.chunk.text) for h in hits],
            self.llm.count_tokens,
            self.settings.max_source_tokens,
        )
        return hits[: len(sources)], build_messages(question, sources)

    def _generate(
        self,
        answer: Answer,
        messages: list[dict[str, str]],
        params: GenerationParams,
        started: float,
        retrieve_ms: float,
    ) -> Iterator[Answer]:
        self.generations += 1
        prompt_tokens = self.llm.prompt_tokens(messages)
        gen_start = time.perf_counter()
        first = last = 0.0
        tokens = 0
        text = ""
        for piece in guard_loops(self.llm.stream(messages, params)):
            last = time.perf_counter()
            first = first or last
            tokens += 1
            text += piece
            yield replace(answer, text=text, delta=piece, prompt_tokens=prompt_tokens)
        end = time.perf_counter()
        text = trim_loop(text).strip()
        if leaks_prompt(text):  # never show the instructions, whatever the question asked for
            text = PROMPT_WITHHELD
        gen_s = (last - first) if tokens > 1 else 0.0
        timings = {
            "retrieve_ms": round(retrieve_ms, 1),
            "ttft_ms": round(((first or end) - gen_start) * 1000, 1),
            "total_ms": round((end - started) * 1000, 1),
            "tokens": tokens,
            "tokens_per_s": round((tokens - 1) / gen_s, 1) if gen_s > 0 else 0.0,
            "prompt_tokens": prompt_tokens,
        }
        yield replace(
            answer,
            text=text,
            delta="",
            refused=is_refusal(text),
            done=True,
            timings=timings,
            prompt_tokens=prompt_tokens,
        )

    def ask(self, question: str, on_delta: Callable[[str], None] | None = None, **kwargs: Any) -> Answer:
        """The whole answer at once; `on_delta` sees each piece as it is generated."""
        final = None
        for step in self.stream(question, **kwargs):
            if on_delta and step.delta and not step.declined:
                on_delta(step.delta)
            final = step
        assert final is not None and final.done
        return final

    def generate_with(self, messages: list[dict[str, str]], **generation: Any) -> Answer:
        """Generate from given messages (the eval's closed-book and oracle modes), timed like `ask`."""
        started = time.perf_counter()
        steps = self._generate(
            Answer(question=messages[-1]["content"]), messages, self.params(**generation), started, 0.0
        )
        *_, final = steps
        return final
