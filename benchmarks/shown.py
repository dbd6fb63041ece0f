"""What every labelled question is shown, recorded, and two records compared: the regression check behind
"over the other 1001 labelled questions nothing shown changed" (eval/README.md, twenty-fifth round).

    python -m benchmarks.shown record before.json        # on the old commit (a git worktree)
    python -m benchmarks.shown record after.json         # on the change
    python -m benchmarks.shown diff before.json after.json

A record holds, per question of `eval/data/*.jsonl` (the grading set aside), whether it was declined and the
passages shown under "From the handbook" (section, kind, text, and a table's marked rows), with the model off:
the evidence is what a change to retrieval or evidence selection moves, and it is deterministic.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from eval.dataset import DATA_DIR


def labelled_questions(data_dir: Path = DATA_DIR) -> list[tuple[str, str]]:
    """(key, question) for every labelled question; the key is "file:id" (or "file:line")."""
    out = []
    for path in sorted(data_dir.glob("*.jsonl")):
        if path.name.startswith("grading"):
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            row = json.loads(line)
            question = row.get("q") or row.get("question")
            if question:
                out.append((f"{path.name}:{row.get('id', n)}", question))
    return out


def record(out: Path) -> None:
    from tqdm import tqdm

    from rag.runtime import Runtime
    from rag.settings import Settings

    assistant = Runtime(Settings(summary=False)).assistant
    shown: dict[str, Any] = {}
    for key, question in tqdm(labelled_questions(), desc="questions", unit="q"):
        *_, last = assistant.stream(question, summary=False)
        passages = [
            [e.passage.section, e.passage.kind, e.passage.text, list(e.passage.marked)] for e in last.shown_evidence
        ]
        shown[key] = {"q": question, "declined": last.declined, "shown": passages}
    out.write_text(json.dumps(shown, ensure_ascii=False, indent=0), encoding="utf-8")
    print(f"{len(shown)} questions recorded in {out}")


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """What changed between two records: declines (both ways), first passages, any passage shown, per file.

    >>> a = {"s.jsonl:1": {"q": "x", "declined": False, "shown": [["S", "row", "t"]]}}
    >>> b = {"s.jsonl:1": {"q": "x", "declined": True, "shown": []}}
    >>> d = diff(a, b); d["newly_declined"], d["shown_changed"], d["by_file"]
    (['s.jsonl:1'], 1, {'s.jsonl': 1})
    """
    common = sorted(set(before) & set(after))
    changed = [k for k in common if before[k]["shown"] != after[k]["shown"]]
    first = [k for k in changed if before[k]["shown"][:1] != after[k]["shown"][:1]]
    return {
        "questions": len(common),
        "newly_declined": [k for k in common if after[k]["declined"] and not before[k]["declined"]],
        "newly_answered": [k for k in common if before[k]["declined"] and not after[k]["declined"]],
        "shown_changed": len(changed),
        "first_changed": first,
        "by_file": dict(Counter(k.split(":", 1)[0] for k in changed)),
        "only_in_one": sorted(set(before) ^ set(after)),
    }


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "record":
        record(Path(argv[1]))
        return 0
    if len(argv) == 3 and argv[0] == "diff":
        before, after = (json.loads(Path(p).read_text(encoding="utf-8")) for p in argv[1:])
        result = diff(before, after)
        print(json.dumps({k: v for k, v in result.items() if k != "first_changed"}, indent=1))
        for key in result["first_changed"]:
            print(f"\n{key}: {after[key]['q']}")
            for label, rec in (("before", before[key]), ("after", after[key])):
                head = rec["shown"][0][2].splitlines()[0][:100] if rec["shown"] else "(declined)"
                print(f"  {label:6} {head}")
        return 0
    print(__doc__.split("\n\n")[1], file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
