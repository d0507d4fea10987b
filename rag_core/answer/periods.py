"""The periods a question names, the values a text states for them, and the arithmetic the
question asks of them (pure).

"What was total rent expense for fiscal years 2010 to 2012?" names three years and asks for
their total; "What is the percentage increase in interest expense from 2008 to 2009?" two
years and a percentage change; "What were capitalized software costs in 2019?" one year,
whose column must be read, not the row's first figure. Reports state such values in two
ways, and both are read here:

- a table row under a header of years (``2016 2015 2014`` over ``Total cost of common share
  repurchases $ 6,069 $ 4,195 $ 5,469``): the row's figures are matched to the header's
  years in order, only when their counts agree;
- a sentence: "$244 million for 2016, $249 million for 2015 and $309 million for 2014", or
  "As of December 2016 and December 2015, ... was $49.80 billion and $45.19 billion,
  respectively".

Nothing is guessed: a value is read for a period only where the text ties the two together
that way, and an operation is computed only when every period it needs has a value. The
extractive answerer puts the result first and shows what it was computed from.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

Op = Literal["value", "values", "total", "average", "change", "percent_change", "cagr", "share"]

_YEAR = re.compile(r"(?<![\d,.$])(?:19|20)\d{2}(?!\d|,\d{3})")
_RANGE = re.compile(
    r"(?<![\d,.$])((?:19|20)\d{2})\s*(?:-|–|—|to|through|thru|until)\s*(?:fy\s?|fiscal\s+)?"
    r"((?:19|20)\d{2})(?!\d|,\d{3})",
    re.IGNORECASE,
)
_PERCENT_WORD = re.compile(r"\bpercent(?:age|s)?\b|%|\bper cent\b", re.IGNORECASE)
_CHANGE_WORD = re.compile(
    r"\b(?:(?:net\s+)?change[sd]?|increase[sd]?|decrease[sd]?|grow(?:th|n)?|grew|declined?|"
    r"rise|rose|drop(?:ped)?|fall|fell|difference|variance)\b",
    re.IGNORECASE,
)
_GROWTH_RATE = re.compile(r"\bgrowth rate\b|\brate of (?:growth|increase|decrease|change)\b", re.I)
_RELATIVE = re.compile(
    r"\b(?:percent(?:age)?|%)\s+(?:increase|decrease|change|growth|decline|rise|drop|fall)|"
    r"\bby what (?:percent(?:age)?|%)|\bwhat (?:percent(?:age)?|%) (?:did|has|have|was|were|is)\b|"
    r"\bin (?:units of )?percents?\b|\bgrow(?:th)? rate\b",
    re.IGNORECASE,
)
_CAGR = re.compile(r"\bcagr\b|\bcompound(?:ed)? annual growth\b", re.IGNORECASE)
_AVERAGE = re.compile(r"(?<!weighted )(?<!weighted-)\b(?:average|mean)\b", re.IGNORECASE)
_TOTAL = re.compile(
    r"\b(?:total|sum|combined|altogether|in all|cumulative(?:ly)?|aggregate)\b", re.IGNORECASE
)
_RESPECTIVELY = re.compile(r"\brespectively\b", re.IGNORECASE)
_SHARE_OF = re.compile(
    r"\b(?:what|which) (?:percent(?:age)?|portion|proportion|share|fraction) of\b", re.IGNORECASE
)
_TOTAL_LABEL = re.compile(r"^\W*total\b", re.IGNORECASE)
_YEAR_LABEL = re.compile(r"^\W*(?:fiscal\s+|fy\s?)?((?:19|20)\d{2})\W*$", re.IGNORECASE)
_SHARE = re.compile(
    r"\b(?:percent(?:age)?|portion|proportion|share|fraction) of (?:the )?(?:total|all)\b|"
    r"\bratio\b|\bmultiple of\b|\bas a (?:%|percent(?:age)?) of\b|\bdivided by\b|\bper\b",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Ask:
    """What a question asks of the values of its periods: ``periods`` are the years read, in
    the order the answer lists them (chronological for the change operations)."""

    op: Op
    periods: tuple[str, ...]
    relative: bool = False  # "percentage change" said in so many words: of percentages too


@dataclass(frozen=True, slots=True)
class Amount:
    """A figure as a text states it: ``value`` signed ("(1,577)" is -1577), in the units
    written (``suffix`` holds the scale word or percent sign)."""

    value: float
    text: str
    start: int
    end: int
    prefix: str = ""  # "$"
    suffix: str = ""  # " million", "%"
    decimals: int = 0
    commas: bool = False


@dataclass(frozen=True, slots=True)
class Result:
    """The value asked for, computed from ``inputs`` (period, figure) of one passage."""

    ask: Ask
    value: float | None  # None for "values" (a list, nothing computed)
    text: str  # "$802 million", "-27.0%", "17,520 (2018), 17,332 (2019)"
    inputs: tuple[tuple[str, Amount], ...]

    def explanation(self) -> str:
        """How the value was read or computed, in words ("the total of ... (2016), ...")."""
        listed = [f"{a.text} ({p})" for p, a in self.inputs]
        joined = listed[0] if len(listed) == 1 else ", ".join(listed[:-1]) + " and " + listed[-1]
        op = self.ask.op
        if op == "total":
            return f"the total of {joined}"
        if op == "average":
            return f"the average of {joined}"
        if op == "change":
            return f"the change from {listed[0]} to {listed[-1]}"
        if op == "percent_change":
            return f"the percentage change from {listed[0]} to {listed[-1]}"
        if op == "cagr":
            years = int(self.inputs[-1][0]) - int(self.inputs[0][0])
            return f"the compound annual growth over {years} years from {listed[0]} to {listed[-1]}"
        if op == "values":
            return ""
        if op == "share":
            (period, part), (_, whole) = self.inputs
            return f"{part.text} of {whole.text} in {period}"
        return f"{listed[0]}"


# The question --------------------------------------------------------------------------------
def asked_years(question: str) -> list[str]:
    """The years a question names, in its order; "2010 to 2012" is 2010, 2011 and 2012."""
    years: list[str] = []
    covered: list[tuple[int, int]] = []
    for m in _RANGE.finditer(question):
        first, last = int(m.group(1)), int(m.group(2))
        if first < last <= first + 10:
            years += [str(y) for y in range(first, last + 1)]
            covered.append((m.start(), m.end()))
    for m in _YEAR.finditer(question):
        if not any(s <= m.start() < e for s, e in covered):
            years.append(m.group())
    return list(dict.fromkeys(years))


def asked(question: str) -> Ask | None:
    """What the question asks of its periods, or None when it names no year or asks for a
    share or ratio of two different things (which one row cannot give)."""
    years = asked_years(question)
    if not years:
        return None
    chronological = sorted(years)
    percent = _PERCENT_WORD.search(question) is not None
    if _CAGR.search(question):
        if len(years) < 2:
            return None
        return Ask("cagr", (chronological[0], chronological[-1]))
    change = _CHANGE_WORD.search(question) is not None
    relative = _GROWTH_RATE.search(question) is not None or _RELATIVE.search(question) is not None
    if relative or (change and percent):
        return Ask("percent_change", _change_periods(chronological), relative)
    if _SHARE_OF.search(question) and not change:
        return Ask("share", (years[0],)) if len(years) == 1 else None
    if _SHARE.search(question):
        return None
    if change:
        return Ask("change", _change_periods(chronological))
    if len(years) >= 2 and _AVERAGE.search(question):
        return Ask("average", tuple(years))
    if len(years) >= 2 and _TOTAL.search(question) and not _RESPECTIVELY.search(question):
        return Ask("total", tuple(years))
    if len(years) >= 2:
        return Ask("values", tuple(years))
    return Ask("value", tuple(years))


def _change_periods(chronological: list[str]) -> tuple[str, ...]:
    """A change reads its first and last year; a change "in 2009" is from 2008 to 2009."""
    if len(chronological) == 1:
        year = chronological[0]
        return (str(int(year) - 1), year)
    return (chronological[0], chronological[-1])


# Figures -------------------------------------------------------------------------------------
_SCALE_WORD = r"(?:thousand|million|billion|trillion|mn|bn)\b"
_FIGURE = re.compile(
    r"(?P<open>\()?\s*(?P<cur>[$€£¥])?\s*(?P<open2>\()?(?P<minus>[-−–])?\s*"
    r"(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
    rf"(?P<scale>\s?{_SCALE_WORD})?\s*(?P<pct>%|percent\b)?(?P<close>\))?",
    re.IGNORECASE,
)
_DASH_CELL = re.compile(r"^[-–—−]+$")


def parse_figure(text: str, start: int = 0) -> Amount | None:
    """``text`` read as one figure ("$ 6,069", "(1,577)", "29.0%", "$49.80 billion")."""
    m = _FIGURE.fullmatch(text.strip())
    if not m:
        return None
    number = m.group("num")
    negative = bool(m.group("minus")) or (
        bool(m.group("open") or m.group("open2")) and bool(m.group("close"))
    )
    value = float(number.replace(",", ""))
    decimals = len(number.split(".")[1]) if "." in number else 0
    scale = m.group("scale") or ""
    suffix = (" " + scale.strip().lower() if scale else "") + ("%" if m.group("pct") else "")
    stripped = text.strip()
    offset = start + text.index(stripped[0])
    end = offset + len(stripped)
    if stripped.startswith("(") and ")" not in stripped:
        stripped, offset = (
            stripped[1:].lstrip(),
            offset + len(stripped) - len(stripped[1:].lstrip()),
        )
    if stripped.endswith(")") and "(" not in stripped:
        stripped, end = stripped[:-1].rstrip(), end - (len(stripped) - len(stripped[:-1].rstrip()))
    return Amount(
        value=-value if negative else value,
        text=re.sub(r"\s+", " ", stripped),
        start=offset,
        end=end,
        prefix=m.group("cur") or "",
        suffix=suffix,
        decimals=decimals,
        commas="," in number,
    )


_TOKEN = re.compile(r"\S+")
_PLAIN_YEAR = re.compile(r"^(?:19|20)\d{2}$")
_CELL_TOKEN = re.compile(
    r"^\(?[$€£¥]?\(?[-−]?(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d+)?%?\)?%?$|^[$€£¥]$|^[-–—−]+$"
)


def row_cells(text: str) -> tuple[str, list[Amount | None]] | None:
    """A table row's label and its trailing figures (a dash is an empty cell, None), or None
    when ``text`` does not end in figures after a label with letters."""
    tokens = list(_TOKEN.finditer(text))
    first = len(tokens)
    while (
        first > 0
        and (_CELL_TOKEN.match(word := tokens[first - 1].group()) or word in ("%", "%)"))
        and any(ch.isdigit() or ch in "$€£¥-–—−%" for ch in word)
        and not _PLAIN_YEAR.match(word)  # "Balance at October 31, 2009 ...", "2018 $ 313"
    ):
        first -= 1
    if first == len(tokens) or first == 0:
        return None
    label = text[: tokens[first].start()].strip()
    if not re.search(r"[A-Za-z]", label) and not _YEAR_LABEL.match(label):
        return None
    cells: list[Amount | None] = []
    pending: tuple[str, int] | None = None  # a currency sign standing alone before a figure
    for token in tokens[first:]:
        word = token.group()
        if word in "$€£¥" and len(word) == 1:
            pending = (word, token.start())
            continue
        if word in ("%", "%)"):
            last = cells[-1] if cells else None
            if last is None or last.suffix:
                return None
            cells[-1] = parse_figure(text[last.start : token.end()], last.start)  # "11 %"
            continue
        if _DASH_CELL.match(word):
            cells.append(None)
            pending = None
            continue
        if pending is not None:
            figure = parse_figure(text[pending[1] : token.end()], pending[1])
            pending = None
        else:
            figure = parse_figure(word, token.start())
        if figure is None:
            return None
        cells.append(figure)
    if cells and cells[0] is not None and re.fullmatch(r"\(\d\)", cells[0].text):
        cells = cells[1:]  # "Tax Fees (3) 169,776 61,592": a footnote mark, not a cell
    return (label, cells) if cells else None


_CHANGE_COLUMNS = re.compile(
    r"(?:19|20)\d{2}\D*\b(?:change|variance|increase|decrease|growth|var\.?)\b[^0-9]*$|"
    r"(?:19|20)\d{2}\s*(?:\$|%)\s*(?:change|chg)?[^0-9]*$",
    re.IGNORECASE,
)


def header_years(text: str) -> list[str]:
    """The distinct years a header line names, in order ("Fiscal 2019 Fiscal 2018")."""
    return list(dict.fromkeys(m.group() for m in _YEAR.finditer(text)))


def row_values(row: str, headers: Sequence[str]) -> dict[str, Amount]:
    """A row's figures by year, matched to the nearest header (closest first in ``headers``)
    that names as many distinct years as the row has cells, or fewer followed by the names of
    change columns ("2019 2018 $ Change % Change": the years' cells come first); {} when the
    nearest header of years does not fit the row."""
    parsed = row_cells(row)
    if parsed is None:
        return {}
    label, cells = parsed
    year_label = _YEAR_LABEL.match(label)
    if year_label and len(cells) == 1 and cells[0] is not None:
        return {year_label.group(1): cells[0]}  # "2018 $ 313": a table of years as rows
    if _YEAR.search(label):
        return {}  # "Balance at October 31, 2009 ...": the period is the row's, not a column's
    for header in headers:
        years = header_years(header)
        if len(years) < 2:
            continue
        if len(years) == len(cells) or (len(years) < len(cells) and _CHANGE_COLUMNS.search(header)):
            return {y: c for y, c in zip(years, cells[: len(years)], strict=True) if c is not None}
        return {}  # the nearest header of years does not fit this row: nothing is guessed
    return {}


def total_row(after: Sequence[str], headers: Sequence[str], period: str) -> Amount | None:
    """The figure for ``period`` in the first "Total ..." row among ``after`` (the rows below
    a table's part, in order): by its column, or its only cell where the table's rows are
    years ("2017 $ 317 / 2018 $ 313 / Total $ 1,940")."""
    for row in after:
        parsed = row_cells(row)
        if parsed is None or not _TOTAL_LABEL.match(parsed[0]):
            continue
        values = row_values(row, headers)
        if period in values:
            return values[period]
        cells = parsed[1]
        return cells[0] if len(cells) == 1 else None
    return None


def share_in_table(
    ask: Ask, row: str, headers: Sequence[str], below: Sequence[str]
) -> Result | None:
    """What share of its table's total ``row`` is in the year ``ask`` names: the row's figure
    for that year over the first "Total ..." row below it; None for a total row itself."""
    parsed = row_cells(row)
    if parsed is None or _TOTAL_LABEL.match(parsed[0]):
        return None
    part = row_values(row, headers).get(ask.periods[0])
    if part is None:
        return None
    whole = total_row(below, headers, ask.periods[0])
    return share(ask, part, whole) if whole is not None else None


def share(ask: Ask, part: Amount, whole: Amount) -> Result | None:
    """``part`` as a percentage of ``whole`` (the table's total for the same period)."""
    if not whole.value or part.suffix != whole.suffix or abs(part.value) > abs(whole.value):
        return None
    value = part.value / whole.value * 100
    period = ask.periods[0]
    return Result(ask, value, _format(value, "", "%", 1, False), ((period, part), (period, whole)))


_FOR_YEAR = re.compile(
    r"^\s*(?:for|in|during|at|as of|of|on)\s+(?:(?:the|fiscal|calendar|year|years|ended|"
    r"ending)\s+)*(?:[A-Z][a-z]+\.?\s+(?:\d{1,2},?\s+)?)?((?:19|20)\d{2})(?!\d|,\d{3})"
)
_AMOUNT_IN_TEXT = re.compile(
    r"\(?(?:[$€£¥]\s?)?[-−]?(?<![\w.,])(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
    rf"(?:\s?{_SCALE_WORD})?(?:\s?%|\s?percent\b)?\)?",
    re.IGNORECASE,
)


def sentence_values(text: str) -> dict[str, Amount]:
    """Figures a sentence ties to years: "$244 million for 2016, $249 million for 2015", or
    as many years and figures listed in order with "respectively"."""
    figures = [
        f
        for m in _AMOUNT_IN_TEXT.finditer(text)
        if (f := parse_figure(m.group(), m.start())) is not None
        and not _YEAR.fullmatch(m.group().strip())
        and not _in_date(text, m.start())
    ]
    if _RESPECTIVELY.search(text):
        years = header_years(text)
        if len(years) >= 2 and len(years) == len(figures):
            return dict(zip(years, figures, strict=True))
    found: dict[str, Amount] = {}
    for figure in figures:
        m = _FOR_YEAR.match(text[figure.end :])
        if m and m.group(1) not in found:
            found[m.group(1)] = figure
    return found


_MONTH = re.compile(
    r"(?:January|February|March|April|May|June|July|August|September|October|November|"
    r"December|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept?|Oct|Nov|Dec)\.?\s+$"
)


def _in_date(text: str, start: int) -> bool:
    """A day of a date ("March 31, 2012"), not an amount."""
    return _MONTH.search(text[max(0, start - 12) : start]) is not None


# The arithmetic ------------------------------------------------------------------------------
def compute(ask: Ask, values: Mapping[str, Amount]) -> Result | None:
    """``ask`` computed from ``values`` (figures by year), or None when a period it needs has
    no figure, the figures are not in one unit, or a rate would divide by zero."""
    if ask.op == "share" or any(p not in values for p in ask.periods):
        return None
    inputs = tuple((p, values[p]) for p in ask.periods)
    amounts = [a for _, a in inputs]
    if ask.op == "value":
        return Result(ask, amounts[0].value, amounts[0].text, inputs)
    if ask.op == "values":
        return Result(ask, None, ", ".join(f"{a.text} ({p})" for p, a in inputs), inputs)
    currencies = {a.prefix for a in amounts if a.prefix}
    suffixes = {a.suffix for a in amounts}
    if len(currencies) > 1 or len(suffixes) > 1:
        return None  # "$1.6 million" beside "2.7%": not one quantity
    prefix, suffix = (currencies.pop() if currencies else ""), suffixes.pop()
    decimals = max(a.decimals for a in amounts)
    commas = any(a.commas for a in amounts)
    first, last = amounts[0].value, amounts[-1].value
    if first < 0 and last < 0:
        first, last = -first, -last  # "(1,420)" to "(1,577)": an outflow that grew by 157
    if ask.op == "total":
        value = math.fsum(a.value for a in amounts)
        return Result(ask, value, _format(value, prefix, suffix, decimals, commas), inputs)
    if ask.op == "average":
        value = math.fsum(a.value for a in amounts) / len(amounts)
        text = _format(value, prefix, suffix, decimals + 2, commas, trim=True)
        return Result(ask, value, text, inputs)
    if ask.op == "percent_change" and suffix == "%" and not ask.relative:
        ask = Ask("change", ask.periods)  # "the change in the margin (%)": in points
    if ask.op == "change":
        value = last - first
        return Result(ask, value, _format(value, prefix, suffix, decimals, commas), inputs)
    if not first or (ask.op == "cagr" and (first < 0 or last < 0)):
        return None
    if ask.op == "percent_change":
        value = (last - first) / abs(first) * 100
    else:
        years = int(ask.periods[-1]) - int(ask.periods[0])
        value = ((last / first) ** (1 / years) - 1) * 100
    return Result(ask, value, _format(value, "", "%", 1, False), inputs)


def _format(
    value: float, prefix: str, suffix: str, decimals: int, commas: bool, *, trim: bool = False
) -> str:
    text = f"{abs(value):,.{decimals}f}" if commas else f"{abs(value):.{decimals}f}"
    if trim and "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{'-' if value < 0 else ''}{prefix}{text}{suffix}"
