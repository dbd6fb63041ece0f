"""Run the evaluations: retrieval (per configuration and setting) and answers (per mode)."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from eval.dataset import Dataset, EvalQuestion, hit_key
from eval.metrics import (
    citation_validity,
    evidence_on_gold,
    evidence_on_lines,
    groundedness,
    hit_at_k,
    mean,
    mrr_at_k,
    names_sides,
    ndcg_at_k,
    percentile,
    pointed_on_lines,
    recall_at_k,
    rouge_l,
    sentences,
    token_f1,
)
from rag.assistant import Assistant
from rag.evidence import choose_evidence, reading
from rag.prompt import build_closed_book_messages, build_messages

SETTINGS = ("full", "heldout")
MODES = ("closed-book", "rag", "oracle")
KS = (1, 3, 5, 10)
# Calibrated with `hbrag eval calibrate` (eval/README.md): best balanced accuracy on the handbook.
GROUNDED_THRESHOLD = 0.35

SWEEP: dict[str, dict[str, Any]] = {
    "dense": {"retriever": "dense", "merge_adjacent": False},
    "bm25": {"retriever": "bm25", "merge_adjacent": False},
    "hybrid": {"retriever": "hybrid", "merge_adjacent": False, "rerank": False},
    "dense+merge": {"retriever": "dense", "merge_adjacent": True},
    "hybrid+merge": {"retriever": "hybrid", "merge_adjacent": True, "rerank": False},
    "hybrid+merge+rerank": {"retriever": "hybrid", "merge_adjacent": True},
    "hybrid+mmr": {"retriever": "hybrid", "merge_adjacent": False, "mmr": True, "rerank": False},
    "hybrid+mmr+merge": {"retriever": "hybrid", "merge_adjacent": True, "mmr": True, "rerank": False},
}


def _progress(items: list, desc: str, enabled: bool) -> Iterable:
    from tqdm import tqdm

    return tqdm(items, desc=desc, unit="q", disable=not enabled, leave=False)


def evaluate_retrieval(
    assistant: Assistant,
    dataset: Dataset,
    configs: Mapping[str, Mapping[str, Any]],
    settings: Iterable[str] = SETTINGS,
    progress: bool = True,
) -> tuple[list[dict[str, Any]], dict[str, dict[str, dict[str, float]]]]:
    """Rows per (configuration, setting, question) and aggregates per (configuration, setting)."""
    retriever = assistant.retriever
    base = assistant.options()
    rows: list[dict[str, Any]] = []
    summary: dict[str, dict[str, dict[str, float]]] = {}
    settings = list(settings)
    for name, overrides in configs.items():
        for setting in settings:
            options = replace(base, **{**overrides, "k": 10, "exclude_bank": setting == "heldout"})
            judged = [q for q in dataset.questions if q.gold_keys(setting)]
            part = []
            for q in _progress(judged, f"retrieval {name}/{setting}", progress):
                started = time.perf_counter()
                found = retriever.search(q.question, options)
                latency = (time.perf_counter() - started) * 1000
                part.append(_retrieval_row(name, setting, q, found.hits, found.best_score, latency))
            rows.extend(part)
            summary.setdefault(name, {})[setting] = _aggregate_retrieval(part, len(dataset.questions))
    return rows, summary


def _retrieval_row(name: str, setting: str, q: EvalQuestion, hits: list, best: float, latency: float) -> dict:
    keys = [hit_key(h.chunk.section, h.chunk.qid) for h in hits]
    gold = q.gold_keys(setting)
    row = {
        "config": name,
        "setting": setting,
        "id": q.id,
        "question": q.question,
        "gold": sorted(gold),
        "retrieved": keys,
        "retrieved_ids": [h.chunk.id for h in hits],
        "best_score": round(best, 4),
        "latency_ms": round(latency, 2),
        "mrr@10": mrr_at_k(keys, gold, 10),
        "ndcg@10": ndcg_at_k(keys, gold, 10),
    }
    row.update({f"recall@{k}": recall_at_k(keys, gold, k) for k in KS})
    row.update({f"hit@{k}": hit_at_k(keys, gold, k) for k in (1, 5)})
    return row


def _aggregate_retrieval(rows: list[dict], total: int) -> dict[str, float]:
    names = [f"recall@{k}" for k in KS] + ["hit@1", "hit@5", "mrr@10", "ndcg@10"]
    out = {metric: mean([r[metric] for r in rows]) for metric in names}
    latencies = [r["latency_ms"] for r in rows]
    out.update(
        {"latency_p50_ms": percentile(latencies, 50), "latency_p95_ms": percentile(latencies, 95)},
        questions=len(rows),
        unjudged=total - len(rows),
    )
    return out


def refusal_rates(
    assistant: Assistant, answerable: Dataset, unanswerable: Dataset, paraphrases: Dataset | None = None
) -> dict[str, float]:
    """How often the assistant declines (rag/answerable.py): wanted on the unanswerable set (in and out of
    the field), unwanted on the question bank and on learners' own wording (the paraphrase set). The model
    was fitted on these sets: `hbrag eval decline` gives the cross-validated figures."""

    def declined(q: EvalQuestion) -> bool:
        return not assistant.judge(q.question, assistant.retrieve(q.question))[2]

    def rate(questions: list[EvalQuestion]) -> float:
        return mean([declined(q) for q in questions])

    out = {
        "refusal_rate_unanswerable": rate(unanswerable.questions),
        "refusal_rate_unanswerable_in_field": rate([q for q in unanswerable.questions if q.field == "in"]),
        "refusal_rate_unanswerable_out_of_field": rate([q for q in unanswerable.questions if q.field != "in"]),
        "false_refusal_rate_bank": rate(answerable.questions),
        "unanswerable_questions": len(unanswerable.questions),
    }
    if paraphrases is not None:
        out["false_refusal_rate_paraphrases"] = rate(paraphrases.questions)
    return out


def oracle_chunks(assistant: Assistant, q: EvalQuestion, setting: str) -> list:
    """The chunks of the question's gold sections (and, in `full`, its own bank chunk first)."""
    keys = q.gold_keys(setting)
    chunks = [c for c in assistant.retriever.chunks if hit_key(c.section, c.qid) in keys]
    chunks.sort(key=lambda c: hit_key(c.section, c.qid) != q.own)
    return chunks


