"""What a PDF page costs pdfium to read, measured with pypdf before pdfium parses it.

pdfium parses a page's content streams when it loads the page, and a form XObject's stream
again every time the page draws it: a 1.2 KB file whose page drew one 100 KB form 1,000
times took 7.7 s and 1.2 GB to load (measured). So the cost of a page is the decoded bytes
pdfium would parse: its content streams, each drawn form's cost times the number of times
it is drawn (nested forms multiply), and its annotations' appearances. Decoding stops once
a budget is passed, so measuring a hostile page is cheap.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

_DELIMITERS = rb"\s/\[\]<>(){}%"
# "/Name Do", whitespace or comments between the two; the name may escape bytes as #xx.
_DRAW = re.compile(rb"/([^" + _DELIMITERS + rb"]+)(?:\s|%[^\r\n]*)+Do(?![^" + _DELIMITERS + rb"])")


class OverBudget(Exception):
    """Decoding passed the budget; ``cost`` is what was counted by then."""

    def __init__(self, cost: int) -> None:
        super().__init__(f"over budget at {cost} bytes")
        self.cost = cost


def page_content_cost(page: Any, budget: int) -> int:
    """Decoded content bytes pdfium parses to load and draw ``page`` (a pypdf page).

    Raises ``OverBudget`` as soon as the count passes ``budget``.
    """
    meter = _Meter(budget)
    resources = _resolve(page.get("/Resources"))
    contents = _resolve(page.get("/Contents"))
    parts = []
    for stream in contents if isinstance(contents, list) else [contents]:
        parts.append(_decoded(stream, meter))
        meter.add(len(parts[-1]))
    # A page's streams are one content stream cut in pieces: a draw may span two.
    meter.add(_draws_cost(b"\n".join(parts), resources, meter, depth=0))
    for annotation in _resolve(page.get("/Annots")) or []:
        appearance = _resolve(_get(_resolve(_get(_resolve(annotation), "/AP")), "/N"))
        for stream in _appearance_streams(appearance):
            meter.add(_form_cost(stream, resources, meter, depth=1))
    return meter.total


class _Meter:
    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.total = 0
        self.decoded = 0  # bytes decoded to measure (each form once)
        self.forms: dict[object, int] = {}  # id of a form stream -> its cost, counted once
        self.drawing: set[object] = set()  # forms being measured (pdfium skips recursive draws)

    def add(self, cost: int) -> None:
        self.total += cost
        if self.total > self.budget:
            raise OverBudget(self.total)

    @property
    def left(self) -> int:
        return max(0, self.budget - self.total)


def _decoded(stream: Any, meter: _Meter) -> bytes:
    """The stream's decoded bytes, or ``OverBudget`` when they would pass what is left."""
    import pypdf
    from pypdf.errors import LimitReachedError

    if not hasattr(stream, "get_data"):
        return b""
    limit = min(meter.left, meter.budget - meter.decoded) + 1
    try:
        with pypdf.apply_configuration(
            zlib_maximum_output_length=limit,
            lzw_maximum_output_length=limit,
            run_length_maximum_output_length=limit,
            brotli_maximum_output_length=limit,
            array_based_stream_maximum_output_length=limit,
        ):
            data: bytes = stream.get_data()
    except LimitReachedError as exc:
        raise OverBudget(meter.total + limit) from exc
    meter.decoded += len(data)
    if len(data) > meter.left or meter.decoded > meter.budget:
        raise OverBudget(meter.total + len(data))
    return data


def _draws_cost(data: bytes, resources: Any, meter: _Meter, depth: int) -> int:
    """The cost of the forms drawn by content ``data``, each times the number of draws."""
    counts: dict[str, int] = {}
    for match in _DRAW.finditer(data):
        name = _name(match[1])
        counts[name] = counts.get(name, 0) + 1
    if not counts:
        return 0
    xobjects = _resolve(_get(resources, "/XObject"))
    named = dict(xobjects.items()) if hasattr(xobjects, "items") else {}

    def form_cost(key: str) -> int:
        obj = _resolve(named[key])
        if _get(obj, "/Subtype") != "/Form":
            return 0
        return _form_cost(obj, resources, meter, depth + 1)

    cost = 0
    for name, times in counts.items():
        if name in named:
            cost += times * form_cost(name)
        else:  # a name pypdf reads differently than pdfium: charged as the dearest form
            cost += times * max((form_cost(key) for key in named), default=0)
        if cost > meter.left:
            raise OverBudget(meter.total + cost)
    return cost


def _name(raw: bytes) -> str:
    """A name as pypdf reads it (``#xx`` escapes, then UTF-8, GBK or Latin-1)."""
    from pypdf.generic import NameObject

    data = b"/" + NameObject.unnumber(raw)
    for charset in NameObject.CHARSETS:
        try:
            return data.decode(charset)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def _form_cost(form: Any, parent_resources: Any, meter: _Meter, depth: int) -> int:
    ref = getattr(form, "indirect_reference", None)
    key = (ref.idnum, ref.generation) if ref is not None else id(form)
    if key in meter.forms:
        return meter.forms[key]
    if key in meter.drawing or depth > 64:
        return 0  # pdfium does not draw a form inside itself
    meter.drawing.add(key)
    try:
        resources = _resolve(_get(form, "/Resources")) or parent_resources
        data = _decoded(form, meter)
        cost = len(data) + _draws_cost(data, resources, meter, depth)
    finally:
        meter.drawing.discard(key)
    meter.forms[key] = cost
    return cost


def _appearance_streams(appearance: Any) -> Iterator[Any]:
    """An annotation's normal appearance: one stream, or one per state."""
    if appearance is None:
        return
    if hasattr(appearance, "get_data"):
        yield appearance
    elif hasattr(appearance, "values"):
        for state in appearance.values():
            state = _resolve(state)
            if hasattr(state, "get_data"):
                yield state


def _get(obj: Any, key: str) -> Any:
    return obj.get(key) if hasattr(obj, "get") else None


def _resolve(obj: Any) -> Any:
    """The object behind an indirect reference; lists with their items resolved."""
    if obj is None:
        return None
    if hasattr(obj, "get_object"):
        obj = obj.get_object()
    if isinstance(obj, list):
        return [item.get_object() if hasattr(item, "get_object") else item for item in obj]
    return obj
