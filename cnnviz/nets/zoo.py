"""The model zoo: every seed tutorial's network as a small layer table, plus two parametric ones.

Every network ends in a linear ``logits`` layer; softmax is applied by the loss
(``from_logits=True``) and by the probes, so logits stay observable. Conv and dense
layers are followed by explicit activation layers (see :mod:`cnnviz.nets.layers`).

``plain_mlp`` and ``plain_cnn`` take a depth, width, activation, normalization and
residual switch (:class:`cnnviz.nets.params.PlainNet`; tables in
:mod:`cnnviz.nets.plain`). Every function here that takes an architecture accepts a
name (a plain net then gets its defaults, or the fields passed as keywords), a
:class:`~cnnviz.config.RunConfig` or a ``PlainNet``. The training core builds any
config's model with :func:`build_from_config`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import keras
import numpy as np

from cnnviz.errors import UserError, check_choice
from cnnviz.nets.initializers import is_data_dependent
from cnnviz.nets.layers import Conv, Dense, Dropout, Flatten, LayerSpec, Pool, build_model, table_rows
from cnnviz.nets.params import PlainNet, check_fixed_arch_fields, is_plain
from cnnviz.nets.plain import plain_specs

MNIST_SHAPE = (28, 28, 1)


@dataclass(frozen=True)
class ArchInfo:
    """A named architecture: its layer table and the input it was designed for."""

    name: str
    description: str
    source: str
    input_shape: tuple[int, int, int]
    classes: int
    build_specs: Callable[[], list[LayerSpec]]
    parametric: bool = False  # plain_mlp / plain_cnn: specs() is the default net; see specs_for()

    def specs(self) -> list[LayerSpec]:
        return self.build_specs()


def _logits() -> Dense:
    return Dense("logits", 0, "linear")


def softmax_regression() -> list[LayerSpec]:
    """One fully connected layer from pixels to class scores."""
    return [Flatten(), _logits()]


def ltfn_mlp() -> list[LayerSpec]:
    """784-500-500-10 with ReLU."""
    return [Flatten(), Dense("fc1", 500), Dense("fc2", 500), _logits()]


def ltfn_convnet() -> list[LayerSpec]:
    """Four 3x3 convs (64, 64, 128, 128) with two 2x2 max pools, then the classifier."""
    return [Conv("conv1", 64, 3), Conv("conv2", 64, 3), Pool("pool1"),
            Conv("conv3", 128, 3), Conv("conv4", 128, 3), Pool("pool2"),
            Flatten(), _logits()]


def ltfn_vgg() -> list[LayerSpec]:
    """VGG shrunk for MNIST padded to 32x32: 10 convs in 4 blocks, fc 4096, fc 10."""
    specs: list[LayerSpec] = []
    n = 0
    for block, (filters, repeats) in enumerate([(64, 2), (128, 2), (256, 3), (512, 3)], start=1):
        for _ in range(repeats):
            n += 1
            specs.append(Conv(f"conv{n}", filters, 3))
        specs.append(Pool(f"pool{block}"))
    return specs + [Flatten(), Dense("fc1", 4096), _logits()]


def lenet5() -> list[LayerSpec]:
    """LeCun 1998 style: 5x5 convs with sigmoid and average pooling, fc 120-84."""
    return [Conv("conv1", 6, 5, activation="sigmoid"), Pool("pool1", "avg"),
            Conv("conv2", 16, 5, padding="valid", activation="sigmoid"), Pool("pool2", "avg"),
            Flatten(), Dense("fc1", 120, "sigmoid"), Dense("fc2", 84, "sigmoid"), _logits()]


def lenet5_like() -> list[LayerSpec]:
    """LeNet-5's table with today's choices: ReLU and max pooling."""
    return [Conv("conv1", 6, 5), Pool("pool1"),
            Conv("conv2", 16, 5, padding="valid"), Pool("pool2"),
            Flatten(), Dense("fc1", 120), Dense("fc2", 84), _logits()]


def alexnet() -> list[LayerSpec]:
    """AlexNet (2012) without local response normalisation, overlapping 3x3/2 pools."""
    return [Conv("conv1", 96, 11, stride=4, padding="valid"), Pool("pool1", size=3, stride=2),
            Conv("conv2", 256, 5), Pool("pool2", size=3, stride=2),
            Conv("conv3", 384, 3), Conv("conv4", 384, 3), Conv("conv5", 256, 3),
            Pool("pool3", size=3, stride=2),
            Flatten(), Dense("fc1", 4096), Dropout("drop1", 0.5),
            Dense("fc2", 4096), Dropout("drop2", 0.5), _logits()]


def vgg16() -> list[LayerSpec]:
    """VGG-16 (2014): 13 3x3 convs in 5 blocks, fc 4096-4096."""
    specs: list[LayerSpec] = []
    n = 0
    for block, (filters, repeats) in enumerate([(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)], start=1):
        for _ in range(repeats):
            n += 1
            specs.append(Conv(f"conv{n}", filters, 3))
        specs.append(Pool(f"pool{block}"))
    return specs + [Flatten(), Dense("fc1", 4096), Dense("fc2", 4096), _logits()]


def conv2_5x5() -> list[LayerSpec]:
    """Two 5x5 convs (32, 64) with max pools, fc 1000."""
    return [Conv("conv1", 32, 5), Pool("pool1"), Conv("conv2", 64, 5), Pool("pool2"),
            Flatten(), Dense("fc1", 1000), _logits()]


def conv3_dropout() -> list[LayerSpec]:
    """Three 3x3 convs (32, 64, 128), 'same'-padded max pools, dropout, fc 625."""
    return [Conv("conv1", 32, 3), Pool("pool1", padding="same"), Dropout("drop1", 0.2),
            Conv("conv2", 64, 3), Pool("pool2", padding="same"), Dropout("drop2", 0.2),
            Conv("conv3", 128, 3), Pool("pool3", padding="same"), Flatten(), Dropout("drop3", 0.2),
            Dense("fc1", 625), Dropout("drop4", 0.5), _logits()]


ARCHITECTURES: dict[str, ArchInfo] = {info.name: info for info in [
    ArchInfo("softmax_regression", "one fully connected layer (multinomial logistic regression)", "seed 001", MNIST_SHAPE, 10, softmax_regression),
    ArchInfo("ltfn_mlp", "3-layer MLP 784-500-500-10, ReLU", "seed 002", MNIST_SHAPE, 10, ltfn_mlp),
    ArchInfo("ltfn_convnet", "4 conv layers 64-64-128-128 (3x3), 2 max pools, fc 10", "seeds 000/002", MNIST_SHAPE, 10, ltfn_convnet),
    ArchInfo("ltfn_vgg", "VGG modified for MNIST padded to 32x32: 10 convs, fc 4096", "seed 002", (32, 32, 1), 10, ltfn_vgg),
    ArchInfo("lenet5", "LeNet-5: sigmoid + average pooling, fc 120-84", "seed 001", MNIST_SHAPE, 10, lenet5),
    ArchInfo("lenet5_like", "LeNet-5 with ReLU + max pooling", "seed 001", MNIST_SHAPE, 10, lenet5_like),
    ArchInfo("alexnet", "AlexNet: 5 convs (11x11/4 first), 3 overlapping max pools, fc 4096-4096", "seed 001", (224, 224, 3), 17, alexnet),
    ArchInfo("vgg16", "VGG-16: 13 3x3 convs in 5 blocks, fc 4096-4096", "seed 001", (224, 224, 3), 1000, vgg16),
    ArchInfo("conv2_5x5", "2 conv layers 5x5 (32, 64), max pools, fc 1000", "seed 003", MNIST_SHAPE, 10, conv2_5x5),
    ArchInfo("conv3_dropout", "3 conv layers 3x3 (32, 64, 128), max pools, dropout, fc 625", "seed 004", MNIST_SHAPE, 10, conv3_dropout),
    ArchInfo("plain_mlp", "plain MLP of any depth/width/activation (--depth --width --activation --norm --residual)",
             "issue 15", MNIST_SHAPE, 10, lambda: plain_specs(PlainNet.with_defaults("plain_mlp")), parametric=True),
    ArchInfo("plain_cnn", "plain CNN of 3x3 'same' convs, any depth/width/activation, global average pooling",
             "issue 15", MNIST_SHAPE, 10, lambda: plain_specs(PlainNet.with_defaults("plain_cnn")), parametric=True),
]}
# Images LSUV rescales on when the caller brings none (drawn from the training split, see lsuv_images).
LSUV_IMAGES = 256


def get_arch(name: str) -> ArchInfo:
    """The :class:`ArchInfo` for ``name`` (UserError listing valid names otherwise)."""
    return ARCHITECTURES[check_choice("architecture", name, ARCHITECTURES)]


def resolve_net(arch, net: PlainNet | None = None, **fields) -> tuple[str, PlainNet | None]:
    """(architecture name, its PlainNet or None) from a name, a RunConfig or a PlainNet.

    With a name, ``net`` or the keyword fields (depth, width, activation, norm, residual;
    None = default) describe a plain net; giving any of them for a fixed architecture is
    a UserError.
    """
    if isinstance(arch, PlainNet):
        return arch.arch, arch
    if not isinstance(arch, str):  # a RunConfig (duck-typed: zoo does not import config)
        return resolve_net(arch.arch, arch.net)
    get_arch(arch)
    if not is_plain(arch):
        check_fixed_arch_fields(arch, {**fields, **(net.to_dict() if net else {})})
        return arch, None
    if net is not None:
        if any(value is not None for value in fields.values()):
            raise UserError("give a plain net's parameters either as net= or as fields, not both")
        if net.arch != arch:
            raise UserError(f"the net's parameters are for {net.arch}, not {arch}")
        return arch, net
    return arch, PlainNet.with_defaults(arch, **fields)


def specs_for(arch, net: PlainNet | None = None, **fields) -> list[LayerSpec]:
    """The layer table of an architecture (name + fields, RunConfig or PlainNet)."""
    name, plain = resolve_net(arch, net, **fields)
    return plain_specs(plain) if plain is not None else get_arch(name).specs()


def describe(arch, net: PlainNet | None = None, **fields) -> str:
    """One line about the network: the zoo's description, or a plain net's shape in words."""
    name, plain = resolve_net(arch, net, **fields)
    if plain is None:
        return get_arch(name).description
    return f"{'plain MLP' if name == 'plain_mlp' else 'plain CNN'}: {plain.describe()}"


def resolve_shape(arch: str, input_shape: tuple[int, int, int] | None, classes: int | None) -> tuple[tuple[int, int, int], int]:
    """Fill in an architecture's defaults and validate the input shape's form."""
    info = get_arch(arch if isinstance(arch, str) else resolve_net(arch)[0])
    shape = tuple(input_shape) if input_shape is not None else info.input_shape
    if len(shape) != 3 or any(int(v) < 1 for v in shape):
        raise UserError(f"input shape must be H,W,C with positive sizes, got {shape!r}")
    if shape[2] > 64:
        raise UserError(f"input shape {shape} has {shape[2]} channels; did you mean H,W,C (channels last)?")
    n_classes = int(classes) if classes is not None else info.classes
    if n_classes < 2:
        raise UserError(f"a classifier needs at least 2 classes, got {n_classes}")
    return (int(shape[0]), int(shape[1]), int(shape[2])), n_classes


def build(arch, init: str = "glorot-uniform", input_shape: tuple[int, int, int] | None = None,
          classes: int | None = None, seed: int = 0, *, net: PlainNet | None = None,
          images: np.ndarray | None = None, **fields) -> keras.Model:
    """Build ``arch`` as a real Keras model with ``init`` kernels and zero biases.

    ``arch`` is a name (plain nets take ``net`` or the keyword fields), a RunConfig or a
    PlainNet. An input too small for the network raises UserError before any layer is
    built, naming the layer and the O = 1 + (W − K + 2P)/S arithmetic that went below 1.
    A data-dependent ``init`` (``lsuv``) needs ``images`` (float32 N,H,W,C in the model's
    input shape): the kernels are rescaled on them after the build.
    """
    name, plain = resolve_net(arch, net, **fields)
    if is_data_dependent(init) and images is None:
        raise UserError(f"the {init} initializer is data-dependent: it needs a batch of images "
                        "(zoo.build_from_config draws them from the run's dataset)")
    shape, n_classes = resolve_shape(name, input_shape, classes)
    specs = plain_specs(plain) if plain is not None else get_arch(name).specs()
    model = build_model(specs, shape, n_classes, init, seed, name)
    if is_data_dependent(init):
        from cnnviz.nets.lsuv import apply_lsuv

        apply_lsuv(model, images)
    return model


def lsuv_images(config, input_shape: tuple[int, int, int], classes: int | None = None,
                count: int = LSUV_IMAGES) -> np.ndarray:
    """The training images LSUV rescales on when the caller brings none.

    ``count`` images of ``config.dataset``'s training split in ``input_shape``, chosen by
    a generator seeded with ``config.seed`` alone (a stream of its own, so not the
    batches the run trains or is probed on): the initialization is a pure function of
    the config.
    """
    from cnnviz.data import load_dataset

    dataset = load_dataset(config.dataset, input_shape, classes).for_shape(input_shape)
    size = dataset.size("train")
    rng = np.random.default_rng([int(config.seed), 0x15_1AB])
    indices = np.sort(rng.choice(size, size=min(count, size), replace=False))
    return dataset.images("train", indices)


def build_from_config(config, input_shape: tuple[int, int, int], classes: int,
                      images: np.ndarray | None = None) -> keras.Model:
    """The model of a :class:`~cnnviz.config.RunConfig`: the one call the training core needs.

    Fixed zoo nets and plain nets alike, seeded per layer from ``config.seed`` through
    initializer ``seed=`` arguments (never Keras's global state). For ``init="lsuv"`` the
    kernels are then rescaled on ``images`` (the caller's batch, e.g. the run's own step-0
    batch), or, when None, on :func:`lsuv_images` of the config.
    """
    if is_data_dependent(config.init) and images is None:
        images = lsuv_images(config, input_shape, classes)
    return build(config, config.init, input_shape, classes, config.seed, images=images)


def layer_table(arch, input_shape: tuple[int, int, int] | None = None, classes: int | None = None, *,
                net: PlainNet | None = None, **fields) -> list[dict]:
    """Rows {name, type, output_shape, params, fan_in, activation, ...} from the table alone (no Keras build).

    ``arch``: a name (plain nets take ``net`` or keyword fields: ``layer_table("plain_mlp",
    depth=30, width=256)``), a RunConfig or a PlainNet. Layers with weights, pooling,
    flatten, dropout, normalization and residual adds are listed; activation layers are
    folded into their conv/dense row as ``activation``. The rows' params sum to
    ``model.count_params()`` of the built model.
    """
    name, plain = resolve_net(arch, net, **fields)
    shape, n_classes = resolve_shape(name, input_shape, classes)
    specs = plain_specs(plain) if plain is not None else get_arch(name).specs()
    return table_rows(specs, shape, n_classes, name)
