"""The assistant: validate the question, retrieve, decline or build the prompt, stream a cited answer."""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import numpy as np

from ingest.chunking import Chunk
from ingest.errors import HbragError
from rag.answerable import MODEL_FILE, AnswerabilityModel
from rag.definition import (
    asks_how_it_works,
    compared_terms,
    explains,
    has_merits,
    has_use,
    label_terms,
    mentioned,
    merits_subject,
    names,
    row_terms,
    usage_subject,
)
from rag.evidence import (
    WHOLE_BLOCKS,
    Evidence,
    Passage,
    as_shown,
    asks_for_list,
    choose_evidence,
    marked_markdown,
    marks_note,
    passages,
    reading,
    table_rows,
    whole_tables,
)
from rag.formula import asks_for_formula, has_math
from rag.guard import Gate, distinctive_rows, gated, is_refusal, numbers, row_fields, row_subjects, terms
from rag.llm import GenerationParams, guard_loops, trim_loop
from rag.outline import asks_outline, outline
from rag.prompt import build_messages, cited_numbers, leaks_prompt
from rag.retrieve import Hit, Retrieval, RetrievalOptions, Retriever
from rag.scope import TAUGHT, Scope
from rag.settings import Settings
from rag.smalltalk import reply
from rag.unknown import is_name, names_in, used_names

# A row first that answers by construction, and why the model is not asked there, by how it answers
# (`Assistant.by_construction`). Read by hand with the model asked:
# - "compared": it mixes two rows up; of the 7 summaries shown for the 56 questions of eval/data/compare_s25.jsonl
#   and compare_s31.jsonl, 2 were right ("L1 (Lasso): Adds weights² to loss").
# - "usage": on eval/data/usage_s34.jsonl 12 of 16 summaries were withheld after the learner waited for them; of
#   the 4 shown, 2 were right ("a chi-square test compares ... dependent variables in a regression model").
# - "merits": on eval/data/merits_s32.jsonl and merits_s33.jsonl 24 of 28 were withheld and 1 refused; of the 3
#   shown, 1 was right ("ridge ... prone to multicollinearity" says the opposite of its row).
ROW_ANSWERS = {
    "compared": "the rows above set them side by side",
    "usage": "its row above says when to use it",
    "merits": "its row above weighs it",
}


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
FALLBACK_NOTE = "No summary from the model this time ({why}); the handbook's own words are above."
# The model's sentences pass checks of wording, not of truth: on learners' questions most that pass are still
# wrong (eval/README.md, seventeenth round: 9 of 58 read right), so the handbook's words come first and the
# summary follows them, labelled as the model's.
SUMMARY_LABEL = "The local model's summary (often wrong: check it against the handbook's words above):"


# What a decline says. Not "the handbook does not cover this": retrieval cannot know that, and on learners'
# everyday wording 10-17 % of declined questions are answered in the handbook (eval/README.md).
DECLINED = "I could not find this in the handbook."
# A decline that still shows passages: the question scored in the band where learners' everyday wording
# of covered topics lies, above questions from outside the field (rag/answerable.py, eval/README.md).
CLOSEST = (
    "I could not find a clear answer in the handbook. "
    "The closest passages are below: check whether they answer your question."
)
# "Did you mean ...?" offers a bank question only this close (cosine, the moved question to the bank chunk):
# the 10th percentile of the gold suggestions' on the fitting sets, where 78 % of those a question the handbook
# lacks got fall below it ("What is the capital of France?" was offered multiple hypothesis testing); ROC AUC
# 0.93 between the two (eval/README.md, twenty-fourth round).
SUGGEST_FLOOR = 0.20
# After a decline that names a word the handbook never uses, only a bank question this close is offered: a
# learner's everyday word ("chatbot") then still meets the question it asks ("What are hallucinations in
# LLMs?", 0.44), a topic the handbook lacks only a near one ("Benjamini-Hochberg": multiple testing, 0.39). On
# the labelled sets, 11 of 53 answerable questions with such a word reach it and 4 of 100 unanswerable ones
# (eval/README.md, twenty-sixth round).
UNKNOWN_SUGGEST_FLOOR = 0.35
# A decline that still shows what the handbook says about a term the question names, when a table row names
# it: "How does SVM work?" is not taught, but the Classification Algorithms table has a row for SVM.
ABOUT = "What it says about {terms} is below: check whether it helps."
# Only a name (rag/unknown.py: `is_name`) names that topic alone: a term rare in English (Zipf <= 3: "SVM" 2.2,
# "PCA" 2.9, "autoencoder" 1.1) or written as an acronym ("L1", Zipf 3.1); "training", "mean" or "regression"
# (3.5) name rows of tables about something else.
ABOUT_ROWS = 2

