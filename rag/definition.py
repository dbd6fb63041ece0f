"""A definition question ("What is DBSCAN?") and the table row that names its subject.

The handbook's tables name a term in their first column and say what it is in the others (the glossary,
the algorithm, metric and tool tables). Such a row answers "What is X?" for its term by construction, as a
bank question asked again is answered by its own answer. A short question matches a long table chunk
weakly, so the answerability model declined about a third of them (eval/README.md, twenty-third round).
Only the whole subject counts: "a denoising autoencoder" is not "Autoencoder", so a topic the handbook
lacks is not made answerable by a term inside its name.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from itertools import pairwise

from ingest.markdown import table_pairs

# "What is an RNN?", "What are GANs", "what's SHAP", "What does perplexity mean?", "Define latent space.", and
# "tell me about X", "What does the handbook say about X?" (a question naming a section reads so, rag/scope.py).
# And since eval/data/explain_s29.jsonl (6 of its 14 answerable requests were declined): "can you describe YOLO?",
# "please define stride", "How does the handbook explain perplexity?", "how would you explain softmax to a
# beginner?", "could you explain what a Poisson distribution is?".
# "... in plain english", "... like I'm five", "..., for a total beginner", "... without jargon": what X is, asked
# simply (eval/data/eli5_s33.jsonl: "explain auc like im new to this" and "what's recall, for a total beginner?"
# were declined).
_SIMPLY = (
    r"(?:in\s+(?:simple|plain|layman'?s)\s+(?:terms|english|words)|in\s+one\s+sentence|simply|briefly|in\s+a\s+nutshell"
    r"|without\s+(?:the\s+|any\s+)?jargon|like\s+(?:i'?m|im|i\s+am)\s+(?:five|\d+|an?\s+\w+|new(?:\s+to\s+\w+)?)"
    r"(?:\s+years?\s+old)?|(?:to|for)\s+(?:an?\s+)?(?:total\s+|complete\s+|absolute\s+)?(?:beginner|child|kid|newbie"
    r"|newcomer|layman|non-expert|dummies|someone\s+new(?:\s+to\s+\w+)?|\d+[\s-]*years?[\s-]*old)s?)"
)
_PLAINLY = re.compile(rf"(?:(?<=[?.!])\s*(?:please\s+)?(?:explain|describe)(?:\s+it)?)?,?\s+{_SIMPLY}\s*[?.!]*$", re.I)


def plainly(question: str) -> str:
    """The question without its ask for a simple explanation, which says who asks, not what: "beginner" is a word
    the handbook never uses, and "for a total beginner" drew the evidence away from the Recall row.

    >>> plainly("what's recall, for a total beginner?"), plainly("how are words split? explain like im new to this")
    ("what's recall?", 'how are words split?')
    >>> plainly("explain the p-value like I'm five"), plainly("what is a kid?")
    ('explain the p-value', 'what is a kid?')
    """
    stripped = _PLAINLY.sub("", question).rstrip()
    if not stripped or stripped == question.rstrip():
        return question
    mark = question.rstrip()[-1]
    return stripped if stripped[-1] in "?.!" or mark not in "?.!" else stripped + mark


_DEFINITION = re.compile(
    r"^(?:(?:can|could|would)\s+you\s+)?(?:please\s+)?(?:briefly\s+)?"
    r"(?:what\s+does\s+(?:the\s+handbook|it)\s+say\s+about|tell\s+me\s+about"
    r"|what\s+can\s+you\s+tell\s+me\s+about|what\s+do\s+you\s+know\s+about|what\s+does\s+it\s+mean\s+to"
    r"|how\s+(?:does|do|would|should|could|can)\s+(?:the\s+(?:handbook|guide|book)|it|you|one|i|we)"
    r"\s+(?:explain|define|describe)"
    r"|list(?:\s+all)?(?:\s+of)?|what\s+(?:is|are|does)|what's|define|explain|describe|eli5:?|meaning\s+of)"
    r"(?:\s+what)?\s+(?:an?\s+|the\s+)?"
    r"(?P<subject>.+?)(?:\s+(?:mean|means|is|are)|\s+(?:used\s+|good\s+|useful\s+)?for|\s+(?:all\s+)?about"
    rf"|,?\s+{_SIMPLY})?\s*[?.!]*$",
    re.IGNORECASE,
)

# "How does early stopping work?", "how do GANs work": what the term is, asked by how it works. Read as "What is
# X?", 4 of the 24 questions of eval/data/howworks_s29.jsonl were declined (early stopping, beam search, ...).
# And "what does X do?", which asks what "What is X?" asks (a row saying what DVC is for answers it, unlike "how
# does X work?"): before eval/data/does_s30.jsonl's 21 answerable questions were read so, 4 were declined ("what
# does softmax do?") and 4 hedged. So do "what does X measure / stand for / represent / tell me?" ("what does AUC
# measure?" was hedged, eval/data/abbrev_s31.jsonl).
_HOW_WORKS = re.compile(
    r"^(?:how\s+(?:does|do|is|are)|what\s+(?:does|do))\s+(?:an?\s+|the\s+)?"
    r"(?!(?:i|we|you|it|they|this|that|these|those)\s)(?P<subject>.+?)\s+"
    r"(?P<verb>work|works|function|defined|described|do|measure|represent|stand\s+for|tell\s+(?:me|us))"
    r"\s*[?.!]*$",
    re.IGNORECASE,
)


# A query that is only a term ("dropout", "early stopping", "one hot encoding?"): at most BARE_WORDS words, none
# of them a word that asks, relates or compares ("how", "my", "vs", "code"). A learner revising types it to
# mean "What is X?"; "mean vs median" or "python code for pca" ask something else.
BARE_WORDS = 4
_NOT_BARE = frozenset(
    "what what's whats how why when where which who whose is are was were do does did can could should would will "  # noqa: SIM905
    "i me my we our you your it its this that these those they them vs versus or and but between than to for with "
    "without from not no explain define describe tell show give list compare use using need help please more "
    "example examples formula code python snippet difference differences better best".split()
)


def term_key(term: str) -> str:
    """A term as a question may write it: no gloss in brackets ("Ridge (L2)"), no bold, lower case, singular,
    a hyphen read as a space ("one-hot encoding" is "one hot encoding")."""
    term = re.sub(r"\s*\(.*?\)", "", term.replace("**", "")).strip().lower()
    term = re.sub(r"\s+", " ", term.replace("-", " "))
    return re.sub(r"(?<=[a-z0-9]{3})s$", "", term)


# "overfitting", "regularization": a term named by the noun of an action, which a learner asks for by its verb.
_ACTION = ("ing", "tion")


def inflections(terms: Iterable[str], stem: Callable[[str], str]) -> dict[str, str]:
    """The terms named by the noun of an action ("overfitting", "one hot encoding"), by the stems of their words,
    where no other term shares them: "what is underfit?" asks what "underfitting" is, and "normalize" is no
    "normal" (a distribution), nor "encode" an "encoder".

    >>> from rag.guard import stemmer
    >>> found = inflections(["underfitting", "one hot encoding", "encoder", "normal"], stemmer().stemWord)
    >>> sorted(found.items())
    [('one hot encod', 'one hot encoding'), ('underfit', 'underfitting')]
    """
    found: dict[str, str] = {}
    shared: set[str] = set()
    for term in terms:
        key = " ".join(stem(word) for word in term.split())
        if key in found or key in shared:
            shared.add(key)
        elif term.endswith(_ACTION):
            found[key] = term
        else:
            shared.add(key)
    return {key: term for key, term in found.items() if key not in shared}


def inflected(term: str, known: dict[str, list[int]], actions: dict[str, str], stem: Callable[[str], str]) -> str:
    """The term the handbook names that `term` (an `asked_term`) asks for as the verb of its action ("overfit":
    "overfitting", `inflections`), else `term` itself."""
    if not term or term in known or term.endswith(_ACTION):
        return term
    return actions.get(" ".join(stem(word) for word in term.split()), term)


# Words that open a qualifier of the term before them: "dropout in a cnn", "fine tune an llm", "prune mean for a net".
_QUALIFYING = frozenset(["in", "for", "of", "on", "with", "to", "when", "a", "an", "the", "mean", "means"])


def leading_term(term: str, known: Callable[[str], bool]) -> str:
    """The longest run of `term`'s first words that is a `known` term, when the word after it opens a qualifier
    ("dropout in a cnn": "dropout"), else `term`: "random forest oob error" asks about no random forest.

    >>> known = {"dropout", "fine tune", "random forest"}.__contains__
    >>> leading_term("dropout in a cnn", known), leading_term("fine tune an llm", known)
    ('dropout', 'fine tune')
    >>> leading_term("random forest oob error", known), leading_term("dropouts in cnns", known)
    ('random forest oob error', 'dropout')
    """
    words = term.split()
    for n in range(len(words) - 1, 0, -1):
        head = term_key(" ".join(words[:n]))
        if words[n] in _QUALIFYING and known(head):
            return head
    return term


def bare_term(question: str) -> str:
    """The question itself, stripped, when it is only a term; else "".

    >>> bare_term("early stopping"), bare_term("One-hot encoding?"), bare_term("the elbow method")
    ('early stopping', 'One-hot encoding', 'elbow method')
    >>> bare_term("mean vs median"), bare_term("why?"), bare_term("python code for pca"), bare_term("")
    ('', '', '', '')
    """
    subject = re.sub(r"^(?:an?|the)\s+", "", question.strip().rstrip("?.! ").strip(), flags=re.IGNORECASE)
    words = re.findall(r"[\w'’]+", subject.lower().replace("’", "'"))
    return subject if 0 < len(words) <= BARE_WORDS and not _NOT_BARE.intersection(words) else ""


def asked_term(question: str) -> str:
    """What a definition question asks for, as `term_key` writes it, or "" for any other question. A bare term is a
    definition question.

    >>> asked_term("What are GANs?"), asked_term("What does perplexity mean?"), asked_term("Why ReLU?")
    ('gan', 'perplexity', '')
    >>> asked_term("early stopping"), asked_term("What is a p-value?") == asked_term("p value")
    ('early stopping', True)
    >>> asked_term("What does the handbook say about early stopping?"), asked_term("tell me about GANs")
    ('early stopping', 'gan')
    >>> asked_term("list all the activation functions") == asked_term("What are the activation functions?")
    True
    >>> asked_term("what's the elbow method for?"), asked_term("What is PCA used for?"), asked_term("what's X good for")
    ('elbow method', 'pca', 'x')
    >>> asked_term("How does early stopping work?"), asked_term("how do GANs work"), asked_term("How does it scale?")
    ('early stopping', 'gan', '')
    >>> asked_term("can you describe YOLO?"), asked_term("How does the handbook explain perplexity?")
    ('yolo', 'perplexity')
    >>> asked_term("how would you explain softmax to a beginner?"), asked_term("how is momentum defined?")
    ('softmax', 'momentum')
    >>> asked_term("could you explain what a Poisson distribution is?"), asked_term("please define stride")
    ('poisson distribution', 'stride')
    >>> asked_term("eli5: backpropagation")
    'backpropagation'
    >>> asked_term("what's EDA about?"), asked_term("what does AUC measure?"), asked_term("what does p tell us?")
    ('eda', 'auc', 'p')
    """
    match = _HOW_WORKS.match(question.strip()) or _DEFINITION.match(question.strip())
    if match:
        return term_key(match.group("subject"))
    return term_key(bare) if (bare := bare_term(question)) else ""


# What a bank question adds to its term: "... and why is it used?", "... in transformers", "... in simple terms".
_QUALIFIER = re.compile(r"\s+(?:in\s+|and\s+(?:why|how|what)\b).*$", re.IGNORECASE)


def bank_term(question: str) -> str:
    """The term a bank question defines, without what it adds: "Explain RAG (Retrieval Augmented
    Generation)." is asked again by "What is RAG?", whose words alone are too few to match it by meaning.

    >>> bank_term("What is regularization and why is it used?"), bank_term("Explain p-value in simple terms.")
    ('regularization', 'p value')
    >>> bank_term("Explain RAG (Retrieval Augmented Generation).") == asked_term("Explain RAG")
    True
    >>> bank_term("What is the difference between BERT and GPT?"), bank_term("How do you version ML models?")
    ('difference between bert and gpt', '')
    """
    match = _DEFINITION.match(question.strip())
    return term_key(_QUALIFIER.sub("", match.group("subject"))) if match else ""


def names(plain: str, term: str) -> bool:
    """Whether a row's text as the model reads it ("Algorithm: DBSCAN; Pros: ...") names `term` (an
    `asked_term`) in its first column; for a small table shown whole, any of its rows.

    >>> names("Algorithm: DBSCAN; Pros: Finds arbitrary shapes", asked_term("What is DBSCAN?"))
    True
    >>> names("Term: RMSE; Definition: Root Mean Squared Error", asked_term("What is MSE?"))
    False
    >>> names("Term: Autoencoder; Definition: ...", asked_term("What is a denoising autoencoder?"))
    False
    >>> names("Technique: Oversampling (SMOTE); Description: ...", "smote")
    True
    >>> names("Aspect: Overfitting; Bagging: Less prone; Boosting: Can overfit", "overfitting")
    False
    """
    return bool(term) and any(term in _aliases(first) for first, _ in _rows(plain))


def rows_named(table: str, question: str) -> set[int]:
    """The line offsets of a table's body rows whose term the question names: both sides of "What's the
    difference between a t-test and ANOVA?"; none in a comparison of aspects (`_ASPECTS`).

    >>> table = "| Test | Use |\\n|:---|:---|\\n| **t-test** | 2 groups |\\n| **ANOVA** | 3+ groups |\\n| **F** | x |"
    >>> sorted(rows_named(table, "What's the difference between a t-test and ANOVA?")), rows_named(table, "Which one?")
    ([2, 3], set())
    """
    if term_key(table.split("|")[1]) in _ASPECTS:
        return set()
    rows = {offset: _aliases(term) for offset, term, _ in table_pairs(table)}
    said = {term for term, _ in mentioned(question, set().union(*rows.values()))} if rows else set()
    return {offset for offset, aliases in rows.items() if aliases & said}


# What joins the two sides of "X vs Y", "X or Y?", "X compared to Y"; "and" only beside a word that asks to compare
# ("the difference between X and Y"): "Which model mixes the L1 and L2 penalties?" asks for a third thing.
# Or one side said to beat the other: "is adam better than sgd", "does polars outperform pandas", "is umap quicker
# than t-sne", "why is tanh preferred over sigmoid", "does one-hot work better than label encoding".
_BEATS = (
    r"(?:(?:is|are|does|do|works?|performs?|scales?|runs?|trains?|generali[sz]es)\s+)?(?:(?:much|far|a\s+lot)\s+)?"
    r"(?:(?!other\b)\w+er|more\s+\w+|less\s+\w+|better|worse)\s+than"
    r"|beats?|outperforms?|outdoes|(?:superior|inferior)\s+to|(?:preferred|favou?red|chosen|used)\s+(?:over|to)"
)
_VERSUS = re.compile(
    rf"\s*,?\s*(?:vs\.?|versus|or|compared\s+(?:to|with)|than|over|instead\s+of|rather\s+than|{_BEATS})\s*",
    re.IGNORECASE,
)
_AND = re.compile(r"\s*,?\s*and\s*")
# "how does X differ from Y", "how is X different from Y", "what separates X from Y", "tell X apart from Y".
_FROM = re.compile(r"\s*(?:(?:is|are)\s+)?(?:(?:differ|differs|different|distinct|apart)\s+)?from\s*", re.IGNORECASE)
_COMMA = re.compile(r"\s*,\s*")  # "the difference between MAE, MSE and RMSE"
_DIFFER = re.compile(r"\b(?:differ\w*|distinct\w*|distinguish\w*|separat\w*|apart)\b", re.IGNORECASE)
_COMPARE = re.compile(r"\b(?:differ\w*|compar\w*|better|worse|prefer\w*|choose|pick|vs\.?|versus)\b", re.IGNORECASE)


def compared_terms(question: str, terms: Iterable[str]) -> list[str]:
    """The terms (as `term_key` writes them) a question sets against each other, in its order, or []: two named
    terms joined by "vs", "or", "compared to", "better than", "differ from", or by "and" in a question that asks to
    compare.

    >>> compared_terms("L1 vs L2, what's the actual difference?", ["l1", "l2"])
    ['l1', 'l2']
    >>> compared_terms("What's the difference between Adam and plain SGD?", ["adam", "sgd"])
    ['adam', 'sgd']
    >>> compared_terms("Which regression model mixes the L1 and L2 penalties together?", ["l1", "l2"])
    []
    >>> compared_terms("How does a Poisson regression differ from a negative binomial one?", ["poisson", "binomial"])
    []
    >>> compared_terms("is umap quicker than t-sne?", ["umap", "t-sne"])
    ['umap', 't-sne']
    >>> compared_terms("why do RNNs beat CNNs", ["rnn", "cnn"])
    ['rnn', 'cnn']
    >>> compared_terms("how is LDA different from PCA?", ["lda", "pca"]), compared_terms("LDA from PCA", ["lda", "pca"])
    (['lda', 'pca'], [])
    >>> compared_terms("What's the difference between MAE, MSE and RMSE?", ["mae", "mse", "rmse"])
    ['mae', 'mse', 'rmse']
    >>> compared_terms("Is there an SVM other than the linear one?", ["svm", "linear"])
    []
    """
    found = mentioned(question, terms)
    spans, at = [], 0
    for term, written in found:
        start = question.find(written, at)
        spans.append((term, start, start + len(written)))
        at = start + len(written)
    out: list[str] = []
    for (a, _, end), (b, start, _) in pairwise(spans):
        gap = re.sub(r"\b(?:the|a|an|plain|simple|regular|normal|single)\s+", "", question[end:start] + " ", flags=re.I)
        if (
            _VERSUS.fullmatch(gap)
            or (_AND.fullmatch(gap) and _COMPARE.search(question))
            or (_FROM.fullmatch(gap) and _DIFFER.search(question))
            or (_COMMA.fullmatch(gap) and (_COMPARE.search(question) or _DIFFER.search(question)))
        ):
            out += [t for t in (a, b) if t not in out]
    return out


def asks_how_it_works(question: str) -> bool:
    """ "How does X work?": what X is, asked for what it does, which a row listing X's pros does not say.

    >>> asks_how_it_works("How does SVM work?"), asks_how_it_works("how is momentum defined?")
    (True, False)
    >>> asks_how_it_works("what does DVC do?"), asked_term("what does the pooling layer do?")
    (False, 'pooling layer')
    """
    match = _HOW_WORKS.match(question.strip())
    return bool(match) and match.group("verb").lower() in ("work", "works", "function")


# "What are the downsides of SVM?", "cons of TorchServe", "what is PyTorch strong at?": the merits of a term, which
# a table with Pros, Cons or Strengths columns gives in the term's row.
_MERIT_WORDS = (
    r"(?:pros(?:\s+and\s+cons)?|cons|(?:dis)?advantages?|benefits?|drawbacks?|downsides?|upsides?|limitations?"
    r"|strengths?|weaknesses|weak\s+points?|strong\s+points?|catch)"
)
_MERITS = re.compile(
    rf"^(?:(?:what\s+are|what's|whats|any|the)\s+(?:the\s+|some\s+|main\s+)?)?{_MERIT_WORDS}"
    r"\s+(?:of|to|with|in)\s+(?:using\s+)?(?P<subject>.+?)\s*[?.!]*$"
    r"|^what(?:\s+is|'s|s)\s+(?:good\s+and\s+bad\s+|bad\s+|good\s+)about\s+(?P<about>.+?)\s*[?.!]*$"
    r"|^what(?:\s+is|\s+are|'s|s)\s+(?P<at>.+?)\s+(?:strong|good|bad|weak)\s+at\s*[?.!]*$"
    # "glove weaknesses", "ridge regression pros and cons", "what are keras's strengths"
    r"|^(?:what\s+are\s+)?(?!(?:what|which|how|why|when|is|are|the|a|an|any|some)\b)"
    rf"(?P<owner>[\w .+/-]+?)(?:'s)?\s*[:,-]?\s+{_MERIT_WORDS}\s*[?.!]*$"
    # A term's cons asked as when to avoid it: "when should I avoid tf-idf?", "why would I not use X?"
    r"|^(?:when|why)\s+(?:should\s+(?:i|you)\s+(?:avoid|not\s+use)|shouldn't\s+(?:i|you)\s+use"
    r"|would\s+(?:i|you)\s+not\s+use|not\s+(?:to\s+)?use)\s+(?P<avoid>.+?)\s*[?.!]*$",
    re.IGNORECASE,
)
_MERIT = r"(?:Pros|Cons|Pros/Cons|Strengths|Advantages|Disadvantages)"  # the columns that weigh a row's term


def _columns(names: str) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """Finders of a column among `names` (a regex alternation): in a row as the model reads it ("...; Pros: ..."),
    and in a table's Markdown header ("| Algorithm | Pros |")."""
    return re.compile(rf"(?:^|; ){names}: "), re.compile(rf"^\|.*\| {names} \|", re.MULTILINE)