_HEADER_DUMP = re.compile(r"Section\s+\d+\s*[—–-]|```|\|\s*[-:]{3}|^\s*\[\d+\]\s", re.M)


def is_header_dump(text: str) -> bool:
    """The model pasted a source header, a code fence, a table or a numbered source line."""
    return bool(_HEADER_DUMP.search(text))


def evaluate_answers(
    assistant: Assistant,
    embedder: Any,
    dataset: Dataset,
    modes: Iterable[str] = MODES,
    progress: bool = True,
    generation: Mapping[str, Any] | None = None,
    settings: Iterable[str] = SETTINGS,
) -> tuple[list[dict[str, Any]], dict[str, dict[str, float]]]:
    """Answer every question in every mode and setting; score the model's prose, the evidence and the
    answer as shown, each against the reference. Summary keys are "mode/setting"."""
    generation = {"temperature": 0.0, **(generation or {})}
    modes, settings = list(modes), list(settings)
    rows = []
    for q in _progress(dataset.questions, "answers", progress):
        for setting in settings:
            for mode in modes:
                if mode == "closed-book" and setting != settings[0]:
                    continue  # no context: the setting changes nothing
                rows.append(_answer_row(assistant, embedder, q, mode, setting, dict(generation)))
    summary = {}
    for setting in settings:
        for mode in modes:
            part = [r for r in rows if r["mode"] == mode and r["setting"] in (setting, "any")]
            if part:
                summary[f"{mode}/{setting}" if mode != "closed-book" else mode] = _aggregate_answers(part)
    return rows, summary


