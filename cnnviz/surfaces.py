"""Moved to :mod:`cnnviz.playground.surfaces`; this name keeps old imports working."""

from cnnviz.playground.surfaces import *  # noqa: F401,F403
from cnnviz.playground.surfaces import SURFACES, Point, Surface, evaluate_grid, get_surface, nearest_minimum  # noqa: F401