_MERIT_COLUMNS, _MERIT_HEADER = _columns(_MERIT)


def merits_subject(question: str) -> str:
    """What a question asks the merits of, as written, or "".

    >>> merits_subject("what are the downsides of SVM?"), merits_subject("the catch with mini-batch GD?")
    ('SVM', 'mini-batch GD')
    >>> merits_subject("What is PyTorch strong at?"), merits_subject("what's good and bad about DBSCAN")
    ('PyTorch', 'DBSCAN')
    >>> merits_subject("What are the benefits?"), merits_subject("What is the catch?")
    ('', '')
    >>> merits_subject("glove weaknesses"), merits_subject("what are keras's strengths")
    ('glove', 'keras')
    >>> merits_subject("whats bad about knn"), merits_subject("ridge regression pros and cons")
    ('knn', 'ridge regression')
    >>> merits_subject("when should i avoid tf-idf"), merits_subject("why not use a decision tree?")
    ('tf-idf', 'a decision tree')
    """
    match = _MERITS.match(question.strip())
    return next((g for g in match.groups() if g), "") if match else ""


def has_merits(plain: str) -> bool:
    """Whether a row's text as the model reads it has a Pros, Cons or Strengths column.

    >>> has_merits("Algorithm: SVM; Pros: Effective in high dim; Cons: Memory-intensive"), has_merits("Term: SVM")
    (True, False)
    """
    return bool(_MERIT_COLUMNS.search(plain))


