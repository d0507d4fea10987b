"""A question split into the searches it needs, by rules (pure functions, English and Chinese).

The rules are meant to be safe to be wrong: a split only adds searches beside the question's
own (``rag_core.retrieve.route.merge_rankings`` keeps the question's best result first), so a
needless split costs a little time, not the answer. Each rule finds a coordinated span in the
question and writes one sub-query per item, the rest of the question kept around it:

- ``periods``: several years or periods ("in 2019 and 2020", "FY2017 - FY2019",
  "2019年与2020年"); a range of years becomes every year in it;
- ``comparison``: "A vs B", "A or B", "between A and B", "compare A with B", "A和B相比",
  "A还是B";
- ``documents``: several named files ("report.pdf and memo.pdf");
- ``list``: "A, B and C", "A and B" between noun phrases, "A、B和C".

The first rule that finds a span wins; at most ``MAX_PARTS`` sub-queries. Noun phrases a
question lists ("from the balance sheet and the income statement") are searched beside the
winner's sub-queries too, taken in turn with them: they are the only searches that differ
from the question in more than one word.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from rag_core.hanzi import simplified
from rag_core.text import split_sentences

MAX_PARTS = 4
MAX_ITEM_WORDS = 4
MAX_RANGE_YEARS = 5


@dataclass(frozen=True, slots=True)
class Decomposition:
    """The sub-queries of a question (none: it needs one search) and the rule that split it."""

    parts: tuple[str, ...] = ()
    rule: str = ""  # the rule's name, or the model's backend ("openai", "claude")
    note: str = ""  # why the rules took over from the model

    @property
    def multi_part(self) -> bool:
        return len(self.parts) >= 2


NONE = Decomposition()

# Words an English item does not run across (its edges).
_BREAK = frozenset(
    [
        "a",
        "an",
        "the",
        "of",
        "in",
        "on",
        "for",
        "to",
        "from",
        "by",
        "with",
        "at",
        "as",
        "than",
        "that",
        "this",
        "these",
        "those",
        "what",
        "which",
        "who",
        "whom",
        "whose",
        "how",
        "when",
        "where",
        "why",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "did",
        "does",
        "do",
        "has",
        "have",
        "had",
        "its",
        "their",
        "his",
        "her",
        "our",
        "your",
        "my",
        "and",
        "or",
        "vs",
        "versus",
        "between",
        "compare",
        "compared",
        "during",
        "over",
        "per",
        "s",
        "each",
        "both",
        "either",
        "whether",
        "if",
        "any",
        "all",
        "based",
        "using",
        "within",
        "into",
        "about",
        "under",
        "across",
        "through",
        "among",
        "after",
        "before",
        "since",
        "until",
        "via",
        "without",
        "upon",
        "against",
    ]
)
# "increase or decrease", "yes or no": one thing asked two ways, not two things.
_OPPOSITES = frozenset(
    [
        "increase",
        "increased",
        "increases",
        "decrease",
        "decreased",
        "decreases",
        "improve",
        "improved",
        "improves",
        "decline",
        "declined",
        "declines",
        "rise",
        "rose",
        "fall",
        "fell",
        "grow",
        "grew",
        "shrink",
        "shrank",
        "up",
        "down",
        "higher",
        "lower",
        "more",
        "less",
        "better",
        "worse",
        "positive",
        "negative",
        "yes",
        "no",
        "true",
        "false",
        "gain",
        "loss",
        "not",
        "above",
        "below",
    ]
)
_DETERMINERS = frozenset({"a", "an", "the"})
_TOKEN = re.compile(r"[\w$%][\w\-&'.$%/]*\w|[\w$%]|[^\w\s]")
_MONTH = (  # a month's name or abbreviation, and its day: "December 31, 2019", "Dec. 2019"
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?\s+(?:\d{1,2},?\s+)?"
)
_YEAR = rf"(?:FY\s?|CY\s?|Q[1-4]\s?|H[12]\s?|{_MONTH})?(?:19|20)\d{{2}}"
_PERIOD = re.compile(rf"(?<![A-Za-z0-9.]){_YEAR}(?:年(?:度)?)?(?![A-Za-z0-9])", re.IGNORECASE)
_PERIOD_LEAD = re.compile(r"(?:\bbetween|\bfrom)\s+$", re.IGNORECASE)
_PERIOD_JOIN = re.compile(  # "," / "and" / ", and" / nothing but a space ("2016 2015")
    r"^\s*(?:(?:[,，、]\s*)?(?:and|or|to|through|vs\.?|versus|than|compared (?:to|with)|-|–|—|~|"
    r"和|与|及|跟|至|到|或|还是|对比)|[,，、])?\s*"
    r"(?:(?:in|for|during|of|at|on)\s+)?"  # the preposition said again: "in 2019 and in 2020"
    r"(?:the\s+|fiscal\s+(?:year\s+)?)?$",
    re.IGNORECASE,
)
_RANGE_JOIN = re.compile(r"^\s*(?:to|through|-|–|—|~|至|到)\s*$", re.IGNORECASE)
_FILE = re.compile(r"[\w\-.]+\.(?:pdf|docx?|txt|md|html?|pptx?|xlsx?|csv|epub)\b", re.IGNORECASE)
_CJK = r"\u4e00-\u9fff"
_ZH_BREAK = "的是在了有为对从比把被将中"
_ZH_ITEM = rf"(?:(?![{_ZH_BREAK}])[{_CJK}A-Za-z0-9]){{1,10}}?"
_ZH_END = rf"(?=[{_ZH_BREAK}，,？?。]|$)"
_ZH_COMPARE = re.compile(
    rf"(?P<a>{_ZH_ITEM})(?:和|与|跟|同|及)(?P<b>{_ZH_ITEM})"
    r"(?:相比|比较|对比|的区别|的差异|的不同|之间|谁|哪个|哪一个)"
)
_ZH_OR = re.compile(rf"(?P<a>{_ZH_ITEM})(?:还是|对比|vs)(?P<b>{_ZH_ITEM}){_ZH_END}")
_ZH_LIST = re.compile(rf"{_ZH_ITEM}(?:、{_ZH_ITEM})+(?:(?:和|与|及|以及){_ZH_ITEM})?{_ZH_END}")


def decompose(question: str) -> Decomposition:
    """The searches ``question`` needs by the rules; ``NONE`` when one search will do.
    Traditional Chinese is read as Simplified, and its sub-queries written as it was."""
    written = " ".join(question.split())
    text = simplified(written)
    back = {s: t for s, t in zip(text, written, strict=True) if s != t}
    for rule, find in (
        ("periods", _periods),
        ("comparison", _comparison),
        ("documents", _documents),
        ("list", _list),
    ):
        parts = _distinct(find(text), text)
        if len(parts) < 2:
            continue
        nouns = _distinct(_noun_phrases(text), text) if rule in _SWAPPED else ()
        if len(nouns) >= 2:
            turns = itertools.zip_longest(parts, nouns)
            parts = _distinct([p for turn in turns for p in turn if p is not None], text)
            rule = f"{rule}+list"
        parts = tuple("".join(back.get(c, c) for c in p) for p in parts)
        return Decomposition(parts[:MAX_PARTS], rule)
    return NONE


def _distinct(parts: Sequence[str], question: str) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for part in parts:
        part = " ".join(part.split()).strip(" ,，、")
        if part and part.casefold() != question.casefold():
            seen.setdefault(part, None)
    return tuple(seen)


def _replaced(text: str, start: int, end: int, items: Sequence[str]) -> list[str]:
    """``text`` with ``[start, end)`` replaced by each item in turn."""
    return [f"{text[:start]}{item}{text[end:]}" for item in items]


# Periods ---------------------------------------------------------------------------------
def _periods(text: str) -> list[str]:
    found = list(_PERIOD.finditer(text))
    if len({_year_key(m.group()) for m in found}) < 2:
        return []
    # The first run of periods joined only by "and", "or", ",", "-", "和", "至" ...
    for i in range(len(found) - 1):
        run = [found[i]]
        for nxt in found[i + 1 :]:
            if not _PERIOD_JOIN.match(text[run[-1].end() : nxt.start()]):
                break
            run.append(nxt)
        if len(run) >= 2:
            items = _period_items(text, run)
            lead = _PERIOD_LEAD.search(text[: run[0].start()])
            start = lead.start() if lead else run[0].start()
            return _replaced(text, start, run[-1].end(), items)
    # Periods apart ("in 2020 ... than in 2019"): each sub-query keeps one of them.
    key = _year_key
    return [_without(text, [m for m in found if key(m.group()) != key(k.group())]) for k in found]


def _year_key(period: str) -> str:
    return re.sub(r"\s+", "", period).upper()


def _period_items(text: str, run: Sequence[re.Match[str]]) -> list[str]:
    """The periods of a run; two years joined by "to" or "-" are every year between them."""
    items = [m.group() for m in run]
    if len(run) == 2 and _RANGE_JOIN.match(text[run[0].end() : run[1].start()]):
        first, last = (re.search(r"(?:19|20)\d{2}", m.group()) for m in run)
        assert first is not None and last is not None
        low, high = int(first.group()), int(last.group())
        if 0 < high - low <= MAX_RANGE_YEARS:
            prefix = run[0].group()[: first.start()]
            suffix = run[0].group()[first.end() :]
            items = [f"{prefix}{year}{suffix}" for year in range(low, high + 1)]
    return items


# Comparisons -----------------------------------------------------------------------------
_EN_COMPARE = (
    re.compile(r"\bbetween\b", re.IGNORECASE),  # between A and B
    re.compile(r"\bcompare[sd]?\b", re.IGNORECASE),  # compare A with / and / to B
)
_EN_VERSUS = re.compile(r"\s(?:vs\.?|versus|compared (?:to|with)|or)\s", re.IGNORECASE)


def _comparison(text: str) -> list[str]:
    for pattern in (_ZH_COMPARE, _ZH_OR):
        m = pattern.search(text)
        if m:
            a, b = _zh_left(m.group("a")), m.group("b")
            if len(a) > 2 * len(b):  # items are parallel: "用户选择A方案还是B方案"
                a = a[-len(b) :]
            start = m.start("a") + len(m.group("a")) - len(a)
            return _replaced(text, start, m.end(), [a, b])
    tokens = _tokens(text)
    for pattern in _EN_COMPARE:
        m = pattern.search(text)
        if m:
            return _compared(text, m, [t for t in tokens if t[1] >= m.end()])
    m = _EN_VERSUS.search(text)
    if m:
        left = _item([t for t in tokens if t[2] <= m.start()], from_end=True)
        after = [t for t in tokens if t[1] >= m.end()]
        right = _item(after, from_end=False, limit=len(left[0].split())) if left else None
        ends = (
            {left[0].split()[-1].lower(), right[0].split()[0].lower()} if left and right else {""}
        )
        if left and right and not ends & _OPPOSITES:
            return _replaced(text, left[1], right[1], [left[0], right[0]])
    return []


def _compared(text: str, m: re.Match[str], after: Sequence[Token]) -> list[str]:
    """ "between A and B", "compare A with B": A is every word up to the joint."""
    joint = next((i for i, t in enumerate(after) if t[0].lower() in ("and", "with", "to")), 0)
    if not 0 < joint <= MAX_ITEM_WORDS + 1:
        return []
    inside = list(after[:joint])
    while inside and inside[0][0].lower() in _DETERMINERS:
        inside = inside[1:]
    right = _item(after[joint + 1 :], from_end=False, limit=len(inside) + 1)
    if not inside or right is None:
        return []
    left = text[inside[0][1] : inside[-1][2]]
    return _replaced(text, m.start(), right[1], [left, _parallel(inside, right[0])])


def _parallel(left: Sequence[Token], right: str) -> str:
    """The right item read like the left one: "compare the capex of 3M and Amazon" compares
    "capex of 3M" with "capex of Amazon", not with "Amazon". When the left item is a head
    and a short name joined by a break word ("capex of 3M") and the right item is as short
    as that name, the right item takes the left's head."""
    words = [w for w, _, _ in left]
    cut = max((i for i, w in enumerate(words) if w.lower() in _BREAK), default=-1)
    tail = len(words) - cut - 1
    if cut <= 0 or tail < 1 or len(right.split()) > tail:
        return right
    return " ".join([*words[: cut + 1], right])


