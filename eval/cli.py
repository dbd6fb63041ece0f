"""`hbrag eval retrieval` and `hbrag eval answers`: measure, write a run directory, check thresholds."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ingest.errors import HbragError


def _parse_fail_under(values: tuple[str, ...]) -> dict[str, float]:
    out = {}
    for item in values:
        metric, _, value = item.partition("=")
        try:
            out[metric.strip()] = float(value)
        except ValueError:
            raise HbragError(f"--fail-under takes METRIC=VALUE, not {item!r}") from None
    return out


def check_thresholds(summary_rows: dict[str, float], fail_under: dict[str, float]) -> list[str]:
    """The failures, as sentences: a metric below its threshold, or a metric that does not exist."""
    failures = []
    for metric, minimum in fail_under.items():
        if metric not in summary_rows:
            failures.append(f"unknown metric {metric!r} (known: {', '.join(sorted(summary_rows))})")
        elif not summary_rows[metric] >= minimum:
            failures.append(f"{metric} = {summary_rows[metric]:.3f} is under {minimum}")
    return failures


def _runtime(flags: dict[str, Any]):
    from rag.runtime import Runtime
    from rag.settings import Settings

    settings = Settings.load(**{k: v for k, v in flags.items() if v is not None})
    return Runtime(settings, notify=lambda m: click.echo(m, err=True))


def _honest(runtime: Any) -> Any:
    """The runtime with the query adapter moving each question it was fitted on by one fitted without that
    question's set (eval/adapter.py), so no figure here is measured on what the adapter learnt."""
    from eval.adapter import install_out_of_fold

    install_out_of_fold(runtime)
    return runtime


def _dataset(runtime: Any, questions: Path | None, limit: int | None):
    from eval.dataset import load_questions_file, question_bank
    from ingest.pipeline import read_handbook

    data = load_questions_file(questions) if questions else question_bank(read_handbook(runtime.settings.handbook))
    if limit:
        data.questions = data.questions[:limit]
    if not data.questions:
        raise HbragError("no questions to evaluate")
    return data


def _finish(
    run_dir: Path, report: Path, flat: dict[str, float], fail_under: tuple[str, ...], as_json: bool, summary: dict
) -> None:
    if as_json:
        click.echo(json.dumps({"run_dir": str(run_dir), "summary": summary}, default=str))
    else:
        click.echo(report.read_text(encoding="utf-8").split("## Plots")[0].rstrip())
        click.echo(f"\nReport: {report}")
    failures = check_thresholds(flat, _parse_fail_under(fail_under))
    if failures:
        raise HbragError("; ".join(failures))


common = [
    click.option("--limit", type=click.IntRange(1), help="Only the first N questions."),
    click.option("--questions", type=click.Path(path_type=Path), help="JSON lines with q, optional gold, reference."),
    click.option("--fail-under", multiple=True, help="METRIC=VALUE; exit 1 when the metric is lower (repeatable)."),
    click.option("--name", default="", help="A name for the run directory."),
    click.option("--runs-dir", type=click.Path(path_type=Path), help="Where run directories go (eval/runs)."),
    click.option("--json", "as_json", is_flag=True),
    click.option("--index-dir", type=click.Path(path_type=Path)),
    click.option("--handbook", type=click.Path(path_type=Path)),
]


def with_common(f):
    for option in reversed(common):
        f = option(f)
    return f


@click.group("eval")
def eval_group() -> None:
    """Measure retrieval and answers against the handbook's question bank."""


