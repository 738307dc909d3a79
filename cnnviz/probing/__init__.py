"""Probing: what a network's numbers look like, recorded on the host.

* :mod:`cnnviz.probing.probes` — the probed model: the conv/dense layers whose pre-activations are read;
* :mod:`cnnviz.probing.graph` — in-graph summaries and histograms (TensorFlow; runs inside the compiled step);
* :mod:`cnnviz.probing.histograms` — the host-side :class:`Summary` and re-binning (no TensorFlow);
* :mod:`cnnviz.probing.snapshot` — :class:`Snapshot`/:class:`LayerSnapshot`, one probed step (no TensorFlow);
* :mod:`cnnviz.probing.history` — snapshots as a tidy DataFrame, CSV/Parquet export;
* :mod:`cnnviz.probing.feature_maps` — kernels and feature maps of a run's layers.

Import the modules directly: this package imports nothing, so figures and diagnosis can read
snapshots and histograms without loading TensorFlow.
"""
