"""Moved to :mod:`cnnviz.training.checkpoint` (kept so existing imports keep working)."""

from cnnviz.training.checkpoint import *  # noqa: F401,F403
from cnnviz.training.checkpoint import load_run, save_run, snapshot_from_record, snapshot_record  # noqa: F401