def has_merit_table(text: str) -> bool:
    """Whether a text has a table with a Pros, Cons or Strengths column.

    >>> has_merit_table("| Algorithm | Pros | Cons |\\n|:---|:---|:---|"), has_merit_table("| Term | Definition |")
    (True, False)
    """
    return bool(_MERIT_HEADER.search(text))


# "When should I use DBSCAN?", "what is polars for", "where would I use TorchServe": when a term is the one to use,
# which a table with a When to Use, Use Case or Best For column gives in the term's row.
_USE = r"(?:When to Use|Use Case|Use in ML|Best For|When to Optimize)"  # the columns that say when to use a row's term
_USE_COLUMNS, _USE_HEADER = _columns(_USE)
_USE_VERBS = (
    r"(?:use|using|apply|applying|pick|picking|choose|choosing|prefer|add|adding|reach\s+for|go\s+with|opt\s+for)"
)
_PERSON = r"(?:should|would|do|can|could|must|might)\s+(?:i|you|we|one)"
_END = r"\s*[?.!]*$"
_USAGE = re.compile(
    rf"^when\s+(?:{_PERSON}\s+|to\s+|is\s+it\s+(?:worth|best|better|right|wise|a\s+good\s+idea)\s+(?:to\s+)?)"
    rf"{_USE_VERBS}\s+(?P<when>.+?){_END}"
    rf"|^when\s+does\s+it\s+make\s+sense\s+to\s+(?:use\s+)?(?P<sense>.+?){_END}"
    rf"|^in\s+(?:what|which)\s+(?:situations?|cases?|scenarios?)\s+(?:{_PERSON}\s+{_USE_VERBS}|is|are)\s+(?P<cases>.+?){_END}"
    rf"|^when\s+(?:is|are|does|do)\s+(?P<when_is>.+?){_END}"
    rf"|^what(?:\s+is|\s+are|'s|s)\s+(?P<for>.+?)\s+(?:(?:used|good|best|useful|meant)\s+)?for{_END}"
    rf"|^(?:what|where)\s+{_PERSON}\s+use\s+(?P<use>.+?)(?:\s+for\b.*)?{_END}"
    rf"|^(?:what\s+are\s+(?:the\s+)?)?use\s+cases?\s+(?:of|for)\s+(?P<of>.+?){_END}"
    rf"|^(?:which|what)\s+.+?\s+call\s+for\s+(?P<call>.+?){_END}",
    re.IGNORECASE,
)
# What may follow the term a usage question opens with: "class weights for imbalanced data", "the chi-square test";
# not "exponential smoothing", which is no "Exponential" schedule.
_FOLLOWERS = frozenset(
    "for to in with on over instead rather than vs versus the "  # noqa: SIM905
    "a an when if as and or at during is are be compared "
    "test method technique algorithm model library tool framework function optimizer schedule scheduler "
    "metric score approach layer activation loss scaler option distribution measure operation encoding".split()
)