# Documents -------------------------------------------------------------------------------
def _documents(text: str) -> list[str]:
    names = list(_FILE.finditer(text))
    if len({m.group().lower() for m in names}) < 2:
        return []
    for i in range(len(names) - 1):
        run = [names[i]]
        for nxt in names[i + 1 :]:
            if not _PERIOD_JOIN.match(text[run[-1].end() : nxt.start()]):
                break
            run.append(nxt)
        if len(run) >= 2:
            return _replaced(text, run[0].start(), run[-1].end(), [m.group() for m in run])
    return [_without(text, [m for m in names if m is not keep]) for keep in names]


# The words that lead a period or file into the sentence, dropped with it ("in 2024").
_LEAD_WORDS = re.compile(
    r"(?:\b(?:as\s+of|in|of|for|during|at|on|by|from|since|until|through)\s+|"
    r"(?:截至|截止|在|于|从))$",
    re.IGNORECASE,
)


def _without(text: str, matches: Sequence[re.Match[str]]) -> str:
    """``text`` without ``matches`` and the words that lead them in, tidied: "As of FY2021,
    how much ... in 2024?" without FY2021 is "how much ... in 2024?"."""
    for m in sorted(matches, key=lambda m: -m.start()):
        head = text[: m.start()]
        lead = _LEAD_WORDS.search(head)
        text = (head[: lead.start()] if lead else head) + text[m.end() :]
    text = re.sub(r"\s+([,.?!;:，。？、])", r"\1", text)  # no space before punctuation
    text = re.sub(r"([,，、])(?=[,.?!;:，。？、])", "", text)  # no comma before another mark
    return re.sub(r"^\s*[,，、]\s*", "", " ".join(text.split()))


