"""Networks: parametric plain nets, data-dependent initialization (LSUV), init-time measurement.

Modules (import them directly; this package imports nothing so that the keras-free
ones stay light):

* :mod:`cnnviz.nets.params` — the parameters of ``plain_mlp``/``plain_cnn`` and their validation (no Keras);
* :mod:`cnnviz.nets.activations` — activation names, Gaussian moments and gains (numpy only);
* :mod:`cnnviz.nets.weight_variance` — Var[w] of every named initializer (no Keras);
* :mod:`cnnviz.nets.plain` — the layer tables of ``plain_mlp``/``plain_cnn``;
* :mod:`cnnviz.nets.lsuv` — Mishkin & Matas's layer-sequential unit-variance initialization;
* :mod:`cnnviz.nets.measure` — one forward pass, per-layer pre-activation std at init, next to the theory.
"""
