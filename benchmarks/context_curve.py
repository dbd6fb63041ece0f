"""`make bench-context`: answer quality against the number of evidence passages, to choose the default.

For each number of passages (the model's whole context) answer the first N bank questions with the bank
held out of retrieval, the model loaded and the KV cache reset per question, and record the mean semantic
similarity of the answer as shown to the reference and the median time to first token. Writes JSON, a
Markdown table and a PNG curve.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from datetime import datetime

import numpy as np

from benchmarks.run import RESULTS


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--budgets", default="1,2,3,5", help="numbers of evidence passages")
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=96)
    args = parser.parse_args(argv)

    from eval.dataset import question_bank
    from ingest.pipeline import read_handbook
    from rag.runtime import Runtime
    from rag.settings import Settings

    base = Runtime(Settings.load())
    questions = question_bank(read_handbook(base.settings.handbook)).questions[: args.limit]
    rows = []
    for budget in [int(b) for b in args.budgets.split(",")]:
        rt = Runtime(base.settings.replace(evidence=budget, k=args.k))
        rt.embedder, rt.llm = base.embedder, base.llm
        sims, ttfts, prompts = [], [], []
        for q in questions:
            base.llm._llama.reset()
            answer = rt.assistant.ask(
                q.question,
                generation={"temperature": 0.0, "max_tokens": args.max_tokens},
                retrieval={"exclude_bank": True},
            )
            vectors = np.asarray(base.embedder.embed_documents([answer.shown_plain() or " ", q.reference]))
            sims.append(float(vectors[0] @ vectors[1]))
            ttfts.append(answer.timings.get("ttft_ms", 0.0))
            prompts.append(answer.timings.get("prompt_tokens", 0))
        rows.append(
            {
                "budget": budget,
                "k": args.k,
                "semantic_similarity": round(statistics.mean(sims), 4),
                "ttft_ms_median": round(statistics.median(ttfts), 1),
                "prompt_tokens_median": statistics.median(prompts),
                "questions": len(questions),
            }
        )
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{stamp}-context.json").write_text(json.dumps(rows, indent=2))
    lines = [
        "| evidence passages | prompt tokens (median) | TTFT ms (median) | similarity, answer as shown |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {r['budget']} | {r['prompt_tokens_median']} | {r['ttft_ms_median']} | {r['semantic_similarity']} |"
        for r in rows
    ]
    (RESULTS / f"{stamp}-context.md").write_text("\n".join(lines) + "\n")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot([r["ttft_ms_median"] / 1000 for r in rows], [r["semantic_similarity"] for r in rows], "o-")
    for r in rows:
        ax.annotate(str(r["budget"]), (r["ttft_ms_median"] / 1000, r["semantic_similarity"]))
    ax.set_xlabel("time to first token, s (model loaded)")
    ax.set_ylabel("semantic similarity to reference")
    ax.set_title("answer quality vs evidence passages")
    fig.tight_layout()
    fig.savefig(RESULTS / f"{stamp}-context.png", dpi=90)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
