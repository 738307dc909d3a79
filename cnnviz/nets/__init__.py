"""Networks: the zoo, layer specs, initializers, optimizers, plain nets, init-time measurement.

Modules (import them directly; this package imports nothing so that the Keras-free
ones stay light):

* :mod:`cnnviz.nets.zoo` — the named architectures, built as real Keras models;
* :mod:`cnnviz.nets.layers` — layer specs, output sizes and parameter counts (the Architecture page's maths);
* :mod:`cnnviz.nets.initializers` — weight initializers by name;
* :mod:`cnnviz.nets.optimizers` — optimizers by name and their hyperparameters (Keras imported on use);
* :mod:`cnnviz.nets.params` — the parameters of ``plain_mlp``/``plain_cnn`` and their validation (no Keras);
* :mod:`cnnviz.nets.activations` — activation names, Gaussian moments and gains (numpy only);
* :mod:`cnnviz.nets.backward` — the backward signal's theory per activation (numpy only);
* :mod:`cnnviz.nets.weight_variance` — Var[w] of every named initializer (no Keras);
* :mod:`cnnviz.nets.plain` — the layer tables of ``plain_mlp``/``plain_cnn``;
* :mod:`cnnviz.nets.forward` — one layer-by-layer forward pass with a hook after each weighted layer;
* :mod:`cnnviz.nets.lsuv` — Mishkin & Matas's layer-sequential unit-variance initialization;
* :mod:`cnnviz.nets.measure` — one forward pass, per-layer pre-activation std at init, next to the theory;
* :mod:`cnnviz.nets.depth_view` — std per layer of several runs for the depth chart.
"""