@eval_group.command("retrieval")
@with_common
@click.option("--sweep", is_flag=True, help="Compare retrievers, MMR and merging in one table.")
@click.option("--retriever", type=click.Choice(["dense", "bm25", "hybrid"]))
def retrieval_cmd(limit, questions, fail_under, name, runs_dir, as_json, sweep, **flags) -> None:
    """Recall@1/3/5/10, MRR@10, nDCG@10 and latency, in the `full` and `heldout` settings."""
    from eval.dataset import paraphrases, unanswerable
    from eval.harness import SWEEP, evaluate_retrieval, refusal_rates
    from eval.report import RUNS_DIR, new_run_dir, retrieval_report, write_rows

    runtime = _honest(_runtime(flags))
    assistant = runtime.assistant
    data = _dataset(runtime, questions, limit)
    default_name = f"default({assistant.settings.retriever})"
    configs = {default_name: {}, **SWEEP} if sweep else {default_name: {}}
    rows, summary = evaluate_retrieval(assistant, data, configs, progress=not as_json)
    refusal = None
    if not questions:
        # Learners' own wording: the bank is phrased like the handbook, these are not.
        learner = paraphrases()
        extra_rows, extra = evaluate_retrieval(
            assistant, learner, {f"{default_name} on paraphrases": {}}, settings=["full"], progress=not as_json
        )
        rows += extra_rows
        summary.update(extra)
        refusal = refusal_rates(assistant, data, unanswerable(), learner)
    run_dir = new_run_dir(name or ("retrieval-sweep" if sweep else "retrieval"), runs_dir or RUNS_DIR)
    full = {"configs": summary, "refusal": refusal, "settings": _settings_dict(assistant.settings)}
    write_rows(run_dir, rows, full)
    report = retrieval_report(run_dir, rows, summary, refusal, data.name)
    flat = {
        f"{m}" if s == "heldout" else f"{s}:{m}": v for s, agg in summary[default_name].items() for m, v in agg.items()
    }
    flat.update({k: v for k, v in (refusal or {}).items()})
    _finish(run_dir, report, flat, fail_under, as_json, full)


@eval_group.command("answers")
@with_common
@click.option(
    "--mode",
    "modes",
    multiple=True,
    type=click.Choice(["closed-book", "rag", "oracle"]),
    help="Modes to run (default: all three).",
)
@click.option(
    "--setting",
    "settings",
    multiple=True,
    type=click.Choice(["heldout", "full"]),
    help="heldout: the question bank left out of retrieval and evidence; full: as users run it (default: both).",
)
@click.option("--max-tokens", type=int, help="Answer length limit.")
@click.option("--model", type=click.Path(path_type=Path), help="A GGUF model file.")
def answers_cmd(limit, questions, fail_under, name, runs_dir, as_json, modes, settings, max_tokens, **flags) -> None:
    """Answer each question closed-book, with RAG and with the gold sections, and score the model's prose,
    the evidence and the answer as shown."""
    from eval.harness import MODES, SETTINGS, evaluate_answers
    from eval.report import RUNS_DIR, answers_report, new_run_dir, write_rows

    runtime = _honest(_runtime(flags))
    assistant = runtime.assistant
    data = _dataset(runtime, questions, limit)
    generation = {"max_tokens": max_tokens} if max_tokens else {}
    # A question file has no bank chunk of its own to hold out: `full` only, unless asked.
    chosen = settings or (("full",) if questions else ("heldout", "full"))
    rows, summary = evaluate_answers(
        assistant,
        runtime.embedder,
        data,
        modes or MODES,
        progress=not as_json,
        generation=generation,
        settings=[s for s in SETTINGS if s in chosen],
    )
    run_dir = new_run_dir(name or "answers", runs_dir or RUNS_DIR)
    full = {"modes": summary, "settings": _settings_dict(assistant.settings), "generation": generation}
    write_rows(run_dir, rows, full)
    report = answers_report(run_dir, rows, summary, data.name)
    flat = {f"{mode}:{m}": v for mode, agg in summary.items() for m, v in agg.items()}
    first_rag = next((k for k in summary if k.startswith("rag/")), "")
    flat.update({m: v for m, v in summary.get(first_rag, {}).items()})
    _finish(run_dir, report, flat, fail_under, as_json, full)


