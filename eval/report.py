"""Write an eval run to disk: results.jsonl, summary.json, report.md and PNG plots."""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

from eval.harness import GROUNDED_THRESHOLD

RUNS_DIR = Path(__file__).resolve().parent / "runs"


def new_run_dir(name: str, root: Path = RUNS_DIR) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "run"
    path = Path(root) / f"{datetime.now():%Y%m%d-%H%M%S}-{safe}"
    path.mkdir(parents=True, exist_ok=False)
    return path


def write_rows(run_dir: Path, rows: list[dict[str, Any]], summary: dict[str, Any]) -> None:
    with (run_dir / "results.jsonl").open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=_nan_safe), encoding="utf-8")


def _nan_safe(value: Any) -> Any:
    return None if isinstance(value, float) and math.isnan(value) else str(value)


def fmt(value: Any) -> str:
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:.3f}"
    return str(value)


def table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


RETRIEVAL_METRICS = [
    "recall@1",
    "recall@3",
    "recall@5",
    "recall@10",
    "hit@1",
    "hit@5",
    "mrr@10",
    "ndcg@10",
    "latency_p50_ms",
    "latency_p95_ms",
]
ANSWER_METRICS = [
    "semantic_similarity",
    "evidence_similarity",
    "shown_similarity",
    "evidence_on_gold",
    "evidence_any_gold",
    "first_program",
    "line_first",
    "line_shown",
    "line_pointed",
    "sides_shown",
    "rouge_l",
    "rouge_l_shown",
    "groundedness",
    "citation_rate",
    "citation_validity",
    "declined_rate",
    "closest_rate",
    "closest_on_gold",
    "suggestion_on_gold",
    "fallback_rate",
    "model_refusal_rate",
    "header_dumps",
    "invalid_citations",
    "prompt_tokens",
    "ttft_p50_ms",
    "tokens_per_s",
]


def retrieval_table(summary: dict[str, dict[str, dict[str, float]]]) -> str:
    rows = [
        [cfg, setting, *[agg[m] for m in RETRIEVAL_METRICS], agg["questions"]]
        for cfg, by_setting in summary.items()
        for setting, agg in by_setting.items()
    ]
    return table(["config", "setting", *RETRIEVAL_METRICS, "questions"], rows)


def answers_table(summary: dict[str, dict[str, float]]) -> str:
    return table(
        ["mode", *ANSWER_METRICS, "questions"],
        [[mode, *[agg[m] for m in ANSWER_METRICS], agg["questions"]] for mode, agg in summary.items()],
    )


def retrieval_report(run_dir: Path, rows: list[dict], summary: dict, refusal: dict | None, title: str) -> Path:
    plots = _retrieval_plots(run_dir, rows, summary)
    first = next(iter(summary))
    worst = sorted(
        (r for r in rows if r["config"] == first and r["setting"] == "heldout"),
        key=lambda r: (r["mrr@10"], r["recall@5"]),
    )[:10]
    parts = [f"# Retrieval evaluation: {title}", "", retrieval_table(summary), ""]
    if refusal:
        parts += ["## Declining", "", table(list(refusal), [list(refusal.values())]), ""]
    parts += ["## Plots", ""] + [f"![{p.stem}]({p.name})" for p in plots] + [""]
    parts += [f"## Worst 10 questions ({first}, heldout)", ""]
    for r in worst:
        parts.append(f"- **{r['id']}** {r['question']} (MRR {r['mrr@10']:.2f}, recall@5 {r['recall@5']:.2f})")
        parts.append(f"  - gold: {'; '.join(r['gold'])}")
        parts.append(f"  - retrieved: {'; '.join(r['retrieved'][:5])}")
    return _write_report(run_dir, parts)


