"""Optimizers on 2D toy surfaces: surfaces, trajectories, preset lessons and basin maps.

- :mod:`cnnviz.playground.surfaces`: the named surfaces (numpy and TensorFlow from one formula)
- :mod:`cnnviz.playground.engine`: one compiled Keras optimizer loop per optimizer kind
- :mod:`cnnviz.playground.trajectories`: one optimizer's path, comparisons of several
- :mod:`cnnviz.playground.presets`: named lessons (a surface, a start, optimizers to race)
- :mod:`cnnviz.playground.basins`: every start of a grid at once, classified by where it ends
- :mod:`cnnviz.playground.entries`: the page's optimizer entries ("momentum #2") and their settings

Only the surfaces and entries import without TensorFlow; the rest import it on first use.
"""
