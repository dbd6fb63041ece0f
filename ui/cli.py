"""The `hbrag` command line: thin commands that parse, call `ingest/` and `rag/`, and print.

Heavy libraries are imported inside the commands that use them, so `hbrag --help` and `hbrag info`
start fast. A user-facing problem is one line on stderr and exit status 1, never a traceback.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ingest.errors import HbragError
from rag.settings import Settings


def _settings(**flags: Any) -> Settings:
    return Settings.load(**flags)


def _notify(message: str) -> None:
    click.echo(message, err=True)


def index_options(f: Callable) -> Callable:
    """Where the handbook and its index live (shared by every command that reads them)."""
    f = click.option("--chroma-url", help="Use a ChromaDB server, e.g. http://127.0.0.1:8000 [HBRAG_CHROMA_URL].")(f)
    f = click.option("--index-dir", type=click.Path(path_type=Path), help="Index directory [HBRAG_INDEX_DIR].")(f)
    f = click.option("--handbook", type=click.Path(path_type=Path), help="Handbook Markdown [HBRAG_HANDBOOK].")(f)
    return f


def model_options(f: Callable) -> Callable:
    """The language model and how it generates."""
    f = click.option("--threads", type=int, help="CPU threads for llama.cpp [HBRAG_THREADS].")(f)
    f = click.option(
        "--summary/--no-summary",
        default=None,
        help="The local model's summary under the handbook's words; --no-summary shows the passages alone, "
        "at once, without loading the model [HBRAG_SUMMARY].",
    )(f)
    f = click.option("--max-tokens", type=click.IntRange(1, 4096), help="Answer length limit [HBRAG_MAX_TOKENS].")(f)
    f = click.option("--temperature", type=click.FloatRange(0, 2), help="Sampling temperature [HBRAG_TEMPERATURE].")(f)
    f = click.option("--llm-url", help="OpenAI-compatible server, e.g. http://127.0.0.1:8080/v1 [HBRAG_LLM_URL].")(f)
    f = click.option("--model", type=click.Path(path_type=Path), help="A GGUF model file [HBRAG_MODEL].")(f)
    return f


def retrieval_options(f: Callable) -> Callable:
    f = click.option("--retriever", type=click.Choice(["dense", "bm25", "hybrid"]), help="[HBRAG_RETRIEVER]")(f)
    f = click.option("--k", "k", type=click.IntRange(1, 50), help="Number of sources [HBRAG_K].")(f)
    f = click.option(
        "--rerank/--no-rerank",
        default=None,
        help="Reorder the fused candidates so the teaching section comes first [HBRAG_RERANK].",
    )(f)
    f = click.option(
        "--adapter/--no-adapter",
        default=None,
        help="Rank with the question's vector moved by the fitted query adapter [HBRAG_ADAPTER].",
    )(f)
    return f


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="handbook-rag")
def cli() -> None:
    """handbook-rag: a local study assistant over the DS/ML/AI interview handbook."""


@cli.command()
@index_options
@click.option("--rebuild", is_flag=True, help="Re-embed even when nothing changed.")
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON.")
def ingest(rebuild: bool, as_json: bool, **flags: Any) -> None:
    """Chunk and embed the handbook into the index (nothing is redone when nothing changed)."""
    from rag.runtime import Runtime

    runtime = Runtime(_settings(**flags), notify=_notify)
    report = runtime.ingest(rebuild=rebuild, progress=not as_json)
    if as_json:
        click.echo(
            json.dumps({"rebuilt": report.rebuilt, "seconds": round(report.seconds, 3), **report.manifest.__dict__})
        )
    else:
        click.echo(report.summary())


def _read_batch(path: Path) -> list[str]:
    from rag.batch import read_questions

    return [row["q"] for row in read_questions(path)]


@cli.command()
@click.argument("question", required=False)
@retrieval_options
@index_options
@click.option("--batch", type=click.Path(path_type=Path), help='A file of questions (JSON lines with "q", or lines).')
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
def retrieve(question: str | None, batch: Path | None, as_json: bool, **flags: Any) -> None:
    """Show the handbook passages that best match QUESTION."""
    from rag.runtime import Runtime

    questions = _questions(question, batch)
    runtime = Runtime(_settings(**flags), notify=_notify)
    assistant = runtime.assistant
    for q in questions:
        found = assistant.retrieve(q)
        hits, searched = found.hits, found.query
        if as_json:
            row = {"q": q, **({"searched": searched} if searched else {}), "hits": [h.to_dict() for h in hits]}
            click.echo(json.dumps(row, ensure_ascii=False))
            continue
        if searched:
            click.secho(f"(searching for: {searched})", dim=True, err=True)
        for h in hits:
            c = h.chunk
            click.echo(f"[{h.rank}] {h.score:.3f}  {c.section}  (lines {c.line_start}-{c.line_end}, {c.kind})")


def _questions(question: str | None, batch: Path | None) -> list[str]:
    if batch is not None and question is not None:
        raise HbragError("give either a QUESTION or --batch FILE, not both")
    if batch is not None:
        return list(_read_batch(batch))
    if question is None:
        raise HbragError('no question given: hbrag ask "your question" (or --batch FILE)')
    return [question]


def _print_sources(answer: Any) -> None:
    """The retrieved sections, unnumbered: [n] belongs to the quoted passages the answer cites."""
    if not answer.sources:
        return
    click.echo("\nNearest sections:" if answer.declined else "\nSections retrieved (read further there):")
    for h in answer.sources:
        c = h.chunk
        mark = "  · quoted above" if answer.quoted(h) else ""
        click.echo(f"  - {c.title}  (handbook lines {c.line_start}-{c.line_end}){mark}")


def _print_timings(answer: Any) -> None:
    t = answer.timings
    if answer.chat:
        return
    if answer.declined:
        click.secho(f"(declined without calling the model; retrieval {t['retrieve_ms']:.0f} ms)", dim=True, err=True)
        return
    if answer.summary_off:
        note = f"(the handbook's words only, no model summary; retrieval {t['retrieve_ms']:.0f} ms)"
        click.secho(note, dim=True, err=True)
        return
    if answer.fallback and not answer.model_asked:  # even odds, a list, diagram or bank answer first, rows side by side
        click.secho(f"(the model was not asked; retrieval {t['retrieve_ms']:.0f} ms)", dim=True, err=True)
        return
    click.secho(
        f"(retrieval {t['retrieve_ms']:.0f} ms, first token {t['ttft_ms']:.0f} ms, "
        f"{t['tokens']} tokens at {t['tokens_per_s']:.1f}/s, prompt {t.get('prompt_tokens', 0)} tokens, "
        f"total {t['total_ms'] / 1000:.1f} s)",
        dim=True,
        err=True,
    )


def _answer_and_print(
    assistant: Any, question: str, as_json: bool, generation: dict[str, Any], rewritten: str = ""
) -> Any:
    """The handbook's words the moment they are chosen, then the model's summary under them as it streams."""
    if rewritten and not as_json:
        click.secho(f"(searching for: {rewritten})", dim=True, err=True)
    if as_json:
        answer = assistant.ask(question, generation=generation, rewritten=rewritten)
        click.echo(json.dumps(answer.to_dict(), ensure_ascii=False))
        return answer
    from rag.assistant import DECLINED, SUMMARY_LABEL, never_uses

    steps = assistant.stream(question, generation=generation, rewritten=rewritten)
    answer = next(steps)  # retrieval is done, the model has not started; a decline is final already
    if answer.rewritten and answer.rewritten != rewritten:  # a typo corrected to the handbook's word
        click.secho(f"(searching for: {answer.rewritten})", dim=True, err=True)
    if not answer.declined:
        _print_evidence(answer, lead="")
        for answer in steps:
            if answer.delta and not answer.fallback:
                if answer.text == answer.delta:  # the first sentence the guards let through
                    click.secho(f"\n{SUMMARY_LABEL}", dim=True)
                click.echo(answer.delta, nl=False)
                sys.stdout.flush()
    assert answer.done
    if answer.declined:
        if not answer.closest and answer.sources:
            # The sections are listed under "Nearest sections" below: the sentence naming them would say it twice.
            click.echo(f"{never_uses(DECLINED, answer.unknown)} The nearest sections are listed below.")
        else:
            click.echo(answer.text)
        _print_evidence(answer)
    elif answer.fallback:
        click.echo(f"\n{answer.text}")  # never streamed: shown once it is final
    elif answer.text:
        click.echo()
    if answer.suggestions:
        click.echo("\nDid you mean one of the handbook's questions?")
        for s in answer.suggestions:
            click.echo(f"  - {s}")
    _print_sources(answer)
    _print_timings(answer)
    return answer


def _print_evidence(answer: Any, lead: str = "\n") -> None:
    """The handbook's own words, each with its section and lines: what the summary under them is checked against.
    A table is printed with its columns aligned, its cells as the handbook writes them, and the rows chosen from
    it marked."""
    from rag.evidence import marked_table, marks_note

    if not answer.evidence:
        return
    if answer.scope_note:  # the section the question names does not mention it, or does not exist
        click.echo(f"{lead}{answer.scope_note}")
        lead = ""
    click.secho(f"{lead}{answer.evidence_title}:", bold=True)
    shown = answer.shown_evidence  # computed on each read: the tables are built once here
    for n, e in enumerate(shown, start=1):
        p = e.passage
        lines = f"line {p.line_start}" if p.line_start == p.line_end else f"lines {p.line_start}-{p.line_end}"
        click.secho(f"  [{n}] {p.section} ({lines})", dim=True)
        for line in marked_table(p) if p.kind == "table" else p.text.splitlines():
            click.echo(f"    {line}" if p.kind == "table" else f"      {line}")
    if note := marks_note(shown):
        click.secho(f"  {note}", dim=True)


@cli.command()
@click.argument("question", required=False)
@retrieval_options
@model_options
@index_options
@click.option("--batch", type=click.Path(path_type=Path), help='A file of questions (JSON lines with "q", or lines).')
@click.option("--json", "as_json", is_flag=True, help="One JSON object per answer.")
def ask(
    question: str | None,
    batch: Path | None,
    as_json: bool,
    temperature: float | None,
    max_tokens: int | None,
    **flags: Any,
) -> None:
    """Answer QUESTION from the handbook, citing its sections."""
    from rag.runtime import Runtime

    questions = _questions(question, batch)
    settings = _settings(temperature=temperature, max_tokens=max_tokens, **flags)
    if batch is None:
        from rag.assistant import clean_question

        clean_question(questions[0], settings.max_question_chars)  # fail before loading anything
    runtime = Runtime(settings, notify=_notify)
    _check_model(runtime)
    for q in questions:
        try:
            _answer_and_print(runtime.assistant, q, as_json, {})
        except HbragError as exc:
            if batch is None:
                raise
            # One bad line in a batch should not lose the others' answers.
            click.echo(json.dumps({"question": q, "error": str(exc)}) if as_json else f"error: {exc}")


def _check_model(runtime: Any) -> None:
    """Validate the model path up front, so a typo fails before the index is opened."""
    from rag.llm import check_gguf, default_model_path

    s = runtime.settings
    if s.summary and not s.llm_url:  # without the summary the model is never loaded
        check_gguf(s.model) if s.model else default_model_path()


@cli.command()
@retrieval_options
@model_options
@index_options
def chat(temperature: float | None, max_tokens: int | None, **flags: Any) -> None:
    """Ask question after question with the model kept loaded (Ctrl-D or `exit` to leave)."""
    from rag.followup import standalone_question
    from rag.runtime import Runtime

    runtime = Runtime(_settings(temperature=temperature, max_tokens=max_tokens, **flags), notify=_notify)
    _check_model(runtime)
    assistant = runtime.assistant
    asked: list[str] = []
    click.echo("Ask about the handbook. Empty line, `exit` or Ctrl-D to leave.", err=True)
    while True:
        try:
            question = input("\n> " if sys.stdin.isatty() else "")
        except (EOFError, KeyboardInterrupt):
            break
        if question.strip().lower() in ("", "exit", "quit", "q"):
            break
        try:
            rewritten = standalone_question(question, asked)
            _answer_and_print(assistant, question, False, {}, rewritten if rewritten != question else "")
            asked.append(question)
        except HbragError as exc:
            click.echo(f"error: {exc}", err=True)


@cli.command()
@index_options
@click.option("--model", type=click.Path(path_type=Path), help="A GGUF model file [HBRAG_MODEL].")
@click.option("--json", "as_json", is_flag=True)
def info(as_json: bool, **flags: Any) -> None:
    """Where the index is, what it holds, and which models are configured."""
    from ingest.embeddings import default_embedding_model_path
    from ingest.index import IndexStore
    from rag.adapter import ADAPTER_FILE, QueryAdapter
    from rag.answerable import MODEL_FILE as ANSWERABLE_FILE
    from rag.llm import default_model_path
    from rag.rerank import MODEL_FILE as RERANK_FILE

    settings = _settings(**flags)
    store = IndexStore.open(settings.index_dir, settings.chroma_url or None)
    manifest = store.manifest()
    try:
        model = str(settings.model or default_model_path())
    except HbragError as exc:
        model = f"missing ({exc})"
    adapter = "off"
    if settings.adapter and ADAPTER_FILE.exists():
        try:
            why = QueryAdapter.load(ADAPTER_FILE).mismatch(manifest)
        except HbragError as exc:
            why = str(exc)
        adapter = f"off ({why})" if manifest and why else str(ADAPTER_FILE)
    data = {
        "index": store.location,
        "built": manifest is not None,
        "chunks": manifest.chunks if manifest else 0,
        "sections": manifest.sections if manifest else 0,
        "handbook": str(settings.handbook),
        "handbook_sha256": manifest.handbook_sha256 if manifest else None,
        "embedding_model": manifest.embedding_model
        if manifest
        else str(settings.embedding_model or default_embedding_model_path()),
        "created_at": manifest.created_at if manifest else None,
        "build": manifest.collection if manifest else None,
        "llm": settings.llm_url or model,
        "retriever": settings.retriever,
        "reranker": str(settings.rerank_model or RERANK_FILE) if settings.rerank else "off",
        "query_adapter": adapter,
        "answerability_model": str(settings.answerability_model or ANSWERABLE_FILE),
        "k": settings.k,
    }
    if as_json:
        click.echo(json.dumps(data))
        return
    width = max(map(len, data))
    for key, value in data.items():
        click.echo(f"{key:<{width}}  {value}")
    if manifest is None:
        click.echo("No index yet: run `hbrag ingest`.")


@cli.command()
@click.option("--model", type=click.Path(path_type=Path), help="A GGUF model file [HBRAG_MODEL].")
@click.option("--threads", type=int, help="CPU threads for llama.cpp [HBRAG_THREADS].")
@click.option("--json", "as_json", is_flag=True)
def doctor(as_json: bool, **flags: Any) -> None:
    """Check that this machine can generate: llama.cpp's build, and one token in a child process."""
    from dataclasses import asdict

    from rag.doctor import run_doctor
    from rag.llm import check_gguf, default_model_path

    settings = _settings(**flags)
    check_gguf(settings.model) if settings.model else default_model_path()
    found = run_doctor(settings.model, settings.threads)
    if as_json:
        click.echo(json.dumps(asdict(found)))
    else:
        click.echo("\n".join(found.lines()))
    if not found.ok:
        sys.exit(1)


