"""Retrieval over the real index with the real MiniLM."""

from __future__ import annotations

import pytest

from rag.retrieve import RetrievalOptions, Retriever

CASES = [
    ("What is the bias-variance tradeoff?", "Bias-Variance Tradeoff"),
    ("What gates does an LSTM cell have?", "LSTM (Long Short-Term Memory)"),
    ("How should I handle missing values in a dataset?", "Handling Missing Data"),
    ("What is retrieval augmented generation?", "RAG (Retrieval Augmented Generation)"),
    ("When should I use precision instead of recall?", "Classification Metrics"),
    ("How does dropout regularize a neural network?", "Regularization Techniques"),
]


@pytest.mark.parametrize(("question", "section"), CASES)
@pytest.mark.parametrize("retriever", ["dense", "hybrid"])
def test_expected_section_in_top_3(assistant, question, section, retriever):
    hits = assistant.retriever.search(question, RetrievalOptions(k=3, retriever=retriever, exclude_bank=True)).hits
    assert section in [h.chunk.section_path[-1] for h in hits], [h.chunk.section for h in hits]


def test_hits_carry_metadata_and_scores(assistant, handbook_text):
    lines = handbook_text.splitlines()
    hits = assistant.retrieve("Explain gradient descent", k=5).hits
    assert [h.rank for h in hits] == list(range(1, len(hits) + 1))
    for h in hits:
        d = h.to_dict()
        assert set(d) == {
            "rank",
            "id",
            "score",
            "section_path",
            "section",
            "title",
            "kind",
            "line_start",
            "line_end",
            "text",
        }
        assert 0 < d["score"] <= 1
        assert lines[d["line_start"] - 1] == d["text"].splitlines()[0]


def test_heldout_excludes_the_question_bank(assistant):
    hits = assistant.retriever.search("Explain the bias-variance tradeoff.", RetrievalOptions(k=10, exclude_bank=True))
    assert all(not h.chunk.section.startswith(("Section 19", "Section 20")) for h in hits.hits)


OVERFITTING = "why does my model do great on training data but terrible on new data?"


def test_glossary_terms_bridge_everyday_words_to_the_teaching_section(assistant, plain):
    """The closest glossary definition ("Overfitting: Model memorizes training data, poor generalization")
    lends its term to BM25, which then finds the section that uses it; nothing close, nothing added."""
    r = assistant.retriever
    expanded = r.bm25_query(OVERFITTING, r.embed(OVERFITTING), RetrievalOptions())
    assert expanded.startswith(OVERFITTING) and "Overfitting" in expanded.removeprefix(OVERFITTING)
    bread = "How do I bake sourdough bread?"
    assert r.bm25_query(bread, r.embed(bread), RetrievalOptions()) == bread

    def top(question: str, n: int = 5) -> list[str]:
        return [r.chunks[i].section_path[-1] for i in r.bm25_ranking(question, n, False)]

    assert "Bias-Variance Tradeoff" in top(expanded) and "Bias-Variance Tradeoff" not in top(OVERFITTING)
    # The bridge's own effect on the fused order, without the query adapter (which, on, ranks the section
    # first by itself) or the reranker (fitted on the adapter's lists).
    on = plain.search(OVERFITTING, RetrievalOptions(k=3, rerank=False))
    off = plain.search(OVERFITTING, RetrievalOptions(k=3, rerank=False, glossary=False))
    assert "Bias-Variance Tradeoff" in [h.chunk.section_path[-1] for h in on.hits]
    assert "Bias-Variance Tradeoff" not in [h.chunk.section_path[-1] for h in off.hits]
    # Declining reads the question's own words: an added term would match the handbook by construction.
    assert on.signals["bm25"] == off.signals["bm25"]


def test_glossary_module_examples():
    import doctest

    import ingest.markdown
    import rag.glossary

    assert doctest.testmod(rag.glossary).failed == 0 and doctest.testmod(ingest.markdown).failed == 0


@pytest.mark.parametrize(
    ("question", "word"),
    [("How can a chatbot answer from my company's documents?", "chatbot"), ("What is a Kalman filter?", "Kalman")],
)
def test_lift_is_what_the_unknown_word_adds_to_the_best_match(assistant, question, word):
    """Declining weighs a word the handbook lacks by what it does to the question's match (rag/unknown.py)."""
    r = assistant.retriever
    found = r.search(question, RetrievalOptions(k=3))
    masked = question.replace(word, "thing")
    best_masked = float((r.vectors @ r.embed(masked)).max())
    assert found.unknown == word
    assert found.signals["lift"] == pytest.approx(found.best_score - best_masked, abs=1e-6)
    assert r.search("What is overfitting?", RetrievalOptions(k=3)).signals["lift"] == 0.0  # no unknown word


def test_warm_up_stops_between_batches(runtime, query_embedder):
    """A process leaving during the web chat's warm-up stops it after the batch in hand (ui/app.py), instead of
    exiting while ONNX Runtime embeds in that thread, which aborts the process."""
    import threading

    from rag.retrieve import WARM_BATCH

    class NoExport:  # the session's embedder without its export path: nothing cached on disk, nothing read
        def embed_documents(self, texts):
            return query_embedder.embed_documents(texts)

        def embed_query(self, text):
            return query_embedder.embed_query(text)

    class AfterOneBatch(threading.Event):
        calls = 0

        def is_set(self) -> bool:
            self.calls += 1
            return self.calls > 1

    retriever = Retriever(runtime.store, NoExport())
    stopped = threading.Event()
    stopped.set()
    retriever.warm(stopped)
    assert len(retriever.texts) == 0
    retriever.warm(AfterOneBatch())
    assert 0 < len(retriever.texts) <= WARM_BATCH  # one batch (repeated titles are embedded once)
