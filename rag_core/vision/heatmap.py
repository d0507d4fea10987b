"""Visual citations: where on a page the query's words match, as a heatmap over the page.

The model reads a page as a grid of patches that tile the whole (resized) image, row-major:
patch ``(r, c)`` of a ``rows x cols`` grid covers ``x in [c*W/cols, (c+1)*W/cols)`` and
``y in [r*H/rows, (r+1)*H/rows)`` of a ``W x H`` page image. A patch's score is the mean,
over the query's word tokens, of the similarity with the vector that stands for that patch
in the index (its pooled cluster), so the heatmap shows what the search actually scored.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def cell_box(
    grid: tuple[int, int], size: tuple[int, int], row: int, col: int
) -> tuple[float, float, float, float]:
    """The ``(left, top, right, bottom)`` pixels of patch ``(row, col)`` in a ``size`` image."""
    rows, cols = grid
    width, height = size
    w, h = width / cols, height / rows
    return (col * w, row * h, (col + 1) * w, (row + 1) * h)


def patch_scores(
    query: np.ndarray, vectors: np.ndarray, labels: np.ndarray, grid: tuple[int, int]
) -> np.ndarray:
    """``(rows, cols)`` mean similarity of the query tokens ``(nq, dim)`` with each patch."""
    rows, cols = grid
    if len(labels) != rows * cols:
        raise ValueError(f"{len(labels)} patch labels do not fill a {rows}x{cols} grid")
    sims = np.asarray(query, np.float32) @ np.asarray(vectors, np.float32).T  # (nq, n)
    return np.asarray(sims[:, labels].mean(axis=0).reshape(rows, cols), dtype=np.float32)


def heat(scores: np.ndarray) -> np.ndarray:
    """Scores rescaled to ``[0, 1]`` (a flat page is all zeros)."""
    low, high = float(scores.min()), float(scores.max())
    if high - low <= 1e-9:
        return np.zeros_like(scores, dtype=np.float32)
    return np.asarray((scores - low) / (high - low), dtype=np.float32)


def colour(values: np.ndarray) -> np.ndarray:
    """A blue-cyan-yellow-red ramp for values in ``[0, 1]``: ``(..., 3)`` floats in ``[0, 1]``."""
    v = np.clip(values, 0.0, 1.0)[..., None]
    centres = np.asarray([3.0, 2.0, 1.0])  # red, green, blue
    return np.asarray(np.clip(1.5 - np.abs(4.0 * v - centres), 0.0, 1.0), dtype=np.float32)


def overlay(image: Any, scores: np.ndarray, strength: float = 0.6) -> Any:
    """The page image with the patch heat blended over it (a PIL RGB image).

    The grid is upsampled bilinearly, which puts each patch's value at the centre of its
    cell; cold areas stay almost clear so the page remains readable.
    """
    from PIL import Image

    base = image.convert("RGB")
    width, height = base.size
    grid = Image.fromarray(heat(scores))  # mode F: 32-bit float
    smooth = np.asarray(grid.resize((width, height), Image.Resampling.BILINEAR), np.float32)
    alpha = (0.1 + strength * smooth)[..., None]
    pixels = np.asarray(base, np.float32) / 255.0
    blended = pixels * (1.0 - alpha) + colour(smooth) * alpha
    return Image.fromarray(np.asarray(np.round(blended * 255.0), np.uint8))