_SET_AGAINST = re.compile(r"\b(?:than|instead|over|vs\.?|versus|rather|or)\b", re.IGNORECASE)


def usage_subject(question: str) -> str:
    """What a question asks when to use, as written, or "".

    >>> usage_subject("when should I use DBSCAN?"), usage_subject("what is polars for"), usage_subject("what is NLP?")
    ('DBSCAN', 'polars', '')
    >>> usage_subject("when is it worth adding batch normalization to a network?")
    'batch normalization to a network'
    >>> usage_subject("which clustering problems call for dbscan?"), usage_subject("use cases for cosine annealing")
    ('dbscan', 'cosine annealing')
    """
    match = _USAGE.match(question.strip())
    return next((g for g in match.groups() if g), "") if match else ""


def usage_term(subject: str, terms: Iterable[str]) -> str:
    """The term a usage question's subject opens with, among `terms`, when what follows does not make it a longer
    name, or "".

    >>> usage_term("a chi-square test", ["chi-square"]), usage_term("exponential smoothing", ["exponential"])
    ('chi-square', '')
    >>> usage_term("target encoding a better choice than one-hot", ["target encoding", "one-hot"])
    ''
    """
    subject = re.sub(r"^(?:the|a|an)\s+", "", subject.strip(), flags=re.IGNORECASE)
    found = mentioned(subject, terms)
    if not found or not subject.lower().startswith(found[0][1].lower()):
        return ""
    if len(found) > 1 and _SET_AGAINST.search(subject):  # "target encoding a better choice than one-hot": compared
        return ""
    rest = subject[len(found[0][1]) :].split()
    return found[0][0] if not rest or rest[0].lower().strip(",;:") in _FOLLOWERS else ""