def _answer_row(
    assistant: Assistant, embedder: Any, q: EvalQuestion, mode: str, setting: str, generation: dict
) -> dict:
    retrieved: list[str] = []
    exclude = setting == "heldout"
    if mode == "rag":
        answer = assistant.ask(q.question, generation=generation, retrieval={"exclude_bank": exclude})
        retrieved = [h.chunk.id for h in answer.sources]
    elif mode == "closed-book":
        answer = assistant.generate_with(build_closed_book_messages(q.question), **generation)
    elif mode == "oracle":
        evidence = choose_evidence(
            q.question,
            assistant.retriever.embed(q.question),
            oracle_chunks(assistant, q, setting),
            assistant.vectors,
            n=assistant.settings.evidence,
            handbook_lines=assistant.handbook_lines,
        )
        messages = build_messages(q.question, [e.passage.plain for e in evidence])
        answer = assistant.generate_with(messages, evidence=evidence, question=q.question, **generation)
    else:
        raise ValueError(f"unknown mode {mode!r}")
    prose = "" if answer.fallback or answer.declined else answer.text
    shown_evidence = answer.shown_evidence  # as the learner reads it: a small table whole
    evidence_text = " ".join(reading(e.passage) for e in shown_evidence)
    shown = answer.text if mode == "closed-book" else answer.shown_plain()
    texts = [prose or " ", evidence_text or " ", shown or " ", q.reference or " "]
    vectors = np.asarray(embedder.embed_documents(texts))
    sim = (lambda i: float(vectors[i] @ vectors[3])) if q.reference else (lambda i: float("nan"))
    grounded = None
    if mode != "closed-book" and not answer.declined:
        answer_sentences = sentences(prose)
        source_sentences = [e.passage.plain for e in answer.evidence]
        vecs = embedder.embed_documents(answer_sentences + source_sentences) if answer_sentences else []
        grounded = groundedness(
            np.asarray(vecs[: len(answer_sentences)]), np.asarray(vecs[len(answer_sentences) :]), GROUNDED_THRESHOLD
        )
    cites, valid = citation_validity(prose, len(answer.evidence))
    on_gold_first, on_gold_any = evidence_on_gold(
        [_evidence_key(assistant, e.passage.chunk_id) for e in shown_evidence], q.gold_keys(setting)
    )
    # "Did you mean ...?" (shown after a decline), judged on every rag question with bank gold (a Q&A, a scenario).
    bank_gold = q.gold_keys(setting) & _bank_keys(assistant)
    suggestion_on_gold = float("nan")
    if mode == "rag" and bank_gold:
        offered = {hit_key(c.section, c.qid) for c in assistant.suggested(q.question)}
        suggestion_on_gold = float(bool(offered & bank_gold))
    shown_words = "\n".join(e.passage.text for e in shown_evidence)
    line_first, line_any = evidence_on_lines(
        [(e.passage.line_start, e.passage.line_end) for e in shown_evidence], q.gold_lines
    )
    line_pointed = float("nan")
    if shown_evidence:
        first = shown_evidence[0].passage
        line_pointed = pointed_on_lines((first.line_start, first.line_end), first.marked, q.gold_lines)
    closest_on_gold = on_gold_first if answer.closest else float("nan")
    if answer.declined:
        on_gold_first = on_gold_any = float("nan")  # these two judge answered questions, as before
        line_first = line_any = line_pointed = float("nan")
    return {
        "mode": mode,
        "setting": "any" if mode == "closed-book" else setting,
        "id": q.id,
        "question": q.question,
        "answer": answer.text,
        "raw": answer.raw,
        "evidence": [e.to_dict() for e in shown_evidence],
        "reference": q.reference,
        "retrieved_ids": retrieved,
        "declined": answer.declined,
        "refused": answer.refused,
        "fallback": answer.fallback,
        "model_refused": answer.fallback == "model-refused",
        "header_dump": is_header_dump(prose),
        "semantic_similarity": sim(0),
        "evidence_similarity": sim(1) if evidence_text and not answer.declined else float("nan"),  # answered only
        "shown_similarity": sim(2),
        "rouge_l": rouge_l(prose, q.reference) if q.reference else 0.0,
        "rouge_l_shown": rouge_l(shown, q.reference) if q.reference else 0.0,
        "token_f1": token_f1(prose, q.reference) if q.reference else 0.0,
        "groundedness": grounded,
        "evidence_on_gold": on_gold_first,
        "evidence_any_gold": on_gold_any,
        # A request for code is answered by a program (eval/data/code_s25.jsonl); answered questions only.
        "first_program": float("nan")
        if answer.declined or not shown_evidence
        else float(shown_evidence[0].passage.kind == "program"),
        "line_first": line_first,
        "line_shown": line_any,
        "line_pointed": line_pointed,
        # A comparison ("X or Y?") shows words of both sides (eval/data/compare_s25.jsonl); answered questions only.
        "sides_shown": float("nan") if answer.declined or not q.sides else float(names_sides(shown_words, q.sides)),
        "closest": answer.closest,
        "closest_on_gold": closest_on_gold,
        "suggestion_on_gold": suggestion_on_gold,
        "cites": cites,
        "citations_valid": valid,
        "tokens": answer.timings.get("tokens", 0),
        "prompt_tokens": answer.timings.get("prompt_tokens", 0),
        "ttft_ms": answer.timings.get("ttft_ms", 0.0),
        "tokens_per_s": answer.timings.get("tokens_per_s", 0.0),
        "total_ms": answer.timings.get("total_ms", 0.0),
    }