@cli.command()
@click.option("--host", help="Interface to bind [HBRAG_UI_HOST, default 127.0.0.1].")
@click.option("--port", type=click.IntRange(1, 65535), help="Port [HBRAG_UI_PORT, default 7860].")
@retrieval_options
@model_options
@index_options
def ui(host: str | None, port: int | None, temperature: float | None, max_tokens: int | None, **flags: Any) -> None:
    """Serve the study chat in the browser (loopback only unless --host says otherwise)."""
    from rag.runtime import Runtime
    from ui.app import launch

    runtime = Runtime(_settings(temperature=temperature, max_tokens=max_tokens, **flags), notify=_notify)
    _check_model(runtime)
    launch(runtime, host=host, port=port)


def _study_session(flags: dict[str, Any], record: bool = True) -> Any:
    from ingest.pipeline import read_handbook
    from rag.runtime import Runtime
    from study.session import StudySession, teacher

    settings = _settings(**flags)
    runtime = Runtime(settings, notify=_notify)
    db = settings.progress_db if record else None
    handbook = read_handbook(settings.handbook)
    return StudySession(handbook, db, runtime.query_embedder, teacher(lambda: runtime.assistant))


@cli.command()
@click.option("--topic", default="", help="Only cards whose section or question contains TEXT.")
@click.option("--count", type=click.IntRange(1, 500), default=10, show_default=True)
@click.option("--new-only", "mode", flag_value="new", help="Only cards never seen.")
@click.option("--due-only", "mode", flag_value="due", help="Only cards due for review.")
@click.option(
    "--batch",
    type=click.Path(path_type=Path, dir_okay=False),
    help='Grade a file of JSON lines {"question": ..., "answer": ...}; records nothing without --progress-db.',
)
@click.option("--json", "as_json", is_flag=True, help="With --batch: one JSON line per answer.")
@click.option("--progress-db", type=click.Path(path_type=Path), help="Progress database [HBRAG_PROGRESS_DB].")
@click.option("--handbook", type=click.Path(path_type=Path))
def quiz(topic: str, count: int, mode: str | None, batch: Path | None, as_json: bool, **flags: Any) -> None:
    """Quiz yourself on the handbook's questions and glossary; answers are graded and scheduled (FSRS).

    Type your answer and press Enter; an empty line or "I don't know" counts as a miss; `q` stops. After the
    reference answer, Enter keeps the grade, or type your own grade 0-5.
    """
    if batch is not None:
        _quiz_batch(batch, as_json, flags)
        return
    if as_json:
        raise HbragError("--json goes with --batch FILE")
    session = _study_session(flags)
    cards = session.select(topic=topic, count=count, mode=mode or "mixed")
    if not cards:
        click.echo("No cards to study" + (" for that topic." if topic else " right now: nothing is due."))
        return
    done = 0
    for number, card in enumerate(cards, start=1):
        click.echo(f"\nCard {number}/{len(cards)} · {card.kind} · {card.section}")
        click.echo(f"Q: {card.front}")
        try:
            answer = input("> " if sys.stdin.isatty() else "")
        except EOFError:
            break
        if answer.strip().lower() in ("q", "quit", "exit"):
            break
        feedback = session.answer(card, answer)
        done += 1
        click.echo(feedback.text())
        if not _own_grade(session, card, feedback.grade.score):
            break
    click.echo(f"\n{done} card(s) answered. `hbrag progress` shows your mastery per section.")


