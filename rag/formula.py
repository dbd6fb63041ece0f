"""A request for a formula ("What's the formula for variance?", "how is recall calculated") and the passage
that holds it.

The handbook writes its formulas in table cells ("| **F1-Score** | 2 × (P×R)/(P+R) |"), in un-languaged
fences ("θ_new = θ_old - α * ∇J(θ)") and in list items ("**Power = 1 - β**"). Scored by meaning, the prose
around a formula wins: asked for the F1 formula, the cheat sheet that lists F1 came first; asked how to
compute precision, the confusion-matrix drawing; asked for the update rule of gradient descent, its
"Concept" sentence (eval/data/formulas_s27.jsonl, 30 requests written before this module: the first
passage held the formula for 20 of 29 answered). So a request for one puts the best passage that holds math
and names the question's subject first (rag/evidence.py: `formula_first`), as a request for code puts the
program first.
"""

from __future__ import annotations

import re

_REQUEST = re.compile(
    r"\b(?:formulas?|formulae|equations?|calculat(?:e|ed|es|ion|ions)|comput(?:e|ed|es|ation)|"
    r"work(?:ed|ing|s)?\s+(?:it\s+)?out|maths?\s+(?:behind|of|for))\b",
    re.IGNORECASE,
)
# The request's own words, which say nothing of its subject.
REQUEST_WORDS = frozenset(
    "formula formulae equation calculate calculated calculating calculation compute computed "  # noqa: SIM905
    "computing computation work worked out math maths hand write written".split()
)
# An equals sign, a sum, a root, a gradient, a product sign, a power, a transpose; a function applied
# ("max(0, x)"); a division written with spaces or brackets ("TP / (TP+FP)", "1/(1+e⁻ˣ)"). Not "Q3 - Q1",
# which reads as well as a range of words.
_MATH = re.compile(r"[=Σ√∇×²³⁻ᵀ∂∑±]|\b(?:max|min|log|exp|softmax)\(|\s/\s|\w/\(|\)/")


def asks_for_formula(question: str) -> bool:
    """Whether the learner asks for a formula or how a quantity is computed; "Which way of computing the
    gradient needs the whole dataset?" asks for a kind of gradient descent, not its equation.

    >>> asks_for_formula("What's the formula for variance?"), asks_for_formula("how is recall calculated")
    (True, True)
    >>> asks_for_formula("How do I work out the standard deviation by hand?"), asks_for_formula("Why use ReLU?")
    (True, False)
    >>> asks_for_formula("Which way of computing the gradient needs the whole dataset in memory?")
    False
    """
    return bool(_REQUEST.search(question))


def has_math(text: str) -> bool:
    """Whether a passage writes math, not only words about it.

    >>> has_math("Metric: F1-Score; Formula: 2 × (P×R)/(P+R)"), has_math("θ_new = θ_old - α * ∇J(θ)")
    (True, True)
    >>> has_math("Metric: Precision; Formula: TP / (TP+FP)"), has_math("Leaky ReLU; max(0.01x, x)")
    (True, True)
    >>> has_math("Concept: Iteratively move in direction of steepest decrease"), has_math("precision/recall")
    (False, False)
    """
    return bool(_MATH.search(text))


def before_math(plain: str, row: bool) -> str:
    """What a formula passage says it is the formula of: a row's cells before its first cell of math ("Regression;
    MSE" of the loss table's row), else the words before the math ("Power", "Each neuron: output").

    >>> before_math("Task: Regression; Loss Function: MSE; Formula: Σ(y - ŷ)² / n", row=True)
    'Regression MSE'
    >>> before_math("Measure: Mean; Formula: Σx / n; When to Use: Symmetric distributions, no outliers", row=True)
    'Mean'
    >>> before_math("Metric: R²; Formula: 1 - (SS_res / SS_tot)", row=True)
    'R²'
    >>> before_math("Power = 1 - β: Probability of detecting true effect", row=False)
    'Power'
    """
    if row:  # the first cell names the row, even when it writes math itself ("R²")
        values = [cell.partition(": ")[2] or cell for cell in plain.split("; ")]
        names = values[:1]
        for value in values[1:]:
            if has_math(value):
                break
            names.append(value)
        return " ".join(names)
    match = _MATH.search(plain)
    return (plain[: match.start()] if match else plain).strip()


# "mean" is a subject after an article or before the rest of its name ("the mean of", "mean squared error"),
# else the verb of "What does X mean?".
_MEAN_NOUN = re.compile(
    r"\b(?:the|a|arithmetic|sample|population|weighted)\s+mean\b|\bmean\s+(?:squared|absolute|average)\b",
    re.IGNORECASE,
)


def mean_is_subject(question: str) -> bool:
    """Whether "mean" in the question names the average (or a metric named after it), not the verb.

    >>> mean_is_subject("how do you calculate the mean of a list"), mean_is_subject("Equation for mean squared error")
    (True, True)
    >>> mean_is_subject("What does the upside-down triangle mean in the formulas?")
    False
    """
    return bool(_MEAN_NOUN.search(question))