# An answered question the answerability model gives even odds or worse: its passages are the closest found,
# labelled so, and the model is not asked for a summary, because a topic the handbook lacks lands here about
# as often as a learner's wording of one it teaches (eval/README.md, eleventh round).
DOUBTFUL = 0.5
# A declined question's word the handbook never uses is named when it is this rare in English (Zipf <= 3):
# "Wilcoxon", "heteroscedasticity", not "quicker" (rag/unknown.py).
NAMED_UNKNOWN = 2.0


def never_uses(sentence: str, word: str) -> str:
    """The decline's first sentence, saying which of the learner's words the handbook lacks, if one is given."""
    return f'{sentence[:-1]}, which never uses the word "{word}".' if word else sentence


def decline_message(hits: list[Hit], unknown: str = "") -> str:
    nearest = "; ".join(dict.fromkeys(h.chunk.title for h in hits)) or "none"
    return f"{never_uses(DECLINED, unknown)} The nearest sections I found: {nearest}."


def closest_message(unknown: str = "") -> str:
    head, tail = CLOSEST.split(". ", 1)
    return f"{never_uses(head + '.', unknown)} {tail}"


def _without_model(started: float, retrieve_ms: float) -> dict[str, float]:
    """The timings of an answer the model had no part in (a decline, or the handbook's words alone)."""
    total_ms = (time.perf_counter() - started) * 1000
    return {
        "retrieve_ms": round(retrieve_ms, 1),
        "ttft_ms": 0.0,
        "total_ms": round(total_ms, 1),
        "tokens": 0,
        "tokens_per_s": 0.0,
    }


def first(lead: Evidence, evidence: list[Evidence]) -> list[Evidence]:
    """`lead` moved first; the row that defines a term leads alone from its table, which is shown whole with
    that row marked: "What does section 9 say about dropout?" marked L1, Dropout and Early Stopping, and the
    model read all three."""
    p = lead.passage
    return [lead, *(e for e in evidence if e is not lead and not (p.table and e.passage.table_lines == p.table_lines))]