# Lists -----------------------------------------------------------------------------------
def _list(text: str) -> list[str]:
    m = _ZH_LIST.search(text)
    if m:
        names = re.split(r"、|和|与|以及|及", m.group())
        head = _zh_left(names[0])
        start = m.start() + len(names[0]) - len(head)
        return _replaced(text, start, m.end(), [head, *names[1:]])
    for names, start, end in _english_lists(text):
        if _nouns(names):
            return _searched_with_anchors(text, names, start, end)
        return _replaced(text, start, end, names)
    return []


# Rules whose sub-queries swap one period or file in the question: a list of noun phrases
# beside them is searched too ("... FY2018 and FY2019 ... the balance sheet and the income
# statement"); a comparison or a list already splits the question's nouns.
_SWAPPED = ("periods", "documents")


def _noun_phrases(text: str) -> list[str]:
    """The first English list of noun phrases (not of periods), each searched with its
    anchors."""
    for names, start, end in _english_lists(text):
        if _nouns(names) and not any(_PERIOD.search(name) for name in names):
            return _searched_with_anchors(text, names, start, end)
    return []


def _nouns(names: Sequence[str]) -> bool:
    """Items of two words or more ("the cash flow statement"), not a word swapped."""
    return min(len(x.split()) for x in names) >= 2


