"""Messages that are not questions about the handbook: a greeting, thanks, a goodbye, a request for help or
to be quizzed. Searched, "hi" and "thanks!" were declined as topics the handbook lacks, with three unrelated
sections as the nearest; "quiz me on statistics" showed one bank answer. Each gets a short reply instead,
without a search. Only the whole message counts: "hi, what is dropout?" is a question.
"""

from __future__ import annotations

import re

_END = r"[\s!?.,:)(;]*(?:please|there|again|so much|a lot|bot)?[\s!?.,:)(;]*$"
_KINDS = {
    "greeting": re.compile(rf"^(?:hi+|hello|hey+|hiya|howdy|yo|good (?:morning|afternoon|evening)){_END}", re.I),
    "thanks": re.compile(
        rf"^(?:(?:ok(?:ay)?|great|cool|perfect|nice|awesome)[\s,!.]*)?(?:thanks|thank you|thx|ty|cheers|"
        rf"(?:ok(?:ay)?|great|cool|perfect|nice|awesome|got it|makes sense)){_END}",
        re.I,
    ),
    "bye": re.compile(rf"^(?:bye|goodbye|good bye|see you|see ya|cya|that's all|i'm done){_END}", re.I),
    "help": re.compile(
        rf"^(?:help|\?+|what can you do|how do (?:i|you) use (?:this|you)|what is this|how does this work|"
        rf"who are you|what are you){_END}",
        re.I,
    ),
    "quiz": re.compile(
        r"^(?:(?:can you |could you |please )?(?:quiz|test) me|give me a quiz)(?:\s+(?:on|about)\s+"
        r"(?P<topic>[\w &/'-]+?))?(?:\s+please)?\s*[?!.]*$",
        re.I,
    ),
}

HELP = (
    'Ask me anything the handbook teaches, in your own words ("Why does my model do well in training but badly '
    'on new data?") or as a term ("dropout"). I show the handbook\'s own words with their line numbers, and a '
    "short summary under them when the small model can write one that the handbook supports."
)
REPLIES = {
    "greeting": f"Hello! {HELP}",
    "thanks": "You're welcome. Ask another question whenever you're ready.",
    "bye": "Good luck with your interviews! Your study progress is saved for next time.",
    "help": f"{HELP} To be quizzed on the handbook's questions, use the Study tab or `hbrag quiz`.",
}
QUIZ = (
    "To be quizzed, use the Study tab (or `hbrag quiz{flag}` in a terminal): it asks the handbook's questions"
    "{about}, grades your answer point by point and schedules each card's next review."
)


def kind(message: str) -> str:
    """What a message that is not a question is ("greeting", "thanks", "bye", "help", "quiz"), or "".

    >>> kind("Hi!"), kind("thanks a lot"), kind("ok thanks"), kind("quiz me on statistics"), kind("?")
    ('greeting', 'thanks', 'thanks', 'quiz', 'help')
    >>> kind("hi, what is dropout?"), kind("Thanks, and what about L2?"), kind("help me understand PCA")
    ('', '', '')
    """
    text = message.strip()
    return next((name for name, pattern in _KINDS.items() if pattern.match(text)), "")


def reply(message: str) -> tuple[str, str]:
    """The kind of a message that is not a question, and the reply to it; ("", "") for a question.

    >>> reply("quiz me on statistics")[1].startswith("To be quizzed, use the Study tab (or `hbrag quiz --topic")
    True
    """
    name = kind(message)
    if name != "quiz":
        return name, REPLIES.get(name, "")
    match = _KINDS["quiz"].match(message.strip())
    topic = (match.group("topic") or "").strip() if match else ""
    flag = f' --topic "{topic}"' if topic else ""
    return name, QUIZ.format(flag=flag, about=f" on {topic}" if topic else "")
