"""Heatmap geometry: patch (r, c) of a rows x cols grid covers its cell of the page image."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from rag_core.vision.heatmap import cell_box, colour, heat, overlay, patch_scores


def test_cell_boxes_tile_the_image():
    assert cell_box((2, 3), (300, 200), 0, 0) == (0.0, 0.0, 100.0, 100.0)
    assert cell_box((2, 3), (300, 200), 1, 2) == (200.0, 100.0, 300.0, 200.0)
    boxes = [cell_box((4, 6), (330, 220), r, c) for r in range(4) for c in range(6)]
    area = sum((x1 - x0) * (y1 - y0) for x0, y0, x1, y1 in boxes)
    assert area == pytest.approx(330 * 220)


def test_patch_scores_follow_the_patch_labels():
    vectors = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])  # pooled rows
    labels = np.array([1, 2, 2, 0, 1, 0])  # row per patch of a 2 x 3 grid
    query = np.array([[1.0, 0.0], [0.0, 1.0]])
    scores = patch_scores(query, vectors, labels, (2, 3))
    per_row = {0: 0.5, 1: 0.5, 2: 0.7}  # mean over the two query tokens
    np.testing.assert_allclose(
        scores, [[per_row[x] for x in labels[:3]], [per_row[x] for x in labels[3:]]]
    )
    with pytest.raises(ValueError, match="do not fill a 3x3 grid"):
        patch_scores(query, vectors, labels, (3, 3))


def test_heat_and_colour_ramp():
    assert heat(np.full((2, 2), 0.3)).tolist() == [[0.0, 0.0], [0.0, 0.0]]
    np.testing.assert_allclose(heat(np.array([[1.0, 3.0], [2.0, 5.0]])), [[0, 0.5], [0.25, 1]])
    np.testing.assert_allclose(
        colour(np.array([0.0, 0.5, 1.0])), [[0, 0, 0.5], [0.5, 1, 0.5], [0.5, 0, 0]]
    )


def test_the_hot_patch_lands_on_its_cell():
    # 55-pixel cells: the centre of cell (2, 4) is the centre of pixel (247, 137).
    page = Image.new("RGB", (330, 220), "white")
    scores = np.zeros((4, 6))
    scores[2, 4] = 1.0
    out = np.asarray(overlay(page, scores), np.float32)
    alpha = 0.1 + 0.6 * 1.0
    expected = 255 * ((1 - alpha) + alpha * colour(np.array(1.0)))
    np.testing.assert_allclose(out[137, 247], expected, atol=1.0)
    cold = 255 * ((1 - 0.1) + 0.1 * colour(np.array(0.0)))
    np.testing.assert_allclose(out[10, 10], cold, atol=1.0)
    change = np.abs(out - 255.0).sum(axis=2)
    y, x = np.unravel_index(np.argmax(change), change.shape)
    left, top, right, bottom = (220, 110, 275, 165)
    assert left <= x < right and top <= y < bottom


def test_markers_split_across_streamed_pieces():
    from rag_core.answer.claude import _PageMarkers

    markers = _PageMarkers(images=2)
    pieces = [
        *markers.feed("Sales rose ["),
        *markers.feed("P"),
        *markers.feed("2] and [P9] ok [P1]"),
    ]
    pieces += markers.feed(" [")
    pieces += markers.flush()
    merged: list[str | int] = []
    for piece in pieces:  # how the pieces are cut does not matter, their order does
        if isinstance(piece, str) and merged and isinstance(merged[-1], str):
            merged[-1] += piece
        else:
            merged.append(piece)
    assert merged == ["Sales rose ", 1, " and [P9] ok ", 0, " ["]
    assert _PageMarkers(images=0).feed("[P1]") == ["[P1]"]
