"""Moved to :mod:`cnnviz.diagnosis` (kept so existing imports keep working)."""

from cnnviz.diagnose import *  # noqa: F401,F403
from cnnviz.diagnosis.activations import SATURATION_Z  # noqa: F401