def _searched_with_anchors(text: str, names: Sequence[str], start: int, end: int) -> list[str]:
    anchors = _anchors(text[:start] + " " + text[end:])
    return [f"{name} {anchors}".strip() for name in names]


def _english_lists(text: str) -> Iterator[tuple[list[str], int, int]]:
    """The English lists "A, B and C" in ``text``: their items and the span they take."""
    tokens = _tokens(text)
    for i, (word, _, _) in enumerate(tokens):
        if word.lower() != "and" or i == 0:
            continue
        items = _items_before(tokens, i)
        if not items:
            continue
        longest = max(len(x.split()) for x, _ in items)
        right = _item(tokens[i + 1 :], from_end=False, limit=longest + 1)
        wide = _of_phrase(tokens, i)
        if wide is not None:
            right, items = wide
        if right is not None:
            yield [*(x for x, _ in items), right[0]], items[0][1], right[1]


def _of_phrase(
    tokens: Sequence[Token], joint: int
) -> tuple[tuple[str, int], list[tuple[str, int]]] | None:
    """The items around the "and" at ``joint`` read as noun phrases of their own with an
    "of" inside ("the income statement and the statement of cash flows"), where the words
    say so: an article after "and", or an "of" on the left too ("statement of income and
    statement of cash flows"). Otherwise "of" belongs to every item ("the delivery and
    secretion of MMPs", "revenue and EPS of 3M"): None."""
    right = _item(tokens[joint + 1 :], from_end=False, of_phrase=True)
    if right is None or " of " not in right[0]:
        return None
    after = next((t for t in tokens if t[1] >= right[1]), None)
    if after is not None and _is_word(after[0]):
        return None  # cut by the length limit: the phrase goes on
    items = _items_before(tokens, joint, of_phrase=True)
    article = joint + 1 < len(tokens) and tokens[joint + 1][0].lower() in _DETERMINERS
    if not items or not (article or any(" of " in x for x, _ in items)):
        return None
    return right, items