def _bank_keys(assistant: Assistant) -> set[str]:
    r = assistant.retriever
    return {hit_key(c.section, c.qid) for c, bank in zip(r.chunks, r.bank, strict=True) if bank}


def _evidence_key(assistant: Assistant, chunk_id: str) -> str:
    """The key a passage is judged by: its chunk's section, or its bank question for a Q&A chunk."""
    retriever = assistant.retriever
    i = retriever.position.get(chunk_id)
    if i is None:
        return ""
    c = retriever.chunks[i]
    return hit_key(c.section, c.qid)


def _aggregate_answers(rows: list[dict]) -> dict[str, float]:
    def nanmean(key: str) -> float:
        values = [r[key] for r in rows if r[key] is not None and not math.isnan(r[key])]
        return mean(values) if values else float("nan")

    answered = [r for r in rows if not r["declined"]]
    return {
        "questions": len(rows),
        "semantic_similarity": nanmean("semantic_similarity"),
        "evidence_similarity": nanmean("evidence_similarity"),
        "shown_similarity": nanmean("shown_similarity"),
        "rouge_l": mean([r["rouge_l"] for r in rows]),
        "rouge_l_shown": mean([r["rouge_l_shown"] for r in rows]),
        "token_f1": mean([r["token_f1"] for r in rows]),
        "groundedness": nanmean("groundedness"),
        "evidence_on_gold": nanmean("evidence_on_gold"),
        "evidence_any_gold": nanmean("evidence_any_gold"),
        "first_program": nanmean("first_program"),
        "line_first": nanmean("line_first"),
        "line_shown": nanmean("line_shown"),
        "line_pointed": nanmean("line_pointed"),
        "sides_shown": nanmean("sides_shown"),
        "citation_rate": mean([r["cites"] for r in answered]),
        "citation_validity": mean([r["citations_valid"] for r in answered]),
        "declined_rate": mean([r["declined"] for r in rows]),
        "closest_rate": mean([r.get("closest", False) for r in rows]),
        "closest_on_gold": nanmean("closest_on_gold"),
        "suggestion_on_gold": nanmean("suggestion_on_gold"),
        "fallback_rate": mean([bool(r["fallback"]) for r in answered]),
        "model_refusal_rate": mean([r["model_refused"] for r in answered]),
        "header_dumps": float(sum(r["header_dump"] for r in rows)),
        "invalid_citations": float(sum(not r["citations_valid"] for r in rows)),
        "refusal_rate": mean([r["refused"] for r in rows]),
        "prompt_tokens": percentile([r["prompt_tokens"] for r in answered], 50),
        "ttft_p50_ms": percentile([r["ttft_ms"] for r in answered], 50),
        "tokens_per_s": mean([r["tokens_per_s"] for r in answered if r["tokens_per_s"]]),
        "total_p50_ms": percentile([r["total_ms"] for r in rows], 50),
    }
