"""A bar chart of mastery per handbook section."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def plot_mastery(rows: list[dict[str, Any]], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [r["section"].split(" > ")[-1] if " > " in r["section"] else r["section"] for r in rows]
    fig, ax = plt.subplots(figsize=(8, max(3, 0.35 * len(rows))))
    ax.barh(labels, [r["mastery"] for r in rows], color="#4c72b0")
    ax.set_xlim(0, 1)
    ax.set_xlabel("mastery (mean last grade / 5)")
    ax.invert_yaxis()
    ax.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return Path(path)
