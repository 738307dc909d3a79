"""Layer tables of the parametric architectures ``plain_mlp`` and ``plain_cnn``.

Both are written in the zoo's layer-spec language (:mod:`cnnviz.nets.layers`), so shape
arithmetic, exact parameter counts, layer tables and the Keras builder work on them
unchanged. The conventions:

* hidden layer *i* is ``dense{i}`` / ``conv{i}`` with ``activation=None``, then (with
  ``norm``) ``dense{i}_batchnorm`` / ``dense{i}_layernorm``, then the explicit activation
  layer ``dense{i}_<activation>`` (none for ``linear``);
* ``residual``: hidden layers 2..depth become blocks ``h + act(norm(layer(h)))`` (the
  skip ``dense{i}_skip`` adds the block input *after* the activation, so each probed
  pre-activation is still its layer's own output). Layer 1 maps the input to ``width``
  and has no skip: its input and output shapes differ in general;
* ``plain_mlp``: flatten the image, ``depth`` dense layers of ``width`` units, ``logits``;
* ``plain_cnn``: ``depth`` 3x3 convs of ``width`` channels, stride 1, 'same' padding (the
  spatial size never changes, so any depth fits any input), then global average
  pooling (``gap``: one number per channel, so the classifier stays ``width`` × classes
  whatever the image size) and the linear ``logits`` layer.
"""

from __future__ import annotations

from cnnviz.nets.activations import canonical
from cnnviz.nets.layers import Conv, Dense, Flatten, GlobalPool, LayerSpec
from cnnviz.nets.params import CNN_KERNEL, PlainNet


def plain_specs(net: PlainNet) -> list[LayerSpec]:
    """The layer table of ``net`` (a :class:`~cnnviz.nets.params.PlainNet`)."""
    activation = canonical(net.activation)
    hidden: list[LayerSpec] = []
    for i in range(1, net.depth + 1):
        skip = net.residual and i > 1
        if net.arch == "plain_mlp":
            hidden.append(Dense(f"dense{i}", net.width, activation, norm=net.norm, residual=skip))
        else:
            hidden.append(Conv(f"conv{i}", net.width, CNN_KERNEL, stride=1, padding="same", activation=activation,
                               norm=net.norm, residual=skip))
    logits = Dense("logits", 0, "linear")
    if net.arch == "plain_mlp":
        return [Flatten(), *hidden, logits]
    return [*hidden, GlobalPool("gap"), logits]
