"""Find the handbook passages for a question: dense (Chroma), lexical (BM25) or both fused."""

from __future__ import annotations

import math
import re
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from ingest.chunking import Chunk
from ingest.errors import HbragError
from ingest.index import IndexStore
from rag.adapter import entropy
from rag.definition import (
    asked_term,
    bank_term,
    bold_terms,
    has_merit_table,
    has_use_table,
    inflected,
    inflections,
    label_terms,
    leading_term,
    mentioned,
    merits_subject,
    plainly,
    row_terms,
    title_terms,
    usage_subject,
    usage_term,
)
from rag.evidence import CachedEmbeddings, content_terms, embed_text, passages
from rag.fusion import merge_adjacent, mmr, reciprocal_rank_fusion
from rag.glossary import entries, expand
from rag.guard import stemmer
from rag.rerank import DEPTH, Candidates, RerankModel, features, pool_of
from rag.scope import ELSEWHERE, MISSING, TAUGHT, Scope, named_section, section_number
from rag.spelling import Speller
from rag.unknown import masked, unknown_word, vocabulary

RETRIEVERS = ("dense", "bm25", "hybrid")
WARM_BATCH = 128  # texts embedded per step of `Retriever.warm`, so it can stop between steps
# A question naming no handbook term still asks about something: its words found in at most this many chunks
# ("imbalanced" 5, "outlier" 6 of 145). The section it names must use one of them to be searched first.
RARE_DF = 10
_TERM = re.compile(r"[\w-]+")
# Words that shape a question but name no topic: as BM25 terms they only add noise.
QUESTION_WORDS = (
    "explain",
    "describe",
    "difference",
    "differences",
    "different",
    "would",
    "use",
    "work",
    "works",
    "how",
    "what",
    "why",
    "when",
    "which",
    "mean",
    "means",
    "simple",
    "terms",
    "vs",
    "versus",
    "between",
    "design",
    "system",
)


@dataclass(frozen=True)
class Hit:
    """A retrieved source: one chunk, or adjacent chunks of one section merged."""

    rank: int
    chunk: Chunk
    score: float  # cosine similarity of the question to the passage (0..1 for these embeddings)
    ids: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        c = self.chunk
        return {
            "rank": self.rank,
            "id": c.id,
            "score": round(self.score, 4),
            "section_path": list(c.section_path),
            "section": c.section,
            "title": c.title,  # as the CLI and web chat list it: a bank answer by its question
            "kind": c.kind,
            "line_start": c.line_start,
            "line_end": c.line_end,
            "text": c.text,
        }


@dataclass(frozen=True)
class RetrievalOptions:
    k: int = 3
    retriever: str = "hybrid"
    depth: int = 30
    rrf_k: int = 60
    dense_weight: float = 1.5
    bm25_weight: float = 1.0
    mmr: bool = False
    mmr_lambda: float = 0.7
    merge_adjacent: bool = True
    rerank: bool = True  # the fused top POOL reordered by the reranker (hybrid only, when one is loaded)
    glossary: bool = True  # BM25 also searches the terms of the glossary definitions closest to the question
    exclude_bank: bool = False  # leave out the question bank (the `heldout` eval)
    scope: bool = True  # a section the question names ("section 9") is searched first (rag/scope.py)


@dataclass
class Retrieval:
    hits: list[Hit]
    best_score: float  # the best dense similarity over the whole index: the evidence strength
    signals: dict[str, float] = field(default_factory=dict)  # what answerability is judged on (rag/answerable.py)
    build: str = ""  # the index build (collection) that answered
    unknown: str = ""  # the question's rarest word the handbook never uses (rag/unknown.py), or ""
    query: str = ""  # the question as searched when a typo was corrected to the handbook's word, else ""
    scope: Scope | None = None  # the section the question names, and whether it was searched first