def _settings_dict(settings: Any) -> dict[str, Any]:
    from dataclasses import asdict

    hidden = {"llm_api_key", "ui_password"}
    return {k: str(v) for k, v in asdict(settings).items() if k not in hidden}


def _write_model(path: Path, model: Any) -> None:
    path.write_text(model.to_json() + "\n", encoding="utf-8")
    click.echo(f"wrote {path}", err=True)


def _check_sets(fitted_on: str) -> Callable[[Any], Any]:
    """`--questions FILE` (repeatable): sets reported only, never fitted on."""
    return click.option(
        "--questions",
        "check_files",
        multiple=True,
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help=f"A set to report only, judged by the model fitted on {fitted_on} (repeatable).",
    )


@eval_group.command("decline")
@click.option("--fit", "do_fit", is_flag=True, help="Refit rag/answerable.json on all labelled data.")
@_check_sets("all labelled data")
@click.option("--index-dir", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True)
def decline_cmd(do_fit: bool, check_files: tuple[Path, ...], as_json: bool, **flags: Any) -> None:
    """Cross-validated declining: share declined per labelled group (answerable and unanswerable)."""
    from eval.dataset import Dataset, load_gold, load_questions_file, question_bank
    from eval.decline import REPEATS, collect, datasets, fit, fitted_on, judge, rates, repeated
    from eval.report import table
    from ingest.pipeline import read_handbook
    from rag.answerable import MODEL_FILE

    runtime = _honest(_runtime(flags))
    assistant = runtime.assistant
    bank = question_bank(read_handbook(runtime.settings.handbook))
    judged = {qid for qid, gold in load_gold().items() if gold}
    rows = collect(assistant, datasets(bank, judged), progress=not as_json)
    averaged, cv = repeated(rows)
    # The bank as users ask it (its own chunks in the index): a repeated bank question is answered whole.
    full = collect(assistant, {"bank-full": (bank, False)}, progress=not as_json)
    # Sets never fitted on, each split by label: `<file>` (answerable) and `<file>-in` / `<file>-out`.
    checks = {}
    for path in check_files:
        data = load_questions_file(path)
        for kind in ("", "in", "out"):
            picked = [q for q in data.questions if (q.field or "") == kind and q.answerable == (kind == "")]
            if picked:
                checks[f"{path.stem}-{kind}" if kind else path.stem] = (Dataset(picked, path.stem), False)
    unseen = collect(assistant, checks, progress=not as_json) if checks else []
    model = fit(rows, fitted_on())
    full = [judge(model, r) for r in full + unseen]
    result = averaged | rates(full)
    if do_fit:
        _write_model(MODEL_FILE, model)
    if as_json:
        click.echo(json.dumps({"cross_validated": result, "model": json.loads(model.to_json())}))
        return

    def spread(v: dict[str, float]) -> str:
        return f"{v['declined_min']:.3f}-{v['declined_max']:.3f}" if "declined_min" in v else ""

    lines = [
        [
            g,
            v["declined"],
            spread(v),
            v["closest_shown"],
            v["declined"] - v["closest_shown"],
            v["summarised"],
            v["questions"],
        ]
        for g, v in result.items()
    ]
    header = [
        "group",
        "declined",
        f"declined, range over {REPEATS} fold assignments",
        "declined, closest passages shown",
        "declined, nothing shown",
        "the model asked for a summary",
        "questions",
    ]
    click.echo(table(header, lines))
    _print_misjudged("in cross-validation (the first fold assignment)", cv)
    if check_files:
        _print_misjudged("on the sets never fitted on", [r for r in full if r["group"] != "bank-full"])


def _print_misjudged(where: str, judged: list[dict]) -> None:
    wrong = sorted((r for r in judged if r["declined"] == bool(r["label"])), key=lambda r: r["group"])
    click.echo(f"\nMisjudged {where} ({len(wrong)}):")
    for r in wrong:
        shown = " (closest passages shown)" if r.get("closest") else ""
        click.echo(f"  {r['group']:<16} p={r['p']:.2f}  {r['question']}{shown}")