def _own_grade(session: Any, card: Any, score: int) -> bool:
    """After the reference answer: Enter keeps the grader's grade, 0-5 records the learner's own instead (the
    grader misses some misconceptions). False when the quiz should stop (`q` or the end of input)."""
    from study.session import regraded_note

    click.echo(f"Enter keeps {score}/5, or type your own grade 0-5 if you judge your answer differently:")
    try:
        said = input("grade> " if sys.stdin.isatty() else "").strip().lower()
    except EOFError:
        return False
    if said in ("q", "quit", "exit"):
        return False
    if said and said not in tuple("012345"):
        click.echo(f"Not a grade from 0 to 5: kept {score}/5.")
    elif said and int(said) != score:
        own = int(said)
        # Where this is taught, unless the feedback already said so (the grader did not pass the answer).
        place = session.where_taught(card) if own <= session.WRONG < score else None
        click.echo(regraded_note(own, session.regrade(card, own), place))
    return True


def _quiz_batch(path: Path, as_json: bool, flags: dict[str, Any]) -> None:
    """Grade each JSON line; a bad line gets an error line of its own and the exit status says so at the end."""
    if not path.is_file():
        raise HbragError(f"no batch file at {path}")
    session = _study_session(flags, record=flags.get("progress_db") is not None)
    failed = 0
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            question, answer = str(row["question"]), str(row.get("answer") or "")
        except (ValueError, KeyError, TypeError):
            failed += 1
            _batch_error(number, line, 'not a JSON object with "question" and "answer"', as_json)
            continue
        card = session.find(question)
        if card is None:
            failed += 1
            _batch_error(number, question, "no card asks this question (copy it as the deck shows it)", as_json)
            continue
        feedback = session.answer(card, answer) if session.store else session.check(card, answer)
        if as_json:
            click.echo(json.dumps({"line": number, **feedback.to_dict()}))
        else:
            click.echo(f"\nQ: {card.front}\nA: {answer}\n{feedback.text()}")
    if failed:
        raise HbragError(f"{failed} line(s) of {path} could not be graded")