@dataclass
class _Ranked:
    """One question's rankings before any reranking (indices into the retriever's chunks)."""

    query: np.ndarray
    similarity: np.ndarray  # the plain cosine: a hit's score and what declining reads
    ranking: np.ndarray  # the cosine with the question moved by the query adapter (= similarity without one)
    dense: list[int]
    bm25: list[int]
    bm25_scores: np.ndarray
    fused: list[int]
    own_bm25: np.ndarray  # BM25 of the question's own words, without glossary terms: what declining reads


class _IndexMoved(Exception):
    """Raised inside a search when the build it read was replaced; the search runs again once."""


class Retriever:
    """Holds what retrieval needs in memory (BM25 index, chunk vectors); the vectors live in Chroma."""

    def __init__(
        self,
        store: IndexStore,
        embedder: Any,
        reranker: RerankModel | None = None,
        adapter: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.reranker = reranker
        self.adapter = adapter  # rag/adapter.py: moves the question's vector for ranking only
        # Short texts (passages, titles) embedded once, kept beside the model's ONNX export for the next
        # process; the evidence selection shares them.
        export = getattr(embedder, "path", None)
        self.texts = CachedEmbeddings(embedder, path=export / "texts.npz" if isinstance(export, Path) else None)
        # Held for a whole search and for a reload, so a question never sees two index builds.
        self._lock = threading.RLock()
        self._load()

    def _load(self) -> None:
        """Read the index build the pointer names and derive what retrieval keeps in memory."""
        store = self.store
        self.build = store.build_name()
        pairs = store.all_chunks()
        self.chunks = [c for c, _ in pairs]
        self.bank = np.array([b for _, b in pairs], dtype=bool)
        self.numbers = np.array([section_number(c.section_path[0]) for c in self.chunks])
        self.titles = {int(n): c.section_path[0] for n, c in zip(self.numbers, self.chunks, strict=True) if n}
        self.position = {c.id: i for i, c in enumerate(self.chunks)}
        got = store.collection().get(ids=[c.id for c in self.chunks], include=["embeddings"])
        by_id = dict(zip(got["ids"], got["embeddings"], strict=True))
        self.vectors = np.asarray([by_id[c.id] for c in self.chunks], dtype=np.float32)
        # The heading path counts twice for BM25 (it is also inside embed_text): a passage's title names
        # its topic better than any sentence in it.
        self._bm25 = _build_bm25([f"{c.section}\n{c.embed_text}" for c in self.chunks])
        self._terms = [content_terms(c.embed_text) for c in self.chunks]
        self._df = Counter(t for terms in self._terms for t in terms)
        texts = [f"{c.section}\n{c.text}" for c in self.chunks]
        self._vocabulary = vocabulary(texts)
        # Chunks by the terms they define: the bank question that defines a term ("Explain RAG (...)"), the
        # section whose heading names it ("Random Forest"), then the tables that name it in a first column.
        # "What is UMAP?" finds its row even where MiniLM does not know the word and fusion leaves BM25's lone
        # match out of the top (rag/definition.py).
        self.named: dict[str, list[int]] = {}  # term -> chunk indices, in that order
        for i, c in enumerate(self.chunks):
            if self.bank[i] and (term := bank_term(c.asks)):
                self.named.setdefault(term, []).append(i)
        self.titled: dict[str, set[str]] = {}  # term -> the sections whose heading names it ("Random Forest")
        for i, c in enumerate(self.chunks):
            if not self.bank[i]:
                for term in title_terms(c.section_path[-1]):
                    self.titled.setdefault(term, set()).add(c.section)
                    self.named.setdefault(term, []).append(i)
        for i, c in enumerate(self.chunks):
            for term in row_terms(c.text):
                self.named.setdefault(term, []).append(i)
        # Last, and only for a term nothing above names: the list items that define it by their bold label
        # ("- **Elbow Method**: Plot inertia vs K"). "Regularization" also labels an item of the bias scenario,
        # which is not where the handbook teaches it.
        labelled: dict[str, list[int]] = {}
        for i, c in enumerate(self.chunks):
            for term in label_terms(c.text):
                if term not in self.named:
                    labelled.setdefault(term, []).append(i)
        self.named.update(labelled)
        # A clipped term is read as one the handbook names or writes in bold ("conf matrix": "confusion matrix").
        bold = {term for text in texts for term in bold_terms(text)}
        self.speller = Speller(texts, self._vocabulary, terms=self.named.keys() | bold)
        self.actions = inflections(self.named, stemmer().stemWord)
        self.merit_chunks = {i for i, c in enumerate(self.chunks) if has_merit_table(c.text)}  # Pros/Cons tables
        self.use_chunks = {i for i, c in enumerate(self.chunks) if has_use_table(c.text)}  # When to Use tables
        # The terms they name: whose merits, or when to use which, a row of theirs says.
        self.weighed, self.useful = (
            [t for t, at in self.named.items() if chunks.intersection(at)]
            for chunks in (self.merit_chunks, self.use_chunks)
        )
        # Each chunk's own heading and text: where a declined question's names are used (`Assistant.uses`).
        self.headed = [f"{c.section_path[-1]}\n{c.text}" for c in self.chunks]
        glossary = entries(self.chunks)
        self._glossary_terms = [term for term, _ in glossary]
        self._glossary_texts = [text for _, text in glossary]
        self._glossary_vectors: np.ndarray | None = None  # embedded on first use (cached beside the export)
        self._views: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def term_of(self, question: str) -> str:
        """What a definition question asks for, as the handbook names it: `asked_term`, a verb read as the noun
        of its action ("what is underfit?": "underfitting", rag/definition.py: `inflected`); or the term whose
        merits a question asks ("cons of TorchServe": "torchserve", `merits_subject`), or when to use
        ("when should I use DBSCAN?": "dbscan", `usage_subject`)."""
        stem = stemmer().stemWord
        if subject := merits_subject(question):
            # "what are the downsides of SVM?": the first term the subject names ("lasso" of "lasso regression")
            # that a table with Pros and Cons columns names, the longest ("stochastic gradient descent", not
            # "stochastic"), or inside a longer one no such table names ("one hot" of "one-hot encoding"). A term
            # no such table names has no answer by construction: its definition does not say what is wrong with
            # it ("why would you not use a very high learning rate?" is not "Learning Rate: Step size").
            return next((term for term, _ in mentioned(subject, self.weighed)), "")
        # "when do I use a chi-square test?": the term a table with a When to Use or Use Case column names, that
        # the subject opens with. Else the question is read as any other.
        if (subject := usage_subject(question)) and (term := usage_term(subject, self.useful)):
            return term
        term = inflected(asked_term(question), self.named, self.actions, stem)
        if term in self.named:
            return term
        # "what is dropout in a cnn?": the term the qualifier follows.
        lead = leading_term(term, lambda head: inflected(head, self.named, self.actions, stem) in self.named)
        return inflected(lead, self.named, self.actions, stem)

    def refresh(self) -> bool:
        """Follow the pointer: when `hbrag ingest` switched it to a new build (in this process or another),
        reload the chunks, vectors and BM25 once, between questions. Checking costs one metadata read."""
        with self._lock:
            try:
                if not self.store.moved():
                    return False
            except Exception as exc:
                raise HbragError(f"the index at {self.store.location} did not answer: {exc}") from exc
            self._load()
            return True

    def embed(self, question: str) -> np.ndarray:
        """The question's vector, embedded once for the search, its evidence and its suggestions."""
        return self._embed(question)

    def moved(self, query: np.ndarray) -> np.ndarray:
        """The question's vector as ranking reads it: moved by the query adapter, when there is one."""
        return self.adapter(query) if self.adapter is not None else query

    @lru_cache(maxsize=64)  # noqa: B019 - one retriever per process; a few recent questions
    def _embed(self, question: str) -> np.ndarray:
        vector = np.asarray(self.embedder.embed_query(question), dtype=np.float32)
        vector.setflags(write=False)
        return vector

    def dense_ranking(self, query: np.ndarray, depth: int, exclude_bank: bool) -> list[int]:
        """Nearest chunks by cosine, from the Chroma collection (embedded or server)."""
        where = {"bank": False} if exclude_bank else None
        try:
            got = self._query(query, depth, where)
        except Exception as exc:
            # The build this process holds was removed (two rebuilds since the last question): follow the
            # pointer, and the search starts again on the new build.
            if self.refresh():
                raise _IndexMoved from exc
            raise HbragError(f"the index at {self.store.location} did not answer: {exc}") from exc
        return [self.position[i] for i in got["ids"][0] if i in self.position]

    def _query(self, query: np.ndarray, depth: int, where: dict | None) -> Any:
        return self.store.collection().query(
            query_embeddings=[query.tolist()], n_results=depth, where=where, include=["distances"]
        )

    def bm25_ranking(self, question: str, depth: int, exclude_bank: bool) -> list[int]:
        return self._bm25_order(_bm25_scores(self._bm25, question, len(self.chunks)), depth, exclude_bank)

    def _bm25_order(self, scores: np.ndarray, depth: int, exclude_bank: bool) -> list[int]:
        if exclude_bank:
            scores = np.where(self.bank, -np.inf, scores)
        order = np.argsort(-scores, kind="stable")
        return [int(i) for i in order[:depth] if scores[i] > 0]

    def search(self, question: str, options: RetrievalOptions) -> Retrieval:
        with self._lock:
            try:
                return self._search(question, options)
            except _IndexMoved:
                return self._search(question, options)

    def _rank(self, question: str, options: RetrievalOptions) -> _Ranked:
        if options.retriever not in RETRIEVERS:
            raise HbragError(f"unknown retriever {options.retriever!r}: choose one of {', '.join(RETRIEVERS)}")
        query = self.embed(question)
        similarity = self.vectors @ query
        moved = self.moved(query)
        ranking = similarity if self.adapter is None else self.vectors @ moved
        depth = max(options.depth, options.k)
        rankings: list[list[int]] = []
        weights: list[float] = []
        dense = self.dense_ranking(moved, depth, options.exclude_bank)
        expanded = self.bm25_query(question, query, options)
        bm25_scores = _bm25_scores(self._bm25, expanded, len(self.chunks))
        own = bm25_scores if expanded == question else _bm25_scores(self._bm25, question, len(self.chunks))
        bm25 = self._bm25_order(bm25_scores, depth, options.exclude_bank)
        if options.retriever in ("dense", "hybrid"):
            rankings.append(dense)
            weights.append(options.dense_weight)
        if options.retriever in ("bm25", "hybrid"):
            rankings.append(bm25)
            weights.append(options.bm25_weight)
        fused = [
            i
            for i, _ in reciprocal_rank_fusion(
                rankings, weights, k=options.rrf_k, tie_break=dict(enumerate(ranking.tolist()))
            )
        ]
        return _Ranked(query, similarity, ranking, dense, bm25, bm25_scores, fused, own)

    def bm25_query(self, question: str, query: np.ndarray, options: RetrievalOptions) -> str:
        """The question, with the glossary terms whose definitions are closest to it (rag/glossary.py)."""
        if not (options.glossary and self._glossary_texts):
            return question
        if self._glossary_vectors is None:
            self._glossary_vectors = self.texts(self._glossary_texts)
        return expand(question, self._glossary_vectors @ query, self._glossary_terms)

    def _search(self, question: str, options: RetrievalOptions) -> Retrieval:
        # Typos become the handbook's words (rag/spelling.py) for every caller: the CLI's `retrieve`, the eval
        # and the chat read "confussion matrix" alike, and `query` says what was searched.
        # So does an ask for a simple explanation ("..., for a total beginner"): it says who asks, not what.
        asked, question = question, plainly(self.speller.correct(question))
        scope = named_section(question, self.titles) if options.scope else None
        corrected, question = question, scope.question if scope else question  # "section 9" is not a topic
        r = self._rank(question, options)
        allowed = ~self.bank if options.exclude_bank else np.ones(len(self.chunks), dtype=bool)
        best = float(r.similarity[allowed].max()) if allowed.any() else 0.0
        fused, teaching = r.fused, 0.0
        if self.reranker is not None and len(r.fused) > 1:
            # The score is a declining signal whatever the retriever; the order changes for hybrid only,
            # the lists the reranker was fitted on.
            reranked, teaching = self._reranked(question, r, self.reranker)
            fused = reranked if options.rerank and options.retriever == "hybrid" else fused
        if options.mmr:
            # Re-rank the fused candidates for diversity; keep a few spares for merging.
            pool = fused[: max(options.k * 4, 10)]
            fused = [pool[j] for j in mmr(r.query, self.vectors[pool], len(pool), options.mmr_lambda)]
        if scope is not None:
            scope, fused = self.scoped(scope, r, fused, allowed, options)
        inside = self.numbers == scope.number if scope is not None and scope.status == TAUGHT else allowed
        named = [i for i in self.named.get(self.term_of(question), []) if allowed[i] and inside[i]]
        if merits_subject(question):  # "whats bad about xgboost": its Pros/Cons rows before its own section
            named.sort(key=lambda i: i not in self.merit_chunks)
        elif usage_subject(question):  # "when should I use DBSCAN?": its When to Use rows first
            named.sort(key=lambda i: i not in self.use_chunks)
        if named:  # a definition question: the chunks that define its term come first
            fused = [*named, *(i for i in fused if i not in named)]
        hits = self._to_hits(fused, r.similarity, options)
        # Declining reads the question's own words: a glossary term added to an out-of-field question that
        # resembles a definition would match the handbook by construction.
        dense, bm25 = r.dense, self._bm25_order(r.own_bm25, 1, options.exclude_bank)
        word, strength = unknown_word(question, self._vocabulary)
        signals = {
            "dense": best,
            "bm25": float(r.own_bm25[bm25[0]]) if bm25 else 0.0,
            "agree": float(bool(dense and bm25) and self.chunks[dense[0]].section == self.chunks[bm25[0]].section),
            "coverage": self.coverage(question, fused[:5]),
            "rerank": teaching,
            "unknown": strength,
            "lift": best - self._best(masked(question, word), allowed) if word else 0.0,
            "entropy": entropy(r.ranking[allowed]),
        }
        return Retrieval(
            hits=hits,
            best_score=best,
            signals=signals,
            build=self.build,
            unknown=word,
            query="" if corrected == asked else corrected,
            scope=scope,
        )

    def scoped(
        self, scope: Scope, r: _Ranked, fused: list[int], allowed: np.ndarray, options: RetrievalOptions
    ) -> tuple[Scope, list[int]]:
        """The named section's verdict, and the ranking with its chunks first when it mentions what the
        question asks about: a term the handbook names (a heading, a table's first column, a bank question, a
        list's bold label), or, where the question names none, one of its words rare in the handbook."""
        inside = (self.numbers == scope.number) & allowed
        if scope.number not in self.titles:
            present = (min(self.titles), max(self.titles)) if self.titles else (0, 0)
            return replace(scope, status=MISSING, numbers=present), fused
        title = self.titles[scope.number]
        asks = mentioned(scope.question, self.named)
        if asks:
            text = "\n".join(f"{self.chunks[i].section}\n{self.chunks[i].text}" for i in np.flatnonzero(inside))
            there = {t for t, _ in mentioned(text, [t for t, _ in asks])}
            taught = bool(there)
            keys, terms = zip(*((t, w) for t, w in asks if (t in there) == taught), strict=True)
        else:
            rare = {t for t in content_terms(scope.question) if 0 < self._df.get(t, 0) <= RARE_DF}
            words = set().union(*(self._terms[i] for i in np.flatnonzero(inside)))
            taught, keys = not rare or bool(rare & words), ()
            said = (w for w in _TERM.findall(scope.question) if content_terms(w) & rare)  # as the question writes them
            terms = () if taught else tuple(dict.fromkeys(said))
        if not (taught and inside.any()):
            return replace(scope, status=ELSEWHERE, title=title, terms=terms), fused
        dense = [int(i) for i in np.argsort(-r.ranking, kind="stable") if inside[i]]
        bm25 = [int(i) for i in np.argsort(-r.bm25_scores, kind="stable") if inside[i] and r.bm25_scores[i] > 0]
        local = [
            i
            for i, _ in reciprocal_rank_fusion(
                [dense, bm25],
                [options.dense_weight, options.bm25_weight],
                k=options.rrf_k,
                tie_break=dict(enumerate(r.ranking.tolist())),
            )
        ]
        scope = replace(scope, status=TAUGHT, title=title, terms=terms, keys=keys)
        return scope, [*local, *(i for i in fused if not inside[i])]

    def _best(self, text: str, allowed: np.ndarray) -> float:
        """The best dense similarity of `text` over the allowed chunks (as `best` is taken in `_search`)."""
        return float((self.vectors @ self.embed(text))[allowed].max()) if allowed.any() else 0.0

    def pool_features(
        self, question: str, options: RetrievalOptions
    ) -> tuple[list[int], list[int], list[int], np.ndarray]:
        """The fused order (no reranking), the pool the reranker reorders, the rest in fused order, and the
        pool's feature rows: what `hbrag eval rerank` fits on, computed by the code that serves."""
        with self._lock:
            r = self._rank(question, replace(options, rerank=False))
            pool, rest = pool_of(r.fused, r.dense, r.bm25)
            return r.fused, pool, rest, features(self._candidates(question, r, pool))

    def _reranked(self, question: str, r: _Ranked, model: RerankModel) -> tuple[list[int], float]:
        """The fused order with its pool reranked, and the best candidate's score: the log-odds that a chunk
        which teaches the answer is among the candidates (an answerability signal)."""
        pool, rest = pool_of(r.fused, r.dense, r.bm25)
        x = features(self._candidates(question, r, pool))
        return model.rerank(pool, x, rest), float(model.scores(x).max())

    def _candidates(self, question: str, r: _Ranked, pool: list[int]) -> Candidates:
        views = [self._view(i) for i in pool]
        terms = content_terms(question)
        return Candidates(
            dense=r.ranking[pool].astype(np.float64),
            bm25=r.bm25_scores[pool].astype(np.float64),
            dense_rank=[r.dense.index(i) if i in r.dense else DEPTH for i in pool],
            bm25_rank=[r.bm25.index(i) if i in r.bm25 else DEPTH for i in pool],
            passage=np.array([float((v[1] @ r.query).max()) for v in views]),
            title=np.array([float(v[0] @ r.query) for v in views]),
            terms=np.array([len(terms & self._terms[i]) / len(terms) if terms else 0.0 for i in pool]),
            sections=[self.chunks[i].section for i in pool],
            kinds=[self.chunks[i].kind for i in pool],
            words=[len(self.chunks[i].text.split()) for i in pool],
        )

    def warm(self, stop: threading.Event | None = None) -> None:
        """Embed every chunk's title and passages now (about 4 s on 2 cores) instead of when it is first a
        candidate, so a served session's first questions rerank as fast as later ones (0.2 s vs 10 ms).
        Batches outside the lock, then saved once; searches run beside it. `stop` ends it between batches: a
        process leaving while ONNX Runtime embeds in this thread aborts ("terminate called without an active
        exception") instead of exiting."""
        with self._lock:
            chunks = list(self.chunks)
        texts = [t for c in chunks for t in _view_texts(c)] + self._glossary_texts
        for start in range(0, len(texts), WARM_BATCH):
            if stop is not None and stop.is_set():
                return
            self.texts(texts[start : start + WARM_BATCH])
        self.texts.flush()
        for i in range(len(chunks)):
            with self._lock:
                if i < len(self.chunks):
                    self._view(i)

    def _view(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """A chunk's title vector (its bank question, else its heading) and its passages' vectors, once."""
        if i not in self._views:
            vectors = self.texts(_view_texts(self.chunks[i]))
            self._views[i] = (vectors[0], vectors[1:])
        return self._views[i]

    def coverage(self, question: str, top: list[int]) -> float:
        """IDF-weighted share of the question's content terms found in the top chunks' text.

        A topic the handbook only names in its Table of Contents, or never, leaves its rarest terms
        uncovered ("Kalman", "Thompson"); a term unseen in the whole handbook weighs the most.
        """
        terms = content_terms(question)
        if not terms:
            return 0.0
        n = len(self.chunks)
        found = set().union(*(self._terms[i] for i in top)) if top else set()
        weight = {t: math.log((n + 1) / (self._df.get(t, 0) + 0.5)) for t in terms}
        return sum(w for t, w in weight.items() if t in found) / sum(weight.values())

    def _to_hits(self, ranked: list[int], similarity: np.ndarray, options: RetrievalOptions) -> list[Hit]:
        chunks = self.chunks

        def neighbour(a: int, b: int) -> bool:
            # Q&A pairs stay apart: each answers its own question.
            return b == a + 1 and chunks[a].section_path == chunks[b].section_path and chunks[a].kind != "qa"

        groups = merge_adjacent(ranked, neighbour) if options.merge_adjacent else [[i] for i in ranked]
        hits = []
        for rank, group in enumerate(groups[: options.k], start=1):
            members = [chunks[i] for i in group]
            head = members[0]
            chunk = (
                head
                if len(members) == 1
                else Chunk(
                    id=head.id,
                    text="\n\n".join(m.text for m in members),
                    section_path=head.section_path,
                    kind=head.kind,
                    line_start=head.line_start,
                    line_end=members[-1].line_end,
                    qid=head.qid,
                )
            )
            score = float(max(similarity[i] for i in group))
            hits.append(Hit(rank, chunk, score, tuple(m.id for m in members)))
        return hits


def _view_texts(chunk: Chunk) -> list[str]:
    """What the reranker reads of a chunk: its title (its bank question, else its heading), then its passages."""
    found = passages(chunk)
    title = next((p.question for p in found if p.question), "") or chunk.section.split(" > ")[-1]
    texts = [embed_text(p) for p in found if p.kind != "qa"] or [embed_text(p) for p in found]
    return [title, *(texts or [chunk.text])]


@lru_cache(maxsize=1)
def _stopwords() -> list[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return [*STOPWORDS_EN, *QUESTION_WORDS]


def _build_bm25(texts: list[str]) -> Any:
    import bm25s
    import Stemmer

    stemmer = Stemmer.Stemmer("english")
    retriever = bm25s.BM25()
    tokens = bm25s.tokenize(texts, stopwords=_stopwords(), stemmer=stemmer, show_progress=False)
    retriever.index(tokens, show_progress=False)
    retriever.hbrag_stemmer = stemmer
    return retriever


def _bm25_scores(retriever: Any, question: str, n: int) -> np.ndarray:
    import bm25s

    words = bm25s.tokenize(
        [question], stopwords=_stopwords(), stemmer=retriever.hbrag_stemmer, return_ids=False, show_progress=False
    )[0]
    if not words:  # a question of stop words only
        return np.zeros(n, dtype=np.float32)
    return np.asarray(retriever.get_scores(words), dtype=np.float32)
