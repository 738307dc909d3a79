"""Bring your own model: a person's ``.keras`` file, opened safely, probed like a zoo network.

* :mod:`cnnviz.usermodels.loading` — refuse files that could run code or exhaust memory, then load;
* :mod:`cnnviz.usermodels.probe` — flatten the graph, find each layer's pre-activation and the logits;
* :mod:`cnnviz.usermodels.run` — a :class:`cnnviz.training.Run` over the probed model (``prepare_user_run``).
* :mod:`cnnviz.usermodels.upload` — an upload (file, images, settings) checked and planned into runs.

Import the modules directly: this package imports nothing, so the loading checks stay free of Keras.
"""
