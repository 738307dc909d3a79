"""Histograms on the host: the :class:`Summary` record a probe leaves behind, and re-binning.

No TensorFlow here: figures, diagnosis and run-folder readers use these without it.
The in-graph side that fills a Summary is :mod:`cnnviz.probing.graph`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np


@dataclass
class Summary:
    """A tensor's distribution in a few numbers plus a fixed-width histogram (host side).

    ``hist_edges`` are this summary's own bin edges (they span the finite [min, max]
    of the values summarised); ``hist_counts`` sum to ``count - nonfinite``.
    """

    mean: float
    std: float
    min: float
    max: float
    frac_nonpositive: float
    nonfinite: int
    count: int
    hist_edges: list[float]
    hist_counts: list[int]

    @classmethod
    def from_tensors(cls, values: dict) -> Summary:
        """Convert the dict from :func:`tensor_summary` (after evaluation) to plain Python."""
        counts = np.asarray(values["hist"]).astype(int)
        lo, hi = float(values["hist_lo"]), float(values["hist_hi"])
        edges = histogram_edges(lo, hi, len(counts))
        return cls(float(values["mean"]), float(values["std"]), float(values["min"]), float(values["max"]),
                   float(values["frac_nonpositive"]), int(values["nonfinite"]), int(values["count"]),
                   edges.tolist(), counts.tolist())

    @property
    def finite(self) -> bool:
        return self.nonfinite == 0 and math.isfinite(self.std)

    def to_dict(self) -> dict:
        """The JSON shape of the public contract (``hist`` = {edges, counts})."""
        data = asdict(self)
        data["hist"] = {"edges": data.pop("hist_edges"), "counts": data.pop("hist_counts")}
        return data


def histogram_edges(lo: float, hi: float, bins: int) -> np.ndarray:
    """The ``bins + 1`` edges ``tf.histogram_fixed_width`` used for range [lo, hi].

    Computed in float64 from the float32 range: ``np.linspace`` on spans near the
    float32 limit would overflow in float32.
    """
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return np.full(bins + 1, math.nan)
    return lo + (hi - lo) * np.linspace(0.0, 1.0, bins + 1)


def rebin(edges, counts, new_edges) -> np.ndarray:
    """Redistribute a histogram onto other bin edges, assuming values spread evenly inside a bin.

    Counts are conserved for the part of ``edges`` that ``new_edges`` covers; a figure that
    puts several steps (each with its own range) on one axis uses this. Returns floats.
    """
    edges, counts, new_edges = (np.asarray(a, float) for a in (edges, counts, new_edges))
    if len(counts) == 0 or not np.all(np.isfinite(edges)):
        return np.zeros(len(new_edges) - 1)
    # Cumulative count as a piecewise-linear function of the value, sampled at the new edges.
    cumulative = np.concatenate([[0.0], np.cumsum(counts)])
    if edges[-1] <= edges[0]:
        return np.histogram([edges[0]], bins=new_edges)[0] * cumulative[-1]
    at_new = np.interp(new_edges, edges, cumulative, left=0.0, right=cumulative[-1])
    return np.diff(at_new)