def _fitting(target: str) -> Callable[[Any], Any]:
    """The options of a command that checks a fitted model leave-one-set-out and, with --fit, rewrites it."""
    options = [
        click.option("--fit", "do_fit", is_flag=True, help=f"Refit {target} on all the fitting sets."),
        _check_sets("all fitting sets"),
        click.option("--index-dir", type=click.Path(path_type=Path)),
        click.option("--name", default="", help="A name for the run directory."),
        click.option("--runs-dir", type=click.Path(path_type=Path), help="Where run directories go (eval/runs)."),
        click.option("--json", "as_json", is_flag=True),
    ]

    def wrap(f: Any) -> Any:
        for option in reversed(options):
            f = option(f)
        return f

    return wrap


@eval_group.command("rerank")
@_fitting("rag/rerank.json")
def rerank_cmd(
    do_fit: bool, check_files: tuple[Path, ...], name: str, runs_dir: Path | None, as_json: bool, **flags: Any
) -> None:
    """Leave-one-set-out ranking: hit@1, hit@5, MRR@10 per set before and after the reranker."""
    from eval.dataset import load_questions_file, question_bank
    from eval.report import RUNS_DIR, new_run_dir, rerank_report, rerank_table
    from eval.rerank import before_after, chunk_keys, collect, fit, fit_sets, fitted_on, leave_one_set_out
    from ingest.pipeline import read_handbook
    from rag.rerank import MODEL_FILE

    runtime = _honest(_runtime(flags | {"rerank": False}))  # fitting reads the fused order, no model file
    assistant = runtime.assistant
    retriever = assistant.retriever
    keys = chunk_keys(retriever)
    sets = fit_sets(question_bank(read_handbook(runtime.settings.handbook)))
    rows = collect(retriever, assistant.options(), sets, progress=not as_json)
    result = leave_one_set_out(rows, keys)
    model = fit(rows, keys, fitted_on())
    if check_files:
        checks = {f.stem + " (not fitted on)": load_questions_file(f) for f in check_files}
        extra = collect(retriever, assistant.options(), checks, progress=not as_json)
        result += [row for name in checks for row in before_after(extra, keys, name, model)]
    if do_fit:
        _write_model(MODEL_FILE, model)
    run_dir = new_run_dir(name or "rerank", runs_dir or RUNS_DIR)
    report = rerank_report(run_dir, result, model.weights)
    if as_json:
        click.echo(json.dumps({"leave_one_set_out": result, "model": json.loads(model.to_json())}))
        return
    click.echo(rerank_table(result))
    click.echo(f"\nReport: {report}")