def has_use(plain: str) -> bool:
    """Whether a row's text as the model reads it has a When to Use, Use Case or Best For column.

    >>> has_use("Technique: Dropout; Description: Randomly zero neurons; When to Use: Deep networks")
    True
    """
    return bool(_USE_COLUMNS.search(plain))


def has_use_table(text: str) -> bool:
    """Whether a text has a table with a When to Use, Use Case or Best For column."""
    return bool(_USE_HEADER.search(text))


# The columns that say what a row's term is or does; a Pros, Cons or Use Case column only lists it.
_EXPLAINING = frozenset({"description", "definition", "concept", "key innovation", "what change", "purpose"})


def explains(plain: str, term: str) -> bool:
    """Whether the row naming `term` says what it is or does: a cell of a Description or Definition column (or
    the like) that is more than the term's expansion. "How does SVM work?" is not answered by the SVM row of
    the classifiers' table (pros, cons, use case) or by the glossary's "Support Vector Machine": the handbook
    does not teach it, and the decline shows those rows as what the handbook says about SVM.

    >>> explains("Term: SVM; Definition: Support Vector Machine", "svm")
    False
    >>> explains("Algorithm: SVM; Pros: Effective in high dim; Cons: Slow on large data", "svm")
    False
    >>> explains("Technique: Early Stopping; Description: Stop when val loss increases", "early stopping")
    True
    """
    for first, rest in _rows(plain):
        if term not in _aliases(first):
            continue
        for column, value in rest:
            initials = "".join(w[0] for w in re.findall(r"[A-Za-z]+", value)).lower()
            if term_key(column) in _EXPLAINING and initials != term_key(first):
                return True
    return False