def _batch_error(number: int, question: str, message: str, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({"line": number, "question": question, "error": message}))
    else:
        click.echo(f"line {number}: {message}: {question[:80]}", err=True)


@cli.command()
@click.option("--plot", type=click.Path(path_type=Path), help="Write a bar chart PNG of mastery per section.")
@click.option("--json", "as_json", is_flag=True)
@click.option("--progress-db", type=click.Path(path_type=Path), help="Progress database [HBRAG_PROGRESS_DB].")
@click.option("--handbook", type=click.Path(path_type=Path))
def progress(plot: Path | None, as_json: bool, **flags: Any) -> None:
    """Mastery per handbook section, from your quiz answers."""
    from datetime import UTC, datetime

    from ingest.pipeline import read_handbook
    from study.cards import build_deck
    from study.progress import ProgressStore
    from study.session import mastery

    settings = _settings(**flags)
    # Reading progress needs no embedding model: the deck and the store are enough.
    rows = mastery(
        build_deck(read_handbook(settings.handbook)), ProgressStore(settings.progress_db).all(), datetime.now(UTC)
    )
    if as_json:
        click.echo(json.dumps(rows))
    else:
        width = max(len(r["section"]) for r in rows)
        click.echo(f"{'section':<{width}}  cards  reviewed  due  mastery")
        for r in rows:
            click.echo(
                f"{r['section']:<{width}}  {r['cards']:>5}  {r['reviewed']:>8}  {r['due']:>3}  {r['mastery']:>7.0%}"
            )
    if plot:
        from study.plot import plot_mastery

        click.echo(f"Chart: {plot_mastery(rows, plot)}", err=True)


def _register_subcommands() -> None:
    from eval.cli import eval_group

    cli.add_command(eval_group)


_register_subcommands()


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI, turning user-facing errors into one line and exit status 1."""
    import faulthandler
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    # A crash in native code (llama.cpp) then at least names where it happened; `hbrag doctor` says why.
    faulthandler.enable()
    try:
        cli.main(args=argv, prog_name="hbrag", standalone_mode=False)
    except HbragError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)


if __name__ == "__main__":
    main()