@dataclass(frozen=True)
class Answer:
    """An answer as it grows: `delta` is what the last step added; `done` marks the final one.

    `text` is the model's checked words (or, when none survived, a note saying so); `evidence` is the
    handbook passages the answer rests on, numbered [1], [2], ... as cited, and always shown under it.
    """

    question: str
    text: str = ""
    delta: str = ""
    sources: list[Hit] = field(default_factory=list)
    evidence: list[Evidence] = field(default_factory=list)
    refused: bool = False  # no answer: declined by retrieval, or the model said "not covered"
    declined: bool = False  # refused by retrieval, without calling the model (`evidence`: the closest passages, if any)
    fallback: str = ""  # why the model's words were not shown ("" when they were)
    done: bool = False
    timings: dict[str, float] = field(default_factory=dict)
    prompt_tokens: int = 0
    rewritten: str = ""  # the standalone question a follow-up was rewritten into
    dropped: list[tuple[str, str]] = field(default_factory=list)  # the model's sentences withheld, and why
    signals: dict[str, float] = field(default_factory=dict)  # what answerability was judged on
    suggestions: list[str] = field(default_factory=list)  # after a decline: the closest handbook questions
    index_build: str = ""  # the index build (collection) that answered
    raw: str = ""  # everything the model wrote, for the eval
    summary_off: bool = False  # the learner asked for the handbook's words alone: the model was not called
    unknown: str = ""  # after a decline: the learner's rare word the handbook never uses, if any
    doubtful: bool = False  # answered at even odds or worse (DOUBTFUL): closest passages, no model summary
    about: str = ""  # after a decline: the terms whose rows `evidence` shows ("SVM")
    chat: str = ""  # "greeting", "thanks" ... (rag/smalltalk.py) or "outline" (rag/outline.py): no search
    scope: Scope | None = None  # the section the question names ("section 9"), and what was found there

    @property
    def scope_note(self) -> str:
        """Above an answer's passages: the named section does not mention what was asked, or does not exist."""
        return self.scope.note() if self.scope is not None and not self.declined else ""

    @property
    def shown_evidence(self) -> list[Evidence]:
        """The evidence as the learner reads it: a row of a small table shown as its whole table, a piece of a
        bank answer as the whole answer, two items of a short list as the whole list (rag/evidence.py:
        `whole_tables`, `as_shown`). `evidence` stays what the model read: [1] is first in both."""
        return whole_tables(as_shown(self.evidence), mark=not asks_for_list(self.question), question=self.question)

    def cited_sources(self) -> list[int]:
        return [n for n in cited_numbers(self.text) if 1 <= n <= len(self.evidence)]

    def quoted(self, hit: Hit) -> bool:
        """Whether a retrieved source already lends a passage to "From the handbook" (shown as such, not twice
        numbered: the evidence owns the [n] numbers the model cites)."""
        return any(e.passage.chunk_id == hit.chunk.id for e in self.shown_evidence)

    @property
    def model_asked(self) -> bool:
        """Whether the model was asked for a summary: not for a decline, the handbook's words alone, or a fallback
        chosen before it (even odds, a diagram or list first, rows side by side), whose timings have no prompt."""
        return "prompt_tokens" in self.timings

    @property
    def closest(self) -> bool:
        """Declined, and the closest passages shown all the same (a doubtful decline)."""
        return self.declined and bool(self.evidence)

    @property
    def evidence_title(self) -> str:
        if self.about:
            return f"What the handbook says about {self.about}"
        if self.closest:
            return "Closest in the handbook"
        if self.scope is not None and self.scope.status == TAUGHT and not self.doubtful:
            return f"From {self.scope.title}"
        return "Closest in the handbook (they may not answer this question)" if self.doubtful else "From the handbook"

    def evidence_markdown(self) -> str:
        """ "From the handbook": each passage verbatim, with its section and line range."""
        if not self.evidence:
            return ""
        parts = [f"**{self.evidence_title}**"]
        shown = self.shown_evidence  # computed on each read: the tables are built once here
        for n, e in enumerate(shown, start=1):
            p = e.passage
            lines = f"line {p.line_start}" if p.line_start == p.line_end else f"lines {p.line_start}-{p.line_end}"
            body = marked_markdown(p)
            if p.kind in WHOLE_BLOCKS:  # a program or diagram keeps its layout; "# comments" are not headings
                head, code = (body[:1], body[1:]) if p.label else ([], body)
                body = [*head, "```python" if p.kind == "program" else "```", *code, "```"]
            quoted = "\n".join(f"> {line}" for line in body)
            parts.append(f"[{n}] _{p.section} · {lines}_\n{quoted}")
        if note := marks_note(shown):
            parts.append(f"_{note}_")
        return "\n\n".join(parts)

    def shown(self) -> str:
        """The whole answer as a learner sees it: the handbook's words first, then the model's, labelled as its own.

        A decline's message comes first: it says what the passages under it are (the closest, not an answer).
        """
        if self.declined:
            parts: tuple[str, ...] = (self.text, self.evidence_markdown())
        else:
            label = f"_{SUMMARY_LABEL}_" if self.text and self.evidence and not self.fallback else ""
            parts = (self.scope_note, self.evidence_markdown(), label, self.text)
        return "\n\n".join(part for part in parts if part)

    def shown_plain(self) -> str:
        """The same in plain words (what the eval scores as "the answer as shown")."""
        return " ".join(part for part in (self.text if not self.fallback else "", *self._plain_evidence()) if part)

    def _plain_evidence(self) -> list[str]:
        return [reading(e.passage) for e in self.shown_evidence]

    def to_dict(self) -> dict[str, Any]:
        out = {
            "question": self.question,
            "answer": self.text,
            "refused": self.refused,
            "declined": self.declined,
            "fallback": self.fallback,
            "evidence": [e.to_dict() for e in self.shown_evidence],
            "suggestions": self.suggestions,
            "sources": [h.to_dict() for h in self.sources],
            "timings": self.timings,
            "index_build": self.index_build,
            "summary": not self.summary_off,
        }
        if self.rewritten:
            out["rewritten"] = self.rewritten
        if self.unknown:
            out["unknown_word"] = self.unknown
        if self.doubtful:
            out["doubtful"] = True
        if self.about:
            out["about"] = self.about
        if self.chat:
            out["chat"] = self.chat
        if self.scope is not None:
            out["scope"] = self.scope.to_dict()
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
        self.vectors = retriever.texts  # passages embedded once per process, shared with the reranker
        self._handbook_lines: list[str] | None = None

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
            rerank=s.rerank,
        )
        return replace(base, **{k: v for k, v in overrides.items() if v is not None})

    def params(self, **overrides: Any) -> GenerationParams:
        s = self.settings
        base = GenerationParams(s.temperature, s.max_tokens, s.top_k, s.top_p, s.repeat_penalty, s.seed)
        return replace(base, **{k: v for k, v in overrides.items() if v is not None})

    def retrieve(self, question: str, **overrides: Any) -> Retrieval:
        question = clean_question(question, self.settings.max_question_chars)
        self.follow_index()
        return self.retriever.search(question, self.options(**overrides))

    def follow_index(self) -> bool:
        """Between questions: switch to a new index build if `hbrag ingest` made one since the last question."""
        if self.retriever.refresh():
            self._handbook_lines = None  # the passages' line numbers follow the new handbook
            return True
        return False

    def stream(
        self,
        question: str,
        retrieval: dict[str, Any] | None = None,
        generation: dict[str, Any] | None = None,
        rewritten: str = "",
        summary: bool | None = None,
    ) -> Iterator[Answer]:
        """Yield the answer as it grows; the first carries the sources, the last has `done=True`.

        `rewritten` is a standalone form of a follow-up question, used for retrieval and the prompt.
        `summary` False (default: the settings') stops at the evidence: no model summary, no model loaded.
        """
        started = time.perf_counter()
        question = clean_question(question, self.settings.max_question_chars)
        chat, text = reply(question)
        wanted, number = asks_outline(question, self.retriever.titles)
        if wanted and self.handbook_lines:  # "what's in section 9?": the handbook's own outline (rag/outline.py)
            chat, text = "outline", outline("\n".join(self.handbook_lines), number)
        if chat:  # "hi", "thanks!", "quiz me on statistics": a reply, not a search that declines them
            timings = _without_model(started, 0.0)
            yield Answer(question, text, text, refused=True, declined=True, done=True, timings=timings, chat=chat)
            return
        query = clean_question(rewritten, self.settings.max_question_chars) if rewritten else question
        self.follow_index()
        found = self.retriever.search(query, self.options(**(retrieval or {})))
        # Typos were corrected to the handbook's words (rag/spelling.py): the rewritten question says so.
        rewritten, query = (found.query, found.query) if found.query else (rewritten, query)
        # "What does section 9 say about dropout?": its passages and the model read it without the section.
        query = found.scope.question if found.scope is not None else query
        retrieve_ms = (time.perf_counter() - started) * 1000
        evidence, signals, answerable, how = self.judge(query, found)
        answer = Answer(
            question=question,
            sources=found.hits,
            rewritten=rewritten,
            signals=signals,
            index_build=found.build,
            scope=found.scope,
        )
        if not answerable:
            closest = evidence if self.answerability.shows_closest(signals) else []
            unknown = found.unknown if signals.get("unknown", 0.0) >= NAMED_UNKNOWN else ""
            about, rows = ("", []) if closest else self.about(query, found.hits)
            if closest and not rows:
                # Closest passages that never use the name asked about give way to the lines that do: "what's a
                # TPU good for?" showed the metrics table (its "TP"), not "GPU/TPU for inference".
                words, used = self.uses(query, found.hits)
                if used and not any(names_in(w, e.passage.text) for w in words for e in closest):
                    about, rows = " and ".join(words), used
            if rows:
                text, closest = f"{never_uses(DECLINED, unknown)} {ABOUT.format(terms=about)}", rows
            else:
                text = closest_message(unknown) if closest else decline_message(found.hits, unknown)
            yield replace(
                answer,
                text=text,
                delta=text,
                evidence=closest,
                refused=True,
                declined=True,
                done=True,
                # A word the handbook never uses is mostly a topic it lacks: "Did you mean" only a near question.
                suggestions=self.suggestions(query, floor=UNKNOWN_SUGGEST_FLOOR if unknown else SUGGEST_FLOOR),
                timings=_without_model(started, retrieve_ms),
                unknown=unknown,
                about=about,
            )
            return
        answer = replace(answer, evidence=evidence, doubtful=signals["probability"] < DOUBTFUL)
        yield answer
        if not (self.settings.summary if summary is None else summary):
            yield replace(answer, done=True, summary_off=True, timings=_without_model(started, retrieve_ms))
            return
        why, code = "", ""
        if answer.doubtful:
            # Read on the sets never fitted on: of 10 summaries shown at even odds, none was right (eval/README.md).
            why, code = "the handbook may not answer this question", "doubtful"
        elif evidence[0].passage.kind in WHOLE_BLOCKS:
            # The model reads a diagram or program as its labels or comments; of the summaries shown about one,
            # read by hand over 19 runs, none was right (eval/README.md, twentieth round).
            why, code = "the first passage is a diagram or a program, which it cannot summarise", "block"
        elif how == "bank":
            # The handbook's own answer to the question leads. Of the 21 summaries of one shown on the bank as users
            # run it, read by hand, 8 restated it and 13 garbled it, padded it or were wrong ("hyperlinking
            # parameters", "max pooling is a type of CNN"); their answer as shown scored 0.755 against its own
            # 0.957 (`hbrag eval answers --setting full`, thirty-third round).
            why, code = "the handbook answers this very question", "bank"
        elif evidence[0].passage.kind == "item":
            # Read by hand, its summaries of a list were right for 1-2 of 16 on four learner sets and 4-6 of 13 on
            # four others (eval/README.md, thirty-second round): it picks a wrong item, or garbles or pastes them.
            why, code = "the first passage is a list, whose own lines answer", "list"
        elif how in ROW_ANSWERS and evidence[0].passage.kind == "row":
            why, code = ROW_ANSWERS[how], how
        if code:
            timings = _without_model(started, retrieve_ms)
            yield replace(answer, text=FALLBACK_NOTE.format(why=why), fallback=code, done=True, timings=timings)
            return
        messages = build_messages(query, [e.passage.plain for e in evidence])
        yield from self._generate(answer, messages, self.params(**(generation or {})), started, retrieve_ms)

    def judge(self, question: str, found: Retrieval) -> tuple[list[Evidence], dict[str, float], bool, str]:
        """The evidence, the signals, whether the handbook answers the question (rag/answerable.py), and how it
        does by construction, if it does (`by_construction`; "scope" for a section asked about).

        A bank question asked again (its answer taken whole as evidence) is answerable by construction, and so
        is "What is X?" when a table row that names X is among the evidence (that row comes first), and "X or Y?"
        when rows of one table name both (those rows come first: `compared`).
        """
        evidence, signals = self.signals(question, found)
        evidence, how = self.by_construction(question, evidence)
        if not how and found.scope is not None:
            evidence, certain = self.in_scope(found.scope, evidence)
            how = "scope" if certain else ""
        signals["probability"] = 1.0 if how else self.answerability.probability(signals)
        return evidence, signals, bool(evidence) and bool(how or self.answerability.answerable(signals)), how

    def by_construction(self, question: str, evidence: list[Evidence]) -> tuple[list[Evidence], str]:
        """The evidence, and how it answers the question by construction, or "": a bank question asked again
        ("bank": its answer is the first passage; for "X or Y?", one that names both), a formula asked for and the
        row that writes it first ("formula"), "X or Y?" and the rows of one table that name both ("compared"), X's
        merits asked and X's row of a table with Pros and Cons columns ("merits"), when to use X asked and X's row of
        a table with a When to Use column ("usage"), or "What is X?" with a passage of the section titled X, or else
        a table row that names X, or else a list item labelled X, among the evidence, moved first ("defined",
        rag/definition.py)."""
        r = self.retriever
        sides = compared_terms(question, r.named)
        bank = bool(evidence) and evidence[0].passage.kind == "qa"
        # A bank answer about one side of a comparison ("Q: What is batch normalization?" for "how is batch
        # normalization different from dropout?") gives way to the rows that set both side by side; one whose
        # question or answer names both ("Why is ReLU preferred over sigmoid?") stays.
        if bank:
            at = r.position.get(evidence[0].passage.chunk_id)
            asked = r.chunks[at].asks if at is not None else ""
            if len(mentioned(f"{asked}\n{evidence[0].passage.plain}", sides)) == len(sides):
                return evidence, "bank"
        if not bank and evidence and self.formula_row(question, evidence[0].passage):
            return evidence, "formula"
        if rows := self.compared(sides, evidence):
            # A bank answer that leads and names every side stays first ("Q41: What is model drift?" says data and
            # concept drift in a sentence each); Scenario 9's "ARIMA/SARIMA" for "leave-one-out vs time series
            # split" does not.
            at = r.position.get(evidence[0].passage.chunk_id) if evidence else None
            banked = at is not None and bool(r.bank[at])
            lead = evidence[:1] if banked and len(mentioned(evidence[0].passage.plain, sides)) == len(sides) else []
            tables = {e.passage.table_lines for e in rows}
            rest = [e for e in evidence[len(lead) :] if e.passage.table_lines not in tables]
            return [*lead, *rows, *rest], "compared"
        if bank:
            return evidence, "bank"
        term = self.retriever.term_of(question)
        if merits_subject(question):
            # "What are the downsides of SVM?": SVM's row of a table with Pros and Cons columns, else no certainty
            # (a section on LSTMs need not say what is wrong with them).
            merits = [e for e in evidence if e.passage.kind == "row" and has_merits(e.passage.plain)]
            rows = [e for e in merits if names(e.passage.plain, term)]
            return (first(rows[0], evidence), "merits") if rows else (evidence, "")
        if usage_subject(question):
            # "When should I use DBSCAN?": DBSCAN's row of a table with a When to Use, Use Case or Best For column.
            rows = [
                e
                for e in evidence
                if e.passage.kind == "row" and has_use(e.passage.plain) and names(e.passage.plain, term)
            ]
            if rows:
                return first(rows[0], evidence), "usage"
        # The section whose heading names the term teaches it; a row of another table only lists it.
        taught = [e for e in evidence if e.passage.section in self.retriever.titled.get(term, ())]
        if taught:
            return [taught[0], *(e for e in evidence if e is not taught[0])], "defined"
        rows = [e for e in evidence if e.passage.kind in ("row", "table") and names(e.passage.plain, term)]
        if asks_how_it_works(question):  # a row that only lists the term does not say how it works
            rows = [e for e in rows if explains(e.passage.plain, term)]
        # Else a list item whose bold label is the term: "- **Elbow Method**: Plot inertia vs K".
        rows = rows or [e for e in evidence if e.passage.kind == "item" and term in label_terms(e.passage.text)]
        if not rows:
            return evidence, ""
        return first(rows[0], evidence), "defined"

    def compared(self, terms: list[str], evidence: list[Evidence]) -> list[Evidence]:
        """The rows of one small table that name two or more of the terms a question sets against each other
        (`compared_terms`), in that order, or []: the handbook sets "L1 vs L2" or "adam or sgd?" side by side in
        a table, which answers them by construction (8 of eval/data/compare_s31.jsonl's 24 were hedged and 1
        declined, 20 already opening on a passage that names both). The table the evidence leads with comes
        first, then the handbook's order."""
        r = self.retriever
        if len(terms) < 2:
            return []
        order = {e.passage.chunk_id: n for n, e in enumerate(evidence)}
        score = max((e.score for e in evidence), default=0.0)
        candidates = {i for t in terms for i in r.named[t]}
        for i in sorted(candidates, key=lambda i: (order.get(r.chunks[i].id, len(order)), i)):
            tables: dict[tuple[int, int], dict[str, Passage]] = {}
            for p in passages(r.chunks[i], 1, self.handbook_lines):
                for term in (t for t in terms if p.kind == "row" and p.table and names(p.plain, t)):
                    tables.setdefault(p.table_lines, {}).setdefault(term, p)
            for rows in tables.values():
                if len({p.line_start for p in rows.values()}) >= 2:
                    return [Evidence(p, score) for p in dict.fromkeys(rows[t] for t in terms if t in rows)]
        return []

    @staticmethod
    def in_scope(scope: Scope, evidence: list[Evidence]) -> tuple[list[Evidence], bool]:
        """The evidence, and whether it answers by construction a question about what a section says: the
        section named mentions the question's term, and its passage that names it comes first ("What does section
        21 say backpropagation is?": the glossary's Backpropagation row, not Gradient Descent's beside it)."""
        lead = next((e for e in evidence if scope.shows(f"{e.passage.section}\n{e.passage.plain}")), None)
        if lead is None:
            return evidence, False
        # Its table's other rows stay: "which vector databases does section 18 list" asks for them all.
        return [lead, *(e for e in evidence if e is not lead)], True

    def formula_row(self, question: str, passage: Passage) -> bool:
        """Whether `passage` is a table row that writes the formula of a term the question names, asked for
        one (rag/formula.py): "what's the formula for tanh" is answered by the Tanh row by construction."""
        if passage.kind != "row" or not asks_for_formula(question) or not has_math(passage.plain):
            return False
        return any(names(passage.plain, term) for term, _ in mentioned(question, self.retriever.named))

    def signals(self, question: str, found: Retrieval) -> tuple[list[Evidence], dict[str, float]]:
        """The evidence, and retrieval's signals with the best evidence score added."""
        evidence = self.evidence_for(question, found.hits) if found.hits else []
        best = max((e.score for e in evidence), default=0.0)  # the first shown may not be the best scored
        return evidence, {**found.signals, "evidence": best}

    def about(self, question: str, hits: Sequence[Hit] = ()) -> tuple[str, list[Evidence]]:
        """The terms a declined question names that rows of the handbook's tables name in their first column
        (names only, `is_name`), joined for the message, and those rows: the handbook's own words
        on them, though not an answer. Failing a row, the passages that use a name the question asks about
        (`used_names`: "TPU", "SARIMA", "TN"), from the retrieved chunks first."""
        r = self.retriever
        words, rows = [], []
        for term, written in mentioned(question, r.named):
            if not is_name(written):
                continue
            chunks = (r.chunks[i] for i in r.named[term])
            row = next(
                (
                    p
                    for c in chunks
                    for p in passages(c, 1, self.handbook_lines)
                    if p.kind == "row" and names(p.plain, term)
                ),
                None,
            )
            if row is not None:
                words.append(written)
                rows.append(Evidence(row, 0.0))
            if len(rows) == ABOUT_ROWS:
                break
        if not rows:
            words, rows = self.uses(question, hits)
        return " and ".join(words), rows

    def uses(self, question: str, hits: Sequence[Hit] = ()) -> tuple[list[str], list[Evidence]]:
        """The names a question asks about that the handbook uses in a few places, and for each the first
        passage using it, or the first of a section whose heading uses it ("EDA Checklist"): from the chunks
        retrieved, best first, then in the handbook's order."""
        chunks = self.retriever.chunks
        rank = {h.chunk.id: n for n, h in enumerate(hits)}
        words, shown = [], []
        for word, found in used_names(question, self.retriever.headed):
            for i in sorted(found, key=lambda i: (rank.get(chunks[i].id, len(rank)), i)):
                heading = names_in(word, chunks[i].section_path[-1])
                split = passages(chunks[i], 1, self.handbook_lines)
                passage = next((p for p in split if heading or names_in(word, p.text)), None)
                if passage is not None:
                    words.append(word)
                    shown.append(Evidence(passage, 0.0))
                    break
            if len(shown) == ABOUT_ROWS:
                break
        return words, shown

    @cached_property
    def answerability(self) -> AnswerabilityModel:
        return AnswerabilityModel.load(self.settings.answerability_model or MODEL_FILE)

    def suggestions(self, question: str, n: int = 3, floor: float = SUGGEST_FLOOR) -> list[str]:
        """The handbook's own questions closest to this one, at most `n` and none under `floor`: "Did you mean
        ...?" after a decline.

        Ranked by each bank chunk's indexed vector (its question *and* answer), not the question alone: a
        learner's everyday words meet the answer's vocabulary ("made-up facts" and "factually incorrect").
        The bank's scenarios are offered by their titles ("Model Works Locally, Fails in Production"). A
        gold bank question or scenario is among the three for 72-79 % of the unseen everyday-words
        questions whose gold has one, against 21-44 % by the question text alone; with the query adapter
        moving the question, 67 of 81 against 63 on six unseen sets (eval/README.md).
        """
        return [c.asks for c in self.suggested(question, n, floor)]

    def suggested(self, question: str, n: int = 3, floor: float = SUGGEST_FLOOR) -> list[Chunk]:
        """The bank chunks behind `suggestions`, nearest first, one per question or scenario."""
        r = self.retriever
        bank = np.flatnonzero(r.bank)
        if not len(bank):
            return []
        sims = r.vectors[bank] @ r.moved(r.embed(question))  # ranking: with the query adapter
        chosen: dict[str, Chunk] = {}
        for j in np.argsort(-sims):
            if sims[j] < floor:
                break
            chunk = r.chunks[bank[j]]
            chosen.setdefault(chunk.asks, chunk)
            if len(chosen) == n:
                break
        return list(chosen.values())

    @property
    def handbook_lines(self) -> list[str]:
        """The handbook's lines, to give each passage its own line number (empty when unreadable)."""
        if self._handbook_lines is None:
            try:
                self._handbook_lines = self.settings.handbook.read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError):
                self._handbook_lines = []
        return self._handbook_lines

    def evidence_for(self, question: str, hits: list[Hit]) -> list[Evidence]:
        """The few passages of the retrieved chunks that answer the question (rag/evidence.py)."""
        chunks = [h.chunk for h in hits]
        return choose_evidence(
            question,
            self.retriever.embed(question),
            chunks + self.formula_chunks(question, chunks),
            self.vectors,
            n=self.settings.evidence,
            handbook_lines=self.handbook_lines,
        )

    def formula_chunks(self, question: str, retrieved: list[Chunk], n: int = 3) -> list[Chunk]:
        """For a request for a formula, the chunks outside `retrieved` whose table rows name a term the question
        names (at most `n`, no bank answer): asked for the formula of log loss, retrieval found the loss
        functions' table, and the metrics table's "Log Loss" row, which writes it, was not among the passages."""
        if not asks_for_formula(question):
            return []
        r, seen = self.retriever, {c.id for c in retrieved}
        extra: list[Chunk] = []
        for term, _ in mentioned(question, r.named):
            for i in r.named[term]:
                chunk = r.chunks[i]
                if not r.bank[i] and chunk.id not in seen and term in row_terms(chunk.text):
                    seen.add(chunk.id)
                    extra.append(chunk)
        return extra[:n]

    def prompt_for(self, question: str, hits: list[Hit]) -> tuple[list[Evidence], list[dict[str, str]]]:
        """The evidence for a question and the chat messages built from it."""
        evidence = self.evidence_for(question, hits)
        return evidence, build_messages(question, [e.passage.plain for e in evidence])

    def gate(self, answer: Answer) -> Gate | None:
        """The guards on the model's words for this answer's evidence (rag/guard.py); None without evidence."""
        evidence = answer.evidence
        if not evidence:
            return None
        texts = tuple(e.passage.plain for e in evidence)
        asked = f"{answer.question} {answer.rewritten}"
        asked_terms = frozenset(terms(asked))
        rows = [e.passage.plain for e in evidence if e.passage.kind == "row"]
        own = distinctive_rows(rows, asked) if len(rows) > 1 else ()
        # A small table is shown whole, so a sentence may not name or borrow from a row the model was not
        # given either. Those rows only add checks: the given rows' own words are still told apart among
        # themselves (against the whole table, fewer words would be any one row's own).
        others = [r for e in evidence if e.passage.kind == "row" for r in table_rows(e.passage.table)]
        others = [r for r in dict.fromkeys(others) if r not in rows]
        if others:
            every = distinctive_rows(rows + others, asked)
            own = (own or every[: len(rows)]) + every[len(rows) :]
        return Gate(
            self.vectors(list(texts)),
            self.vectors,
            vocabulary=asked_terms | terms(" ".join(texts)),
            row_words=own,
            row_subjects=row_subjects([e.passage.kind == "row" for e in evidence] + [True] * len(others), own),
            asked=asked_terms,
            passage_texts=texts,
            known_numbers=numbers(" ".join((asked, *(e.passage.text for e in evidence)))),
            fields=row_fields(rows + others),
            question_vector=self.vectors([answer.rewritten or answer.question])[0],
        )

    def _generate(
        self,
        answer: Answer,
        messages: list[dict[str, str]],
        params: GenerationParams,
        started: float,
        retrieve_ms: float,
    ) -> Iterator[Answer]:
        """Stream the model's sentences that pass the guards (rag/guard.py); fall back to the evidence alone."""
        self.generations += 1
        prompt_tokens = self.llm.prompt_tokens(messages)
        gen_start = time.perf_counter()
        first = last = 0.0
        tokens = 0
        raw = ""
        gate = self.gate(answer)

        def pieces() -> Iterator[str]:
            nonlocal first, last, tokens, raw
            for piece in guard_loops(self.llm.stream(messages, params)):
                last = time.perf_counter()
                first = first or last
                tokens += 1
                raw += piece
                yield piece

        text = ""
        first_shown = 0.0
        if gate is None:  # closed-book and other evidence-free generation: the text as written
            for piece in pieces():
                text += piece
                yield replace(answer, text=text, delta=piece, prompt_tokens=prompt_tokens)
        else:
            stream = pieces()
            try:
                for sentence in gated(stream, gate):
                    first_shown = first_shown or time.perf_counter()
                    text += sentence
                    yield replace(answer, text=text, delta=sentence, prompt_tokens=prompt_tokens)
            finally:
                stream.close()  # stops the model when the gate has enough sentences
        end = time.perf_counter()
        text = (trim_loop(text) if gate is None else text).strip()
        fallback = ""
        if leaks_prompt(raw):  # never show the instructions, whatever the question asked for
            text, fallback = PROMPT_WITHHELD, "withheld"
        elif gate is not None and not gate.kept:
            why = "it said the handbook does not cover this" if gate.refused else "its words did not match the handbook"
            pasted = ("copy of a passage", "table cells pasted")
            if gate.dropped and all(reason in pasted for _, reason in gate.dropped):
                why = "it only repeated the handbook's words"
            if gate.closed:
                why = "its sentence was not about the first passage"
            if not raw.strip():
                why = "it wrote nothing"
            text, fallback = FALLBACK_NOTE.format(why=why), ("model-refused" if gate.refused else "not-grounded")
        gen_s = (last - first) if tokens > 1 else 0.0
        timings = {
            "retrieve_ms": round(retrieve_ms, 1),
            "ttft_ms": round(((first or end) - gen_start) * 1000, 1),
            "first_shown_ms": round(((first_shown or end) - gen_start) * 1000, 1),
            "total_ms": round((end - started) * 1000, 1),
            "tokens": tokens,
            "tokens_per_s": round((tokens - 1) / gen_s, 1) if gen_s > 0 else 0.0,
            "prompt_tokens": prompt_tokens,
        }
        yield replace(
            answer,
            text=text,
            delta="",
            refused=gate is None and is_refusal(text),
            fallback=fallback,
            done=True,
            timings=timings,
            prompt_tokens=prompt_tokens,
            dropped=list(gate.dropped) if gate else [],
            raw=raw,
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

    def generate_with(
        self,
        messages: list[dict[str, str]],
        evidence: list[Evidence] | None = None,
        question: str = "",
        **generation: Any,
    ) -> Answer:
        """Generate from given messages (the eval's closed-book and oracle modes), timed like `ask`; with
        `evidence`, through the same guards as `ask`. `question` is the learner's question alone (the gate
        reads its words as already known); by default the last message."""
        started = time.perf_counter()
        answer = Answer(question=question or messages[-1]["content"], evidence=list(evidence or []))
        *_, final = self._generate(answer, messages, self.params(**generation), started, 0.0)
        return final
