"""The Gradio app served on a free loopback port, driven with gradio_client (real models, real index)."""

from __future__ import annotations

import threading

import pytest

from tests.conftest import RARE_CLASS, doubtful_decline

pytestmark = pytest.mark.slow


@pytest.fixture
def client(served):
    from gradio_client import Client

    return Client(served, verbose=False)


def msg(role, text):
    return {"role": role, "content": [{"type": "text", "text": text}]}


def user(text):
    return [msg("user", text)]


def test_question_streams_an_answer_with_sources(client):
    # Not a bank question: the bank's own answer leads and the model is not asked (the "bank" fallback).
    job = client.submit(user("How do I deploy a model as an API?"), 3, "hybrid", 0.0, 120, api_name="/respond")
    history, sources, timings, _ = job.result()
    outputs = job.outputs()
    answer = history[-1]
    assert answer["role"] == "assistant"
    text = "".join(part.get("text", "") for part in answer["content"])
    assert text.startswith("**From the handbook**")  # the handbook's words first, the model's under them
    assert "Model Serving Options" in sources and "<details" in sources and "lines" in sources
    # The panel's sections are unnumbered ([n] in the answer names its quoted passages) and mark the quoted one.
    assert "<summary>[" not in sources and "quoted in the answer" in sources
    assert "first token" in timings and "not-grounded" not in timings  # no internal codes on the page
    # Streamed: the evidence is on the page before the model has finished (its status still "Generating…").
    first_text = "".join(p.get("text", "") for p in outputs[0][0][-1]["content"])
    assert len(outputs) >= 2 and "From the handbook" in first_text and outputs[0][2] == "Generating…"


def test_an_answer_the_model_was_not_asked_about_says_so_not_first_token_zero(client):
    history, _, timings, _ = client.predict(
        user("How much memory do I save by training with 16-bit numbers instead of 32-bit?"),
        3,
        "hybrid",
        0.0,
        120,
        api_name="/respond",
    )
    text = "".join(p.get("text", "") for p in history[-1]["content"])
    assert "50% less memory" in text
    assert "the model was not asked" in timings and "first token" not in timings


def test_the_summary_can_be_turned_off_for_the_handbook_s_words_alone(client):
    from rag.assistant import SUMMARY_LABEL

    history, sources, timings, _ = client.predict(
        user("What is dropout?"), 3, "hybrid", 0.0, 120, False, api_name="/respond"
    )
    text = "".join(p.get("text", "") for p in history[-1]["content"])
    assert text.startswith("**From the handbook**") and SUMMARY_LABEL not in text and "No summary" not in text
    assert "no model summary" in timings and "neurons" in text and "quoted in the answer" in sources


def test_two_clients_at_once_are_both_answered(served):
    from gradio_client import Client

    results = {}

    def ask(name, question):
        c = Client(served, verbose=False)
        results[name] = c.predict(question, api_name="/ask")

    threads = [threading.Thread(target=ask, args=(n, q)) for n, q in [("a", "What is dropout?"), ("b", "What is PCA?")]]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert set(results) == {"a", "b"}
    assert all(r["answer"] and r["sources"] for r in results.values())


def test_declined_question_is_a_message_not_an_error(client):
    history, sources, timings, did_you_mean = client.predict(
        user("How do I bake sourdough bread?"), 3, "hybrid", 0.2, 64, api_name="/respond"
    )
    text = "".join(p.get("text", "") for p in history[-1]["content"])
    assert text.startswith("I could not find this in the handbook") and "nearest sections" in text.lower()
    assert 'never uses the word "sourdough"' in text  # the learner's rare word the handbook lacks
    assert "Nearest sections" in sources and "Declined" in timings
    # A topic the handbook lacks ("sourdough") is not a wording to fix: no "Did you mean" buttons.
    assert did_you_mean["samples"] == [] and not did_you_mean["visible"]
    laptop = user("What is the best laptop for training neural networks?")
    *_, offered = client.predict(laptop, 3, "hybrid", 0.2, 64, api_name="/respond")
    assert len(offered["samples"]) == 3 and offered["visible"]  # the closest handbook questions, as buttons
    *_, far = client.predict(user("What is the capital of France?"), 3, "hybrid", 0.2, 64, api_name="/respond")
    assert far["samples"] == [] and not far["visible"]  # none is near enough to offer


def test_a_greeting_is_answered_without_a_search(client):
    history, sources, timings, did_you_mean = client.predict(user("Hello!"), 3, "hybrid", 0.2, 64, api_name="/respond")
    text = "".join(p.get("text", "") for p in history[-1]["content"])
    assert text.startswith("Hello! Ask me anything the handbook teaches") and "I could not find" not in text
    assert "Nothing searched" in timings and "Nearest sections" not in sources and not did_you_mean["visible"]


def test_doubtful_decline_shows_the_closest_passages(client, runtime, monkeypatch):

    monkeypatch.setattr(runtime.assistant, "answerability", doubtful_decline(runtime.assistant))  # see conftest
    history, sources, timings, _ = client.predict(
        user(RARE_CLASS),
        3,
        "hybrid",
        0.2,
        64,
        api_name="/respond",
    )
    text = "".join(p.get("text", "") for p in history[-1]["content"])
    assert text.startswith("I could not find a clear answer in the handbook.")
    assert "**Closest in the handbook**" in text and "Handling Imbalanced Data" in text
    assert "quoted in the answer" in sources and "Declined" in timings


def test_follow_up_is_rewritten_before_retrieval(client):
    history = [
        msg("user", "What is overfitting?"),
        msg("assistant", "Overfitting is ..."),
        msg("user", "and how do I fix it?"),
    ]
    _, sources, _, _ = client.predict(history, 3, "hybrid", 0.0, 32, api_name="/respond")
    assert "Searched for:** how do I fix overfitting?" in sources


def test_handbook_browser_serves_sections_by_id(client):
    from gradio_client.exceptions import AppError

    text = client.predict(1, api_name="/section")
    assert "What is Data Science?" in text and "handbook lines 140-" in text
    for bad in (99999, "../../etc/passwd"):
        with pytest.raises(AppError):  # only known section ids are served, never a path
            client.predict(bad, api_name="/section")


def test_sources_panel_keeps_each_source_on_one_html_line():
    """A chunk with blank lines, a code fence and a table stays inside its own <pre> in the Markdown panel."""
    from ingest.chunking import Chunk
    from rag.assistant import Answer
    from rag.retrieve import Hit
    from ui.app import sources_markdown

    text = "Intro <b>\n\n```\nTotal = a + b\n```\n\n| A | B |\n|:---|:---|\n| 1 | 2 |"
    first, second = Chunk("a", text, ("S1", "T"), "prose", 1, 9), Chunk("b", "x", ("S2",), "prose", 10, 10)
    hits = [Hit(1, first, 0.6), Hit(2, second, 0.5)]
    panel = sources_markdown(Answer(question="q", sources=hits))
    details = [line for line in panel.splitlines() if line.startswith("<details")]
    assert len(details) == 2 and all(line.endswith("</details>") for line in details)
    assert "&lt;b&gt;" in details[0] and "&#10;&#10;```&#10;" in details[0]
