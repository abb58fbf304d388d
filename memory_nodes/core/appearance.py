"""Appearance descriptors with OpenCV: hue-saturation histograms of an object's pixels.

Hue and saturation change less with lighting than RGB, so the same mug under a lamp and in
daylight gives similar descriptors. Descriptors are L2-normalised float32 vectors compared by
dot product (cosine), the comparison the spatial memory uses for association and re-identification.
"""

from __future__ import annotations

import cv2
import numpy as np

from memory_nodes.core.errors import InvalidInputError

HUE_BINS = 16
SATURATION_BINS = 4
DESCRIPTOR_SIZE = HUE_BINS * SATURATION_BINS


def colour_histogram(image_bgr: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """(DESCRIPTOR_SIZE,) unit hue-saturation histogram of the pixels of an (H, W, 3) uint8 BGR
    image where ``mask`` (H, W) is non-zero (all pixels without a mask). Raises on empty input."""
    image = np.asarray(image_bgr)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise InvalidInputError(f"need an (H, W, 3) uint8 BGR image, got {image.shape} {image.dtype}")
    if mask is not None:
        mask = np.asarray(mask)
        if mask.shape != image.shape[:2]:
            raise InvalidInputError(f"mask is {mask.shape}, image is {image.shape[:2]}")
        mask = (mask > 0).astype(np.uint8)
        if not mask.any():
            raise InvalidInputError("mask selects no pixel")
    hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV)
    hist = cv2.calcHist([hsv], [0, 1], mask, [HUE_BINS, SATURATION_BINS], [0, 180, 0, 256]).reshape(-1)
    norm = float(np.linalg.norm(hist))
    if norm == 0.0:
        raise InvalidInputError("no pixel to describe")
    return (hist / norm).astype(np.float32)


def main_colour_share(seen: np.ndarray, descriptor: np.ndarray, held: float = 0.5) -> float:
    """The share of the pixels described by ``seen`` (a ``colour_histogram``) whose hue-saturation
    bin is one of ``descriptor``'s main colours: the fewest bins that hold ``held`` of its pixels,
    greys left out (0 for a grey object). A small object's place mixes its pixels with what is
    around it, which lowers the cosine of the two histograms however much of the object is there;
    this counts how much of it is. Both are scaled counts, so shares of their sums are pixel shares."""
    counts = np.asarray(descriptor, dtype=np.float64)
    order = np.argsort(-counts, kind="stable")
    cumulative = np.cumsum(counts[order]) / max(float(counts.sum()), 1e-12)
    main = np.zeros(DESCRIPTOR_SIZE, dtype=bool)
    main[order[:int(np.searchsorted(cumulative, held)) + 1]] = True
    # Greys (the least saturated bins) are no main colour: hue means nothing there, and walls, tables
    # and floors are mostly grey, so a grey place shows nothing of a white plate's presence.
    main[::SATURATION_BINS] = False
    pixels = np.asarray(seen, dtype=np.float64)
    return float(pixels[main].sum() / max(float(pixels.sum()), 1e-12))


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity in [0, 1] of two descriptors from ``colour_histogram``."""
    return float(np.clip(np.dot(a, b), 0.0, 1.0))
