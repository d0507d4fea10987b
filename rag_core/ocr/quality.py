"""How well OCR read a page: the character error rate against the known text."""

from __future__ import annotations


def cer(reference: str, read: str) -> float:
    """Edit distance between the two texts, spaces and line breaks removed, over the
    reference's length (0: identical; 1.0 when the reference is empty and ``read`` is not)."""
    from rapidfuzz.distance import Levenshtein

    ref = "".join(reference.split())
    hyp = "".join(read.split())
    if not ref:
        return 0.0 if not hyp else 1.0
    return Levenshtein.distance(ref, hyp) / len(ref)