def answers_report(run_dir: Path, rows: list[dict], summary: dict, title: str) -> Path:
    plots = _answer_plots(run_dir, rows, summary)
    setting = "heldout" if any(r["setting"] == "heldout" for r in rows) else "full"
    worst = sorted(
        (r for r in rows if r["mode"] == "rag" and r["setting"] == setting and r["reference"]),
        key=lambda r: r["shown_similarity"],
    )[:10]
    parts = (
        [
            f"# Answer evaluation: {title}",
            "",
            answers_table(summary),
            "",
            "semantic_similarity is the model's prose as shown (empty when it fell back to the evidence alone);",
            "evidence_similarity the 'From the handbook' passages (answered questions); shown_similarity both, as the"
            " learner sees them.",
            "evidence_on_gold: the first passage shown comes from a gold section or bank answer (answered questions"
            " with gold); evidence_any_gold: any passage shown does; first_program: the first passage shown is a"
            " program (answered questions); sides_shown: a comparison's passages name both its sides (sets that"
            " give them). line_first / line_shown: the same for the handbook line that answers (the right row of a"
            " table), on sets that give it; line_pointed: the row marked first in the first passage (a table shown"
            " whole), else the first passage, is that line. closest_rate: declined,"
            " the closest passages shown; closest_on_gold: of those, the first passage is on gold."
            " suggestion_on_gold: a bank question in the gold is among the three 'Did you mean' questions (every"
            " question whose gold has one).",
            f"Groundedness threshold: cosine >= {GROUNDED_THRESHOLD} between an answer sentence and its best passage.",
            "",
            "## Plots",
            "",
        ]
        + [f"![{p.stem}]({p.name})" for p in plots]
        + ["", f"## Worst 10 questions (rag, {setting}, by the answer as shown)", ""]
    )
    for r in worst:
        answer = " ".join(r["answer"].split())[:300]
        fell = f", fell back: {r['fallback']}" if r["fallback"] else ""
        parts.append(
            f"- **{r['id']}** {r['question']} (shown {r['shown_similarity']:.2f}, "
            f"prose {r['semantic_similarity']:.2f}, evidence {r['evidence_similarity']:.2f}{fell})"
        )
        parts.append(f"  - answer: {answer}")
        for e in r["evidence"]:
            parts.append(f"  - evidence: {' '.join(e['text'].split())[:160]} ({e['section']}, {e['line_start']})")
    return _write_report(run_dir, parts)


RERANK_METRICS = ("hit@1", "hit@5", "mrr@10")


def rerank_table(result: list[dict]) -> str:
    header = ["set", "setting", *(f"{m} before → after" for m in RERANK_METRICS), "questions"]
    lines = [
        [r["set"], r["setting"], *(f"{r['before'][m]:.3f} → {r['after'][m]:.3f}" for m in RERANK_METRICS)]
        + [r["before"]["questions"]]
        for r in result
    ]
    return table(header, lines)


def rerank_report(run_dir: Path, result: list[dict], weights: dict[str, float]) -> Path:
    """The leave-one-set-out table, a picture of the first place before and after, and the model's weights."""
    write_rows(run_dir, result, {"weights": weights})
    plot = _rerank_plot(run_dir, result)
    ranked = sorted(weights.items(), key=lambda kv: -abs(kv[1]))
    parts = [
        "# Reranker: the teaching section first",
        "",
        "Each fitting set is judged by a model fitted on the others (leave one set out); a set marked"
        " '(not fitted on)' by the model fitted on all of them.",
        "",
        rerank_table(result),
        "",
        f"![{plot.stem}]({plot.name})",
        "",
        "## Weights of the model fitted on all the fitting sets (standardised features)",
        "",
        table(["feature", "weight"], [[f, round(w, 3)] for f, w in ranked]),
    ]
    return _write_report(run_dir, parts)


def adapter_report(run_dir: Path, result: list[dict], fitted_on: dict[str, Any]) -> Path:
    """The leave-one-set-out dense table without and with the query adapter, pictured."""
    write_rows(run_dir, result, {"fitted_on": fitted_on})
    plot = _rerank_plot(run_dir, result, ("plain question vector", "moved by the adapter"))
    parts = [
        "# Query adapter: dense ranking in a learner's words",
        "",
        "Dense ranking alone (no BM25, no reranker). Each fitting set is judged by an adapter fitted on the"
        " others (leave one set out); a set marked '(not fitted on)' by the adapter fitted on all of them."
        f" Strength {fitted_on.get('strength')}, chosen by leave-one-set-out hit@1 on the fitting sets:"
        f" {fitted_on.get('leave_one_set_out_hit@1')}.",
        "",
        rerank_table(result),
        "",
        f"![{plot.stem}]({plot.name})",
    ]
    return _write_report(run_dir, parts)


