"""Feature vectors as every extractor returns them."""

from __future__ import annotations

import numpy as np

__all__ = ["unit_rows"]


def unit_rows(features: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (a row of zeros stays zeros)."""
    features = np.asarray(features, dtype=np.float32)
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    return features / np.where(norms > 0, norms, 1.0)
