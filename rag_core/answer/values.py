"""What a question asks for (a quantity, a date or a name) and where a text states one (pure).

The extractive answerer uses this to lead with the value a question asks for: "What was
the FY2022 capital expenditure?" wants an amount, "When did the merger close?" a date,
"Who is the auditor?" a name. Sentences and table rows that hold no value of the asked
kind cannot state the answer, however many of the question's words they share.

English and Chinese. The rules are small on purpose: question words, and the shapes of
amounts, dates and proper names, not lists of finance terms.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from rag_core.hanzi import simplified
from rag_core.text import CJK_CHAR

Kind = Literal["quantity", "date", "name"]


@dataclass(frozen=True, slots=True)
class Value:
    """A value of one kind stated in a text, with its place in that text."""

    kind: Kind
    text: str
    start: int
    end: int


# What the question asks for -------------------------------------------------------------
_MEASURES = (
    r"amounts?|totals?|values?|numbers?|percentages?|percent|ratios?|rates?|margins?|costs?|"
    r"prices?|sizes?|shares?|sums?|balances?|levels?|counts?|revenues?|income|expenses?|"
    r"expenditures?|sales|profits?|loss(?:es)?|earnings|EPS|cash|debt|assets|liabilities|"
    r"equity|dividends?|capex|budgets?|salary|salaries|wages?|fees?|spend(?:ing)?|population|"
    r"height|weight|length|distance|temperature|age|duration|volume|capacity|growth|turnover|"
    r"inventor(?:y|ies)|tax(?:es)?|interest|yield|score|frequency|speed|proceeds|gain|"
    r"headcount|employees|units|square feet|acres"
)
_QUANTITY_Q = re.compile(
    r"\b(?:how (?:much|many|large|big|high|low|long|far|old)|what (?:percent|percentage|"
    r"portion|fraction|share)|by how)\b"
    # "how" only as "how much/many/...": "How does the company account for options granted
    # to employees?" asks for a method, not an amount
    # "what" anywhere, after a preamble too: "in millions, for 2016, 2015 and 2014 what was
    # the total ...", "Based on the balance sheet, what is the FY2018 amount of ..."; the
    # others only opening the question (a "which" after a preamble is more often a name's:
    # "In 2022 Q2, which of JPM's segments had the highest ...")
    # but not "what does/did/can ...": "What does the company use to estimate fair value?"
    # asks for a thing ("what does cash and cash equivalents consist of?" too)
    # nor one that ends on a preposition: "What are Audit-Related fees related to?" asks
    # what they relate to
    rf"|\bwhat\b(?!\s+(?:do|does|did|can|could)\b)(?!.*\b(?:to|for|with|about|from)\s*\??\s*$)"
    rf".*\b(?:{_MEASURES})\b"
    rf"|^\s*(?:which|list|give|state|report)\b.*\b(?:{_MEASURES})\b"
    r"|(?:多少|几[个家年次%％倍]?|百分之几|比例|比率|金额|数量|占比|收入|利润|营收|成本|费用|总额|增长率)",
    re.IGNORECASE,
)
_WHY_Q = re.compile(
    r"^\s*(?:why|explain|describe|summari[sz]e|what (?:drove|drives|caused|causes|explains|"
    r"led|leads|contributed|are the (?:main )?(?:reasons?|drivers?|factors?|risks?)|is the "
    r"(?:reason|driver|impact|effect))|how (?:did|does|do|will|would|could|can|has|have) "
    r".*\b(?:affect|impact|influence|work|happen))\b"
    r"|(?:为什么|为何|原因|怎样|如何)",
    re.IGNORECASE,
)
_DATE_Q = re.compile(
    r"\b(?:when(?!\s+(?:can|could|should|must|may|might)\b)|"  # "when can ...": a condition
    r"what (?:year|date|day|month|quarter)|which (?:year|date|day|month|quarter)|"
    r"in what year|since when|by when)\b"
    r"|(?:什么时候|何时|哪一年|哪年|哪一天|哪天|几月|几号|日期|何年)",
    re.IGNORECASE,
)
_NAME_Q = re.compile(
    r"^\s*(?:who|whom|whose)\b(?!\s+(?:are|were)\b)|\b(?:who (?:is|was)|which "
    r"(?:company|firm|person|auditor|bank|country|city|region|segment|subsidiary|customer|supplier|product|brand|"
    r"organization|organisation|agency|exchange|university)|what (?:is|was) the name)\b"
    r"|(?:谁|哪位|哪家|哪个(?:公司|国家|城市|地区|部门|机构)|叫什么|名称是)",
    re.IGNORECASE,
)
_YES_NO_Q = re.compile(
    r"^\s*(?:is|are|was|were|do|does|did|has|have|had|can|could|will|would|should)\b",
    re.IGNORECASE,
)


_PERCENT_Q = re.compile(
    r"\b(?:percent|percentage|per cent|(?:tax|interest|growth|return|discount|inflation|"
    r"unemployment|churn) rates?|margins?)\b|%|百分|占比|比例|增长率|利润率|税率",
    re.IGNORECASE,
)
_RATIO_Q = re.compile(r"\b(?:ratio|times|multiple)\b|倍", re.IGNORECASE)
_COUNT_Q = re.compile(
    r"\bhow many\b|\bnumber of\b|\b(?:count|headcount)\b(?!\s+(?:as|on|towards?)\b)"
    r"|多少(?:个|家|人|名|次|座|台)|几(?:个|家|人|名|次)|数量|人数",
    re.IGNORECASE,
)
# A question that names its currency ("in USD", "(in EUR)", "in dollars") asks for an
# amount of money, never a percentage.
_CURRENCY_Q = re.compile(
    r"\b(?:USD|EUR|GBP|AUD|CAD|JPY|CNY|RMB|HKD|CHF|SGD|NZD|INR|TWD|NTD|dollars?|euros?|"
    r"pounds sterling|yen|yuan|renminbi)\b|美元|欧元|港元|人民币|新台币|日元",
    re.IGNORECASE,
)
_PERCENT = re.compile(r"(?:%|percent|per cent|个百分点)$|^百分之", re.IGNORECASE)
_MONEY = re.compile(r"[$€£¥]|US|USD|EUR|RMB|HK|NT|元", re.IGNORECASE)


def fits(question: str, value: Value) -> bool:
    """Whether a quantity has the shape the question asks for: a percentage for "what
    percent" or a rate, a plain number (no currency, no percent) for "how many", "the
    number of" or a ratio, no percentage for an amount in a named currency; any other value
    fits. Traditional Chinese is read as Simplified."""
    if value.kind != "quantity":
        return True
    question, value = simplified(question), Value(value.kind, simplified(value.text), 0, 0)
    if _PERCENT_Q.search(question):
        return _PERCENT.search(value.text) is not None
    if _COUNT_Q.search(question) or _RATIO_Q.search(question):
        return not _MONEY.search(value.text) and not _PERCENT.search(value.text)
    if _CURRENCY_Q.search(question):
        return _PERCENT.search(value.text) is None
    return True


def asked_kind(question: str) -> Kind | None:
    """The kind of value the question asks for, or None (yes/no, why, how, explain...).
    Traditional Chinese is read as Simplified."""
    question = simplified(question)
    if _WHY_Q.search(question) or _YES_NO_Q.match(question):
        return None
    if _DATE_Q.search(question):
        return "date"
    if _QUANTITY_Q.search(question):
        return "quantity"
    if _NAME_Q.search(question):
        return "name"
    return None


# An organisation named with its legal form ("HCA Healthcare, Inc.", "KP Tissue Inc.",
# "Structural Monitoring Systems Plc", "某某股份有限公司"): a question names it to say whose
# figure it asks for, not which figure.
_LEGAL = (
    r"(?:Inc|Incorporated|Ltd|Limited|Corp|Corporation|Plc|PLC|LLC|LLP|L\.P|N\.V|S\.A|AG|SE|"
    r"GmbH|Holdings|Group|Bancorp|Company)\b\.?"
)
_ORGANISATION = re.compile(
    rf"(?:[A-Z][\w&'.-]*,?\s+){{0,6}}?{_LEGAL}(?:,?\s+{_LEGAL})*"
    r"|[\u4e00-\u9fff]{2,20}?(?:股份)?有限公司|[\u4e00-\u9fff]{2,12}?集团"
)


def organisations(question: str) -> list[str]:
    """The organisations ``question`` names with their legal form (pure)."""
    found = (question[m.start() : m.end()] for m in _ORGANISATION.finditer(simplified(question)))
    return [name for name in found if " " in name or not name.isascii()]


# Where a text states one -----------------------------------------------------------------
_SCALE = (
    r"(?:\s?(?:thousand|million|billion|trillion|mn|bn|tn)\b|[KMB]\b|\s?(?:万|亿|千)(?:元)?|\s?元)"
)
_NUMBER = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+"
_QUANTITY = re.compile(
    rf"(?:[$€£¥]\s?|(?:US|USD|EUR|RMB|HK|NT)\$?\s?)?\(?(?<![A-Za-z0-9_./\[])(?<![A-Za-z]-)"
    rf"(?:{_NUMBER})(?![\d\]])\)?"  # not "[72]", a reference mark
    rf"(?:{_SCALE})?(?:\s?(?:%|percent\b|per cent\b|个百分点|倍|x\b))?",
    re.IGNORECASE,
)
_CN_DIGITS = "零〇一二两三四五六七八九十百千万亿点"
_CN_QUANTITY = re.compile(
    rf"百分之[{_CN_DIGITS}]+|[零〇一二两三四五六七八九十百千][{_CN_DIGITS}]*(?:美元|港元|元|人|名|家|个|倍|吨|次|年|天|股)"
)
_MONTHS = (
    r"(?:January|February|March|April|May|June|July|August|September|October|November|"
    r"December|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept?|Oct|Nov|Dec)\.?"
)
_DATE = re.compile(
    rf"\b{_MONTHS}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+(?:19|20)\d\d\b"
    rf"|\b\d{{1,2}}\s+{_MONTHS}\s+(?:19|20)\d\d\b"
    rf"|\b{_MONTHS}\s+(?:19|20)\d\d\b"
    r"|\b(?:19|20)\d\d-\d\d-\d\d\b"
    r"|\b(?:fiscal(?: year)?|FY|Q[1-4])\s?'?(?:19|20)?\d\d\b"
    r"|(?<!\d)(?:19|20)\d\d年(?:\d{1,2}月(?:\d{1,2}日)?)?"
    # a month without its year where a preposition makes it the time ("frost in April",
    # "until early March"); in Chinese a month and day ("4月", "4月15日"; not "4个月")
    rf"|(?:(?<=\bin )|(?<=\bsince )|(?<=\buntil )|(?<=\bduring )|(?<=\bby )|(?<=\bfrom ))"
    r"(?:(?:early|late|mid)[- ])?(?-i:January|February|March|April|May|June|July|August|"
    r"September|October|November|December)\b(?!-)"
    r"|(?<![\d个])\d{1,2}月(?:\d{1,2}日)?"
    r"|\b(?:19|20)\d\d\b"
    # an earlier year where a preposition makes it one ("In 1869, the Act ...", "the Act of
    # 1789"), not a count of things ("in 1600 patients", "of 1500 cases")
    r"|(?:(?<=\bin )|(?<=\bsince )|(?<=\bfrom )|(?<=\buntil )|(?<=\bduring )|(?<=\bby )"
    r"|(?<=\bof ))1[5-8]\d\d\b(?![.,]\d)(?!\s+(?!(?:was|has|is|its|his|as|this|thus)\b)[a-z]+s\b)",
    re.IGNORECASE,
)
_NAME = re.compile(
    r"(?<![/\w-])(?:[A-Z][\w&'-]*[a-z0-9&][\w&'-]*|[A-Z]{2,}[\w&'-]*)(?:\s+(?:of|&|de|the|for)?"
    r"\s*(?:[A-Z][\w&'-]*(?![\w/])))*"
)
_YEAR = re.compile(r"(?:19|20)\d\d")
_OPENER = re.compile(
    rf"{_MONTHS}|(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day|the|this|these|those|our|we|it|"
    r"its|in|on|at|as|by|for|from|during|after|before|a|an|of|and|&|de|to|with|since|while|"
    # conjunctions and pronouns that open a clause ("If a quorum is not available ...")
    r"if|although|though|but|however|because|unless|whether|where|which|what|who|that|"
    r"there|they|he|she|his|her|their|so|thus|also|then|yet|or",
    re.IGNORECASE,
)


def values_in(text: str, kind: Kind) -> list[Value]:
    """Every value of ``kind`` that ``text`` states, in reading order (Traditional Chinese
    read as Simplified; each value as the text writes it)."""
    plain = simplified(text)
    found = _values_in(plain, kind)
    if plain == text:
        return found
    written = []
    for v in found:
        at = plain.find(v.text, v.start, v.end)  # a value's text lies within its match
        written.append(Value(v.kind, text[at : at + len(v.text)], v.start, v.end) if at >= 0 else v)
    return written


def _values_in(text: str, kind: Kind) -> list[Value]:
    if kind == "date":
        return [Value(kind, m.group().strip(), m.start(), m.end()) for m in _DATE.finditer(text)]
    dates = [(m.start(), m.end()) for m in _DATE.finditer(text)]
    if kind == "quantity":
        return [
            v
            for v in _quantities(text)
            if not any(s <= v.start and v.end <= e for s, e in dates)
            and not _is_plain_year(v.text, text, v.start)
        ]
    return [v for v in _names(text) if not any(s <= v.start < e for s, e in dates)]


def _quantities(text: str) -> list[Value]:
    found = []
    for m in _QUANTITY.finditer(text):
        value = m.group().strip().rstrip(")")
        if value.startswith("(") and ")" not in value:
            value = value[1:]
        digits = re.sub(r"\D", "", value)
        if not digits or (len(digits) == 1 and value == digits):
            continue  # "1", "3": list numbers and footnotes, not amounts
        if _FORM_NAME.match(text, m.end()) or _numbering(text, m.start(), m.end(), value):
            continue
        if _LABEL_BEFORE.search(text, max(0, m.start() - 12), m.start()):
            continue  # "Exhibit 10.15", "Note 5", "ASC 825", "page 42": which one, not how much
        found.append(Value("quantity", value, m.start(), m.end()))
    found += [Value("quantity", m.group(), m.start(), m.end()) for m in _CN_QUANTITY.finditer(text)]
    return sorted(found, key=lambda v: v.start)


# "Form 10-K", "8-K", "20-F": names, not amounts ("a 30-year term" is one)
_FORM_NAME = re.compile(r"-[A-Z](?![a-z])")
_LABEL_BEFORE = re.compile(
    r"\b(?:exhibits?|items?|notes?|sections?|rules?|articles?|parts?|schedules?|forms?|pages?|"
    r"tables?|figures?|fig\.|chapters?|appendix|annex|clauses?|paragraphs?|no\.|"
    r"asc|asu|ifrs|ias|sfas|topic|regulation)\s*$",  # accounting standards: "ASC 825"
    re.IGNORECASE,
)
_TITLE_AFTER = re.compile(r"(?:\([a-z0-9]{1,3}\))?\s+(?:[A-Z]|[—–-]\s)")


def _numbering(text: str, start: int, end: int, value: str) -> bool:
    """A bare number opening a line, before a title: an exhibit's, a section's or a page's
    number ("10.25 Sonic Automotive, Inc. Supplemental ...", "3.1(a) Restated ...",
    "30 Commerzbank Annual Report 2022"), not an amount."""
    if not re.fullmatch(r"[\d.,]+", value):
        return False
    line_start = text.rfind("\n", 0, start) + 1
    return not text[line_start:start].strip() and _TITLE_AFTER.match(text, end) is not None


def _is_plain_year(value: str, text: str, start: int) -> bool:
    """A bare 1900-2099 with nothing that makes it an amount ("2022", not "$2,022")."""
    if not _YEAR.fullmatch(value):
        return False
    before = text[max(0, start - 1) : start]
    return before not in {"$", "€", "£", "¥"}


def _names(text: str) -> list[Value]:
    """Capitalised word runs, less the capitalised openers and months they start with."""
    found = []
    for m in _NAME.finditer(text):
        words = m.group().split()
        skipped = 0
        while words and (_OPENER.fullmatch(words[0]) or words[0].islower()):
            skipped += len(words.pop(0))
        if not words or CJK_CHAR.search(words[0]):
            continue
        name = " ".join(words).rstrip(".'-")
        start = text.index(words[0], m.start() + skipped)
        if start == m.start() and _sentence_start(text, start) and len(words) == 1:
            continue  # one capitalised word opening a sentence: any word
        found.append(Value("name", name, start, start + len(name)))
    return found


def _sentence_start(text: str, index: int) -> bool:
    before = text[:index].rstrip()
    return not before or _ENDED.search(before) is not None


# A sentence's end, with closing quotes or brackets and reference marks after it
# ('... at least six justices.[168] If a quorum ...', 'said." The')
_ENDED = re.compile(r"[.!?:;\n][\"'\u201d\u2019)\]]*(?:\[\d+\])*$")


_DURATION_Q = re.compile(r"\bhow long\b|多长时间|多久", re.IGNORECASE)
_DURATION_AFTER = re.compile(
    r"\s*(?:-|to|and|or)?\s*(?:\d+\s*)?(?:years?|months?|weeks?|days?|hours?|minutes?|"
    r"decades?|centuries|century|年|个月|月|周|天|小时|分钟)\b",
    re.IGNORECASE,
)


def answer_values(question: str, values: list[Value], text: str = "") -> list[Value]:
    """The values that could answer ``question``: of the shape it asks for, and not ones it
    states itself (it names its year and company). With the ``text`` they were read from, a
    "how long" question takes only a length of time ("12 years", not a reference number)."""
    asked = simplified(question).casefold()
    found = [v for v in values if simplified(v.text).casefold() not in asked and fits(question, v)]
    if text and _DURATION_Q.search(question):
        found = [v for v in found if _DURATION_AFTER.match(text, v.end)]
    return found
