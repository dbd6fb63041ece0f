"""Run the evaluations: retrieval (per configuration and setting) and answers (per mode)."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from eval.dataset import Dataset, EvalQuestion, hit_key
from eval.metrics import (
    citation_validity,
    groundedness,
    mean,
    mrr_at_k,
    ndcg_at_k,
    percentile,
    recall_at_k,
    rouge_l,
    sentences,
    token_f1,
)
from rag.assistant import Assistant
from rag.prompt import Source, build_closed_book_messages, build_messages, fit_sources

SETTINGS = ("full", "heldout")
MODES = ("closed-book", "rag", "oracle")
KS = (1, 3, 5, 10)
# Calibrated with `hbrag eval calibrate` (eval/README.md): best balanced accuracy on the handbook.
GROUNDED_THRESHOLD = 0.35

SWEEP: dict[str, dict[str, Any]] = {
    "dense": {"retriever": "dense", "merge_adjacent": False},
    "bm25": {"retriever": "bm25", "merge_adjacent": False},
    "hybrid": {"retriever": "hybrid", "merge_adjacent": False},
    "dense+merge": {"retriever": "dense", "merge_adjacent": True},
    "hybrid+merge": {"retriever": "hybrid", "merge_adjacent": True},
    "hybrid+mmr": {"retriever": "hybrid", "merge_adjacent": False, "mmr": True},
    "hybrid+mmr+merge": {"retriever": "hybrid", "merge_adjacent": True, "mmr": True},
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
    return row


def _aggregate_retrieval(rows: list[dict], total: int) -> dict[str, float]:
    out = {metric: mean([r[metric] for r in rows]) for metric in [f"recall@{k}" for k in KS] + ["mrr@10", "ndcg@10"]}
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
    """How often retrieval declines: wanted on the unanswerable set, unwanted on the question bank and on
    learners' own wording of answerable questions (the paraphrase set)."""
    threshold = assistant.settings.min_score

    def declined(q: EvalQuestion) -> bool:
        return assistant.retrieve(q.question).best_score < threshold

    out = {
        "min_score": threshold,
        "refusal_rate_unanswerable": mean([declined(q) for q in unanswerable.questions]),
        "false_refusal_rate_bank": mean([declined(q) for q in answerable.questions]),
        "unanswerable_questions": len(unanswerable.questions),
    }
    if paraphrases is not None:
        out["false_refusal_rate_paraphrases"] = mean([declined(q) for q in paraphrases.questions])
    return out


def oracle_sources(assistant: Assistant, q: EvalQuestion) -> list[Source]:
    """The question's own bank chunk and its teaching sections, in handbook order, own chunk first."""
    keys = q.gold_keys("full")
    chunks = [c for c in assistant.retriever.chunks if hit_key(c.section, c.qid) in keys]
    chunks.sort(key=lambda c: hit_key(c.section, c.qid) != q.own)
    return [Source(c.section, c.text) for c in chunks]


def evaluate_answers(
    assistant: Assistant,
    embedder: Any,
    dataset: Dataset,
    modes: Iterable[str] = MODES,
    progress: bool = True,
    generation: Mapping[str, Any] | None = None,
) -> tuple[list[dict[str, Any]], dict[str, dict[str, float]]]:
    """Answer every question in every mode and score it against the reference and its context."""
    generation = {"temperature": 0.0, **(generation or {})}
    modes = list(modes)
    rows = []
    for q in _progress(dataset.questions, "answers", progress):
        for mode in modes:
            rows.append(_answer_row(assistant, embedder, q, mode, dict(generation)))
    summary = {mode: _aggregate_answers([r for r in rows if r["mode"] == mode]) for mode in modes}
    return rows, summary


def _answer_row(assistant: Assistant, embedder: Any, q: EvalQuestion, mode: str, generation: dict) -> dict:
    retrieved: list[str] = []
    if mode == "rag":
        answer = assistant.ask(q.question, generation=generation)
        context = [Source(h.chunk.section, h.chunk.text) for h in answer.sources]
        retrieved = [h.chunk.id for h in answer.sources]
    elif mode == "closed-book":
        answer = assistant.generate_with(build_closed_book_messages(q.question), **generation)
        context = []
    elif mode == "oracle":
        llm = assistant.llm
        context = fit_sources(oracle_sources(assistant, q), llm.count_tokens, assistant.settings.max_source_tokens)
        answer = assistant.generate_with(build_messages(q.question, context), **generation)
    else:
        raise ValueError(f"unknown mode {mode!r}")
    text = answer.text
    vectors = np.asarray(embedder.embed_documents([text or " ", q.reference or " "]))
    answer_sentences = sentences(text)
    source_sentences = [s for src in context for s in sentences(src.text)]
    grounded = None
    if context:
        vecs = embedder.embed_documents(answer_sentences + source_sentences) if answer_sentences else []
        grounded = groundedness(
            np.asarray(vecs[: len(answer_sentences)]), np.asarray(vecs[len(answer_sentences) :]), GROUNDED_THRESHOLD
        )
    cites, valid = citation_validity(text, len(context))
    return {
        "mode": mode,
        "id": q.id,
        "question": q.question,
        "answer": text,
        "reference": q.reference,
        "retrieved_ids": retrieved,
        "refused": answer.refused,
        "semantic_similarity": float(vectors[0] @ vectors[1]),
        "rouge_l": rouge_l(text, q.reference) if q.reference else 0.0,
        "token_f1": token_f1(text, q.reference) if q.reference else 0.0,
        "groundedness": grounded,
        "cites": cites,
        "citations_valid": valid,
        "tokens": answer.timings.get("tokens", 0),
        "prompt_tokens": answer.timings.get("prompt_tokens", 0),
        "ttft_ms": answer.timings.get("ttft_ms", 0.0),
        "tokens_per_s": answer.timings.get("tokens_per_s", 0.0),
        "total_ms": answer.timings.get("total_ms", 0.0),
    }


def _aggregate_answers(rows: list[dict]) -> dict[str, float]:
    grounded = [r["groundedness"] for r in rows if r["groundedness"] is not None]
    return {
        "questions": len(rows),
        "semantic_similarity": mean([r["semantic_similarity"] for r in rows]),
        "rouge_l": mean([r["rouge_l"] for r in rows]),
        "token_f1": mean([r["token_f1"] for r in rows]),
        "groundedness": mean(grounded) if grounded else float("nan"),
        "citation_rate": mean([r["cites"] for r in rows]),
        "citation_validity": mean([r["citations_valid"] for r in rows]),
        "refusal_rate": mean([r["refused"] for r in rows]),
        "prompt_tokens": mean([r["prompt_tokens"] for r in rows]),
        "ttft_p50_ms": percentile([r["ttft_ms"] for r in rows], 50),
        "tokens_per_s": mean([r["tokens_per_s"] for r in rows if r["tokens_per_s"]]),
        "total_p50_ms": percentile([r["total_ms"] for r in rows], 50),
    }
