"""Data: datasets by name (the embedded MNIST sample first), and a person's own image folders.

* :mod:`cnnviz.data.datasets` — named datasets, the embedded sample, adapting batches to a network's input;
* :mod:`cnnviz.data.image_folder` — one sub-folder of images per class, as a :class:`Dataset`.

No TensorFlow at import: resizing and the Keras downloads import it when they are used.
"""

from cnnviz.data.datasets import (DATASETS, OFFLINE_HINT, Dataset, adapt_images,  # noqa: F401
                                  describe_adaptation, load_dataset)