@eval_group.command("adapter")
@_fitting("rag/adapter.npz")
def adapter_cmd(
    do_fit: bool, check_files: tuple[Path, ...], name: str, runs_dir: Path | None, as_json: bool, **flags: Any
) -> None:
    """Leave-one-set-out dense ranking: hit@1, hit@5, MRR@10 per set without and with the query adapter."""
    from eval.adapter import before_after, choose_strength, examples, fit_matrix, fitted_on, leave_one_set_out
    from eval.dataset import load_questions_file, question_bank
    from eval.report import RUNS_DIR, adapter_report, new_run_dir, rerank_table
    from eval.rerank import chunk_keys, fit_sets
    from ingest.pipeline import read_handbook
    from rag.adapter import ADAPTER_FILE, QueryAdapter

    runtime = _runtime(flags | {"adapter": False})
    retriever = runtime.assistant.retriever
    keys, vectors = chunk_keys(retriever), retriever.vectors
    rows = examples(retriever, fit_sets(question_bank(read_handbook(runtime.settings.handbook))), keys)
    if do_fit:
        strength, means, result = choose_strength(rows, keys, vectors)
        matrix = fit_matrix(rows, vectors, strength)
        adapter = QueryAdapter(matrix, fitted_on(runtime.store.manifest(), strength, means))
    else:  # no refit: the shipped adapter judges the check sets; leave-one-set-out runs at its fitted strength
        adapter = QueryAdapter.load(ADAPTER_FILE)
        strength, means = adapter.fitted_on["strength"], adapter.fitted_on["leave_one_set_out_hit@1"]
        result = leave_one_set_out(rows, keys, vectors, strength)
    if check_files:
        checks = {f.stem + " (not fitted on)": load_questions_file(f) for f in check_files}
        extra = examples(retriever, checks, keys)
        result += [row for n in checks for row in before_after(extra, keys, vectors, n, adapter)]
    if do_fit:
        adapter.save(ADAPTER_FILE)
        click.echo(f"wrote {ADAPTER_FILE}", err=True)
    report = adapter_report(new_run_dir(name or "adapter", runs_dir or RUNS_DIR), result, adapter.fitted_on)
    if as_json:
        click.echo(json.dumps({"leave_one_set_out": result, "fitted_on": adapter.fitted_on}))
        return
    click.echo(rerank_table(result))
    click.echo(f"\nStrength {strength} (leave-one-set-out mean hit@1 by strength: {means})\nReport: {report}")


@eval_group.command("calibrate")
@click.option("--index-dir", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True)
def calibrate_cmd(as_json: bool, **flags: Any) -> None:
    """Show how groundedness thresholds separate supported from unsupported sentences."""
    from eval.calibrate import groundedness_curve
    from eval.dataset import question_bank
    from eval.report import table
    from ingest.pipeline import read_handbook

    runtime = _runtime(flags)
    data = question_bank(read_handbook(runtime.settings.handbook))
    curve = groundedness_curve(
        runtime.embedder, runtime.retriever.chunks, data, [round(0.3 + 0.05 * i, 2) for i in range(11)]
    )
    if as_json:
        click.echo(json.dumps(curve))
    else:
        click.echo(table(list(curve[0]), [list(row.values()) for row in curve]))


@eval_group.command("grading")
@click.option("--fit", "do_fit", is_flag=True, help="Search the grader's constants on the fit part only.")
@click.option("--json", "as_json", is_flag=True)
@click.option("--handbook", type=click.Path(path_type=Path))
def grading_cmd(do_fit: bool, as_json: bool, **flags: Any) -> None:
    """The study grader on labelled answers: mean grade per label, order, Spearman, per split."""
    from eval.grading import fit_params, grade_rows, load_rows, summarise, worst
    from eval.report import table
    from ingest.pipeline import read_handbook
    from study.cards import build_deck, glossary
    from study.grading import PARAMS, Grader

    runtime = _runtime(flags)
    handbook = read_handbook(runtime.settings.handbook)
    grader = Grader(runtime.query_embedder, glossary(handbook))
    rows = load_rows(build_deck(handbook))
    params = dict(PARAMS)
    if do_fit:
        params, _ = fit_params(grader, rows, progress=not as_json)
        click.echo("constants chosen on the fit part: " + json.dumps(params), err=True)
    graded = grade_rows(grader, rows, params)
    splits = dict.fromkeys(g.get("split", "fit") for g in graded)
    result = {split: summarise([g for g in graded if g.get("split", "fit") == split]) for split in splits}
    if as_json:
        click.echo(json.dumps({"params": params, "summary": result, "worst": worst(graded)}))
        return
    keys = list(next(iter(result.values())))
    click.echo(table(["split", *keys], [[split, *(s[k] for k in keys)] for split, s in result.items()]))
    click.echo("\nFurthest from their label:")
    for r in worst(graded):
        click.echo(f"  [{r['split']}] {r['label']:<13} {r['grade']}/5  {r['question']}  <- {r['answer'][:70]}")