# A table whose first column lists aspects compares the things its other columns name ("| Aspect | Bagging |
# Boosting |"): its "Overfitting" row says how bagging and boosting fare, not what overfitting is.
_ASPECTS = frozenset({"aspect", "criterion", "criteria"})


def _rows(plain: str) -> Iterator[tuple[str, list[tuple[str, str]]]]:
    """Each row of a text as the model reads it ("Algorithm: DBSCAN; Pros: ..."), as its first cell's value and
    its other (column, value) cells; the rows of a comparison's aspects (`_ASPECTS`) left out."""
    for line in plain.splitlines():
        (head, _, first), *rest = (cell.partition(": ") for cell in line.split("; "))
        if term_key(head) not in _ASPECTS:
            yield first, [(column, value) for column, _, value in rest]


_GLOSS = re.compile(r"\(([A-Z]{3,}s?)\)\s*$")  # "Oversampling (SMOTE)"; not "Bias (ML)"
_HEAD = re.compile(r"^([A-Z][A-Z0-9]+)[-\s]")  # "AUC-ROC", "F1-Score", "H2O AutoML"; not "K-Means", "t-SNE"


def _aliases(cell: str) -> set[str]:
    """The terms a table's first cell names: the cell without its gloss, and the gloss too when it is an acronym
    of three capitals or more ("Oversampling (SMOTE)" names SMOTE, which the handbook's lists define again),
    and an acronym that leads it ("AUC-ROC" names AUC, "F1-Score" F1: "What does AUC measure?" was hedged,
    "what is H2O?" declined, eval/data/abbrev_s31.jsonl).

    >>> sorted(_aliases("**F1-Score**")), sorted(_aliases("Oversampling (SMOTE)")), sorted(_aliases("K-Means"))
    (['f1', 'f1 score'], ['oversampling', 'smote'], ['k mean'])
    """
    cell = cell.replace("**", "")
    gloss, head = _GLOSS.search(cell), _HEAD.match(cell)
    return {
        term_key(cell),
        *([term_key(gloss.group(1))] if gloss else []),
        *([term_key(head.group(1))] if head else []),
    }


