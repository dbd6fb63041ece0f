"""The web chat's Study tab: the same loop as `hbrag quiz`, card by card, with the progress table."""

from __future__ import annotations

from typing import Any

from ingest.pipeline import read_handbook
from study.session import StudySession, regraded_note, teacher


def progress_rows(session: StudySession) -> list[list[Any]]:
    return [[r["section"], r["cards"], r["reviewed"], r["due"], f"{r['mastery']:.0%}"] for r in session.mastery()]


def card_markdown(session: StudySession, card_id: str | None) -> str:
    card = session.by_id.get(card_id or "")
    if card is None:
        return "_No card: press **Next card**._"
    return f"**{card.kind.title()}** · _{card.section}_\n\n### {card.front}"


def study_tab(gr: Any, runtime: Any) -> None:
    """Add the Study tab to the Blocks being built. One session (deck, progress store) per process."""
    s = runtime.settings
    session = StudySession(
        read_handbook(s.handbook), s.progress_db, runtime.query_embedder, teacher(lambda: runtime.assistant)
    )
    deck_build = {"build": ""}

    def follow_rebuilds() -> None:
        """Between cards: after `hbrag ingest` switched the index, the deck follows the handbook it was built from."""
        assistant = runtime.assistant
        assistant.follow_index()
        build = assistant.retriever.build
        if deck_build["build"] and build != deck_build["build"]:
            session.reload(read_handbook(s.handbook))
        deck_build["build"] = build

    def next_card(topic: str) -> tuple[str | None, str, str, str, None, str]:
        follow_rebuilds()
        cards = session.select(topic=topic or "", count=1)
        card_id = cards[0].id if cards else None
        empty = "_Nothing to study for that topic right now._"
        return card_id, card_markdown(session, card_id) if card_id else empty, "", "", None, ""

    def submit(card_id: str | None, answer: str) -> tuple[str, list[list[Any]]]:
        card = session.by_id.get(card_id or "")
        if card is None:
            return "Press **Next card** first.", progress_rows(session)
        feedback = session.answer(card, answer or "")
        text = feedback.text().replace("\n", "  \n")
        return f"### {feedback.grade.score}/5\n\n{text}", progress_rows(session)

    def regrade(card_id: str | None, own: Any) -> tuple[str, list[list[Any]]]:
        """The learner's own grade for the answer just checked, in place of the grader's."""
        card = session.by_id.get(card_id or "")
        if card is None or own in (None, ""):
            return "Answer a card, then choose your own grade.", progress_rows(session)
        try:
            due = session.regrade(card, int(own))
        except ValueError as exc:
            return f"_{exc}_", progress_rows(session)
        place = session.where_taught(card) if int(own) <= session.WRONG else None
        return regraded_note(int(own), due, place).replace("\n", "  \n"), progress_rows(session)

    with gr.Tab("Study", elem_id="study-tab"):
        card_state = gr.State(None)
        with gr.Row():
            topic = gr.Textbox(label="Topic filter (optional)", placeholder="e.g. Deep Learning, Glossary", scale=3)
            next_button = gr.Button("Next card", variant="primary", elem_id="study-next", scale=1)
        card_view = gr.Markdown("_Press **Next card** to start._", elem_id="study-card")
        answer = gr.Textbox(
            label="Your answer",
            lines=3,
            elem_id="study-answer",
            placeholder='Type your answer; an empty answer or "I don\'t know" counts as a miss.',
        )
        submit_button = gr.Button("Check my answer", elem_id="study-submit")
        feedback = gr.Markdown("", elem_id="study-feedback")
        with gr.Row():
            own = gr.Radio(
                [str(n) for n in range(6)],
                label="Your own grade, after reading the reference (the grader can miss a wrong claim)",
                elem_id="study-own-grade",
                scale=3,
            )
            own_button = gr.Button("Record my grade", elem_id="study-regrade", scale=1)
        own_note = gr.Markdown("", elem_id="study-own-note")
        table = gr.Dataframe(
            headers=["section", "cards", "reviewed", "due", "mastery"],
            value=progress_rows(session),
            interactive=False,
            label="Progress",
            elem_id="study-progress",
        )
        next_button.click(
            next_card,
            topic,
            [card_state, card_view, answer, feedback, own, own_note],
            api_name="study_next",
            queue=False,
        )
        submit_button.click(submit, [card_state, answer], [feedback, table], api_name="study_answer")
        own_button.click(regrade, [card_state, own], [own_note, table], api_name="study_regrade")
