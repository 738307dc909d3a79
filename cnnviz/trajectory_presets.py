"""Moved to :mod:`cnnviz.playground.presets`; this name keeps old imports working."""

from cnnviz.playground.presets import *  # noqa: F401,F403
from cnnviz.playground.presets import PRESETS, Preset, get_preset, run_preset  # noqa: F401
