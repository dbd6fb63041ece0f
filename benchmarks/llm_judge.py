"""Could the local model help grade? Its "Yes" against "No" on each labelled answer of eval/data/grading.jsonl.

#16 allows the local LLM as one more grading signal "only where it measurably helps". This asks SmolLM2
whether a learner's answer agrees with the card's reference (temperature 0, one forward pass, the logit of
"Yes" minus that of "No" as the next token) and reports how well that score tells the labels apart (ROC AUC:
0.5 is chance), and the time per answer. Run: `python -m benchmarks.llm_judge` (about 3 minutes).
"""

from __future__ import annotations

import json
import time

import numpy as np

SYSTEM = "You check a student's answer against the reference answer."
ASK = (
    "Question: {front}\nReference answer: {reference}\nStudent answer: {answer}\n"
    "Does the student answer agree with the reference answer? Reply Yes or No."
)
PAIRS = (("good", "misconception"), ("partial", "misconception"), ("good", "partial"))


def chatml(system: str, user: str) -> str:
    """SmolLM2's chat template (ChatML), up to where the assistant's reply begins."""
    return f"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n"


def main() -> None:
    import llama_cpp
    from sklearn.metrics import roc_auc_score

    from eval.grading import GRADING_FILE
    from ingest.pipeline import read_handbook
    from rag.llm import default_model_path
    from rag.settings import Settings
    from study.cards import build_deck, find_card

    deck = build_deck(read_handbook(Settings.load().handbook))
    llm = llama_cpp.Llama(model_path=str(default_model_path()), n_ctx=1024, verbose=False, seed=0)
    yes, no = (llm.tokenize(w, add_bos=False)[0] for w in (b"Yes", b"No"))
    rows = [json.loads(line) for line in GRADING_FILE.read_text(encoding="utf-8").splitlines()]
    rows = [r for r in rows if r["label"] in ("good", "partial", "misconception")]
    scores, times = [], []
    for r in rows:
        card = find_card(deck, r["front"])
        prompt = chatml(SYSTEM, ASK.format(front=r["front"], reference=card.back, answer=r["answer"]))
        start = time.perf_counter()
        llm.reset()
        llm.eval(llm.tokenize(prompt.encode(), add_bos=False, special=True))
        logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm._ctx.ctx, -1), shape=(llm.n_vocab(),))
        scores.append(float(logits[yes] - logits[no]))
        times.append(time.perf_counter() - start)
    out: dict[str, object] = {"answers": len(rows), "ms_per_answer_p50": round(1000 * float(np.median(times)), 1)}
    for a, b in PAIRS:
        picked = [(s, r["label"] == a) for s, r in zip(scores, rows, strict=True) if r["label"] in (a, b)]
        out[f"auc_{a}_vs_{b}"] = round(float(roc_auc_score([t for _, t in picked], [s for s, _ in picked])), 3)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