def _rerank_plot(run_dir: Path, result: list[dict], legend: tuple[str, str] = ("fused order", "reranked")) -> Path:
    plt = _plt()
    labels = [f"{r['set']}\n{r['setting']}" for r in result]
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(result)), 4))
    x = range(len(result))
    ax.bar([i - 0.2 for i in x], [r["before"]["hit@1"] for r in result], 0.4, label=legend[0])
    ax.bar([i + 0.2 for i in x], [r["after"]["hit@1"] for r in result], 0.4, label=legend[1])
    ax.set_xticks(list(x), labels, fontsize=6, rotation=60)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("hit@1 (a teaching section first)")
    ax.legend(fontsize=7)
    return _save(fig, run_dir / "hit1_before_after.png")


def _write_report(run_dir: Path, parts: list[str]) -> Path:
    path = run_dir / "report.md"
    path.write_text("\n".join(parts) + "\n", encoding="utf-8")
    return path


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _retrieval_plots(run_dir: Path, rows: list[dict], summary: dict) -> list[Path]:
    plt = _plt()
    out = []
    configs = list(summary)
    settings = sorted({s for by in summary.values() for s in by})
    fig, axes = plt.subplots(1, len(settings), figsize=(6 * len(settings), 4), squeeze=False)
    for ax, setting in zip(axes[0], settings, strict=True):
        metrics = ["recall@1", "recall@3", "recall@5", "mrr@10", "ndcg@10"]
        width = 0.8 / max(len(configs), 1)
        for i, cfg in enumerate(configs):
            agg = summary[cfg].get(setting)
            if agg:
                ax.bar([m + i * width for m in range(len(metrics))], [agg[m] for m in metrics], width, label=cfg)
        ax.set_xticks([m + 0.4 - width / 2 for m in range(len(metrics))], metrics)
        ax.set_ylim(0, 1.05)
        ax.set_title(f"retrieval ({setting})")
    axes[0][0].legend(fontsize=7)
    out.append(_save(fig, run_dir / "metrics_by_config.png"))

    first = configs[0]
    by_section: dict[str, list[float]] = defaultdict(list)
    for r in rows:
        if r["config"] == first and r["setting"] == "heldout":
            for g in r["gold"]:
                by_section[g.split(" > ")[0].split(" — ")[0]].append(r["recall@5"])
    if by_section:
        fig, ax = plt.subplots(figsize=(8, 4))
        names = sorted(by_section, key=lambda s: (len(s), s))
        ax.bar(names, [sum(v) / len(v) for v in (by_section[n] for n in names)])
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("recall@5")
        ax.set_title(f"recall@5 by handbook section of the gold evidence ({first}, heldout)")
        ax.tick_params(axis="x", rotation=60, labelsize=7)
        out.append(_save(fig, run_dir / "recall_by_section.png"))

    fig, ax = plt.subplots(figsize=(6, 4))
    for cfg in configs:
        ax.hist([r["latency_ms"] for r in rows if r["config"] == cfg], bins=30, alpha=0.5, label=cfg)
    ax.set_xlabel("retrieval latency (ms)")
    ax.legend(fontsize=7)
    out.append(_save(fig, run_dir / "latency.png"))
    return out


def _answer_plots(run_dir: Path, rows: list[dict], summary: dict) -> list[Path]:
    plt = _plt()
    modes = list(summary)
    metrics = ["semantic_similarity", "evidence_similarity", "shown_similarity", "groundedness", "fallback_rate"]
    fig, ax = plt.subplots(figsize=(9, 4))
    width = 0.8 / max(len(modes), 1)
    for i, mode in enumerate(modes):
        values = [summary[mode][m] for m in metrics]
        ax.bar(
            [m + i * width for m in range(len(metrics))], [0 if math.isnan(v) else v for v in values], width, label=mode
        )
    ax.set_xticks([m + 0.4 - width / 2 for m in range(len(metrics))], metrics, fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.legend()
    ax.set_title("answer quality by mode")
    out = [_save(fig, run_dir / "metrics_by_mode.png")]
    fig, ax = plt.subplots(figsize=(6, 4))
    for mode in modes:
        ax.hist([r["total_ms"] / 1000 for r in rows if r["mode"] == mode], bins=20, alpha=0.5, label=mode)
    ax.set_xlabel("time per answer (s)")
    ax.legend()
    out.append(_save(fig, run_dir / "latency.png"))
    return out


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path