_ACRONYM = re.compile(r"[A-Z][A-Za-z]*[A-Z]s?")  # GANs, LSTM, ViT; not PyTorch


def title_terms(heading: str) -> set[str]:
    """The terms a section's heading names (as `term_key` writes them): each side of " / ", and an acronym's
    expansion in brackets or the acronym after it.

    >>> sorted(title_terms("XGBoost / LightGBM")), sorted(title_terms("GANs (Generative Adversarial Networks)"))
    (['lightgbm', 'xgboost'], ['gan', 'generative adversarial network'])
    >>> sorted(title_terms("Vision Transformers (ViT)")), sorted(title_terms("Training Loop (PyTorch)"))
    (['vision transformer', 'vit'], ['training loop'])
    """
    found = set()
    for part in heading.split(" / "):
        found.add(term_key(part))
        inner = re.search(r"^(.*?)\s*\((.+?)\)\s*$", part)
        if inner and (_ACRONYM.fullmatch(inner.group(1)) or _ACRONYM.fullmatch(inner.group(2))):
            found.add(term_key(inner.group(2)))
    return {t for t in found if t}


def row_terms(text: str) -> set[str]:
    """The terms (as `term_key` writes them) a text's tables name in the first column of their body rows (not the
    aspects of a comparison: `_ASPECTS`).

    >>> sorted(row_terms("| Method | Type |\\n|:---|:---|\\n| **PCA** | Linear |\\n| **UMAP** | Non-linear |"))
    ['pca', 'umap']
    >>> row_terms("| Aspect | Bagging | Boosting |\\n|:---|:---|:---|\\n| **Overfitting** | Less prone | Can overfit |")
    set()
    """
    terms: set[str] = set()
    for table in re.findall(r"(?:^\|.*(?:\n|$))+", text, re.MULTILINE):
        if term_key(table.split("|")[1]) not in _ASPECTS:
            terms |= {alias for _, term, _ in table_pairs(table) for alias in _aliases(term)}
    return terms