def _anchors(text: str) -> str:
    """What a noun phrase is searched with, out of the rest of the question: its names
    (capitalised words after the first word of a sentence) and its periods."""
    words: dict[str, None] = {}
    clauses = (
        clause
        for span in split_sentences(text)  # "Inc." does not end a sentence
        for clause in re.split(r"(?<=:)\s+", text[span.start : span.end])
    )
    for sentence in clauses:
        tokens = [t for t, _, _ in _tokens(sentence)]
        for i, token in enumerate(tokens):
            name = i > 0 and token[:1].isupper() and token.lower() not in _BREAK
            if name or _PERIOD.fullmatch(token):
                words.setdefault(token.removesuffix("'s"), None)
    return " ".join(list(words)[:6])


def _items_before(
    tokens: Sequence[Token], joint: int, *, of_phrase: bool = False
) -> list[tuple[str, int]]:
    """The items before the "and" at ``joint``, separated by commas: "A, B(,) and"."""
    items: list[tuple[str, int]] = []
    stop = joint - 1 if tokens[joint - 1][0] == "," else joint
    while True:
        left = _item(tokens[:stop], from_end=True, of_phrase=of_phrase)
        if left is None:
            return items
        items.insert(0, left)
        first = next(j for j, t in enumerate(tokens) if t[1] == left[1])
        if first == 0 or tokens[first - 1][0] != ",":
            return items
        stop = first - 1


# Items -----------------------------------------------------------------------------------
Token = tuple[str, int, int]  # word, start, end


def _tokens(text: str) -> list[Token]:
    return [(m.group(), m.start(), m.end()) for m in _TOKEN.finditer(text)]


def _item(
    tokens: Sequence[Token],
    *,
    from_end: bool,
    limit: int = MAX_ITEM_WORDS,
    of_phrase: bool = False,
) -> tuple[str, int] | None:
    """The noun phrase at one edge of ``tokens``: up to ``MAX_ITEM_WORDS`` words, no break
    word or punctuation inside (a leading article on the right is passed over); with
    ``of_phrase``, one "of" between common nouns ("statement of cash flows", not "EPS of
    3M"). Returns its text and, from the end, its start offset; from the start, its end
    offset."""
    words: list[Token] = []
    sequence = list(reversed(tokens)) if from_end else list(tokens)
    if not from_end:
        while sequence and sequence[0][0].lower() in _DETERMINERS:
            sequence.pop(0)
    most = min(limit, MAX_ITEM_WORDS)
    crossed = False
    for at, token in enumerate(sequence):
        word = token[0]
        if (
            of_phrase
            and word.lower() == "of"
            and words
            and not crossed
            and len(words) + 2 <= most
            and at + 1 < len(sequence)
            and _common_noun((words[-1] if from_end else sequence[at + 1])[0])
            and _is_word(sequence[at + 1][0])
        ):
            crossed = True
            words.append(token)
            continue
        if word.lower() in _BREAK or not _is_word(word):
            break
        words.append(token)
        if len(words) == most:
            break
    if not words:
        return None
    if from_end:
        words.reverse()
        return " ".join(w for w, _, _ in words), words[0][1]
    return " ".join(w for w, _, _ in words), words[-1][2]


def _is_word(token: str) -> bool:
    return token.lower() not in _BREAK and (token[0].isalnum() or token[0] in "$%")


def _common_noun(token: str) -> bool:
    """A word after "of" that belongs to the item ("of cash"), not a name it is said of."""
    return token[:1].islower()


def _zh_left(item: str) -> str:
    """A Chinese left item cut after its last function character ("公司的收入" -> "收入")."""
    cut = max(item.rfind(ch) for ch in _ZH_BREAK)
    return item[cut + 1 :] if cut >= 0 and cut + 1 < len(item) else item