# A list item that defines its bold label: "- **Elbow Method**: Plot inertia vs K", "3. **SMOTE**: Synthetic ...".
_LABEL = re.compile(r"^\s*(?:[-*+]|\d+\.)\s+\*\*(?P<term>[^*\n]+?):?\*\*:?\s+\S", re.MULTILINE)


def label_terms(text: str) -> set[str]:
    """The terms (as `term_key` writes them) a text's list items define by their bold label.

    >>> sorted(label_terms("**Choosing K**:\\n- **Elbow Method**: Plot inertia\\n- **Silhouette Score**: cohesion"))
    ['elbow method', 'silhouette score']
    >>> label_terms("**Solutions**: ReLU, residual connections")
    set()
    """
    return {term_key(m.group("term")) for m in _LABEL.finditer(text)}


def bold_terms(text: str) -> set[str]:
    """The phrases a text writes in bold (as `term_key` writes them): the terms it names outside its tables'
    first columns and its list labels too ("**Confusion Matrix**:" above a diagram).

    >>> sorted(bold_terms("**Confusion Matrix**:\\n| **Accuracy** | (TP+TN)/Total |"))
    ['accuracy', 'confusion matrix']
    """
    return {term_key(m) for m in re.findall(r"\*\*([^*\n]+?)\*\*", text)}


def mentioned(question: str, terms: Iterable[str]) -> list[tuple[str, str]]:
    """The terms (as `term_key` writes them) a question names anywhere, each with its words as the question writes
    them, in the question's order; a term inside a longer one named ("regression" in "logistic regression")
    does not count again.

    >>> mentioned("Is an SVM better than logistic regressions?", ["regression", "logistic regression", "svm"])
    [('svm', 'SVM'), ('logistic regression', 'logistic regressions')]
    >>> mentioned("kmeans vs dbscan", ["k mean", "dbscan"])
    [('k mean', 'kmeans'), ('dbscan', 'dbscan')]
    """
    found: list[tuple[int, int, str]] = []
    for term in sorted(set(terms), key=len, reverse=True):
        # A space in a key was a space or a hyphen, or nothing as a learner (or the handbook's code) joins them:
        # "kmeans" is K-Means.
        words = r"[\s-]*".join(re.escape(w) for w in term.split())
        match = re.search(rf"(?<![\w-]){words}(?:e?s)?(?![\w-])", question, re.IGNORECASE)
        if len(term) > 1 and match and not any(a <= match.start() < b for a, b, _ in found):
            found.append((match.start(), match.end(), term))
    return [(term, question[a:b]) for a, b, term in sorted(found)]
