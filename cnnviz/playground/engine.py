"""One compiled Keras optimizer loop per optimizer kind, reused by every trajectory.

An :class:`Engine` owns a float64 ``tf.Variable`` of shape ``(rows, 2)`` (one ``(x, y)``
point per row: 1 row for a trajectory, N*N rows for a basin map), one real Keras
optimizer built on it, and the traced loops that drive it. Everything that changes
between requests is an *argument* of the traced function, so a new surface, start, step
count, learning rate or momentum never re-traces:

- the surface is an index into :data:`SURFACE_ORDER` (one ``tf.switch_case`` holds them all);
- the learning rate goes into Keras's own ``learning_rate`` variable (float32, as Keras
  keeps it: rounded to float32, exactly as in a fresh optimizer);
- the other hyperparameters (``momentum``, ``beta_1``, ``beta_2``, ``rho``, ``epsilon``)
  are read from variables through :class:`_RuntimeFloat`, installed in place of the Python
  floats Keras reads in ``update_step``; the update rules themselves are Keras's, untouched;
- the optimizer's own variables (step counter, moments, accumulators, Nadam's
  ``u_product``) are assigned their freshly built values at the start of every call, so
  each trajectory starts from exactly the state a new optimizer object would have.

Calls on one engine are serialised by a lock (Streamlit serves sessions from threads and
the variables are shared registers). Engines live for the process: one per optimizer
kind for trajectories, and a few for basin maps (bounded, least recently used first out).
Keras registers a global custom gradient per trace; :func:`forget_custom_gradients`
unregisters ours, so a dropped engine's graph is freed.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict

from cnnviz.compat import nested_function_graphs, tensorflow_gradient_registry
from cnnviz.nets.optimizers import OptimizerSpec, make_optimizer, validate_spec
from cnnviz.playground.surfaces import SURFACES, Surface

# Past this, a coordinate is "gone": every surface here is already astronomically high
# (or, for the saddle, unboundedly low) and float64 products start to overflow.
DIVERGENCE_BOUND = 1e6
# The hyperparameters an optimizer kind reads, by OptimizerSpec field -> Keras attribute.
KERAS_NAMES = {"momentum": "momentum", "beta1": "beta_1", "beta2": "beta_2", "rho": "rho", "epsilon": "epsilon"}
HYPERPARAMETERS: dict[str, tuple[str, ...]] = {
    "sgd": ("momentum",),
    "momentum": ("momentum",),
    "nesterov": ("momentum",),
    "adam": ("beta1", "beta2", "epsilon"),
    "adamw": ("beta1", "beta2", "epsilon"),
    "nadam": ("beta1", "beta2", "epsilon"),
    "rmsprop": ("rho", "momentum", "epsilon"),
    "adagrad": ("epsilon",),
    "adadelta": ("rho", "epsilon"),
}
HYPERPARAMETER_ORDER = tuple(KERAS_NAMES)  # the order of the traced functions' ``hyper`` vector
# Which surface a traced loop descends is an argument too (an index into this tuple).
SURFACE_ORDER = tuple(SURFACES)
MAX_BASIN_ENGINES = 4

_lock = threading.Lock()
_path_engines: dict[str, Engine] = {}
_basin_engines: OrderedDict[tuple[str, int], Engine] = OrderedDict()
trace_count = 0  # how many loops have been traced in this process (benchmarks and tests read it)


@functools.lru_cache(maxsize=None)
def keras_defaults(kind: str) -> dict[str, float]:
    """The values a fresh Keras optimizer of ``kind`` uses for its hyperparameters.

    Read from a real optimizer made by :func:`cnnviz.nets.optimizers.make_optimizer`, so our
    rules (momentum 0.9 for "momentum" and "nesterov") and Keras's defaults both hold.
    """
    optimizer = make_optimizer(OptimizerSpec(kind))
    return {field: float(getattr(optimizer, KERAS_NAMES[field])) for field in HYPERPARAMETERS[kind]}


def resolved_hyperparameters(spec: OptimizerSpec) -> dict[str, float]:
    """Every hyperparameter ``spec``'s optimizer uses, defaults filled in (after validating it)."""
    validate_spec(spec)
    defaults = keras_defaults(spec.name)
    return {field: defaults[field] if getattr(spec, field) is None else float(getattr(spec, field))
            for field in HYPERPARAMETERS[spec.name]}


class _RuntimeFloat(float):
    """A hyperparameter that Keras's update rules treat as the Python float they expect,
    but whose value the compiled graph reads from variables at run time.

    Keras mixes two precisions when it reads a Python float hyperparameter: converted on
    its own (``ops.cast(self.beta_1, dtype)``) it becomes a float32 tensor first, as
    TensorFlow converts every Python float, and is rounded to float32; in arithmetic with
    a float64 tensor (``1 - self.beta_1``, ``ops.add(v, self.epsilon)``) it stays an exact
    double. This class reproduces both, so paths are the ones a fresh optimizer built with
    plain floats takes, to the last bit:

    - ``__tf_tensor__`` without a dtype gives the float32 variable, with a dtype the
      float64 one cast to it;
    - arithmetic operators compute with the float64 variable (IEEE double arithmetic in
      the graph gives the same result as in Python);
    - ``dtype = float`` makes Keras's type promotion see a Python float (a "weak" type).

    The Python-visible value only answers Keras's structural questions: momentum is
    always "in use" (``if self.momentum != 0``, ``if self.momentum > 0``). With momentum
    0 the momentum path computes exactly what the plain path does (``m = m*0 - g*lr =
    -(g*lr)`` and ``w + (-(g*lr)) == w - g*lr`` in IEEE arithmetic; likewise for
    RMSprop), which the numpy transcriptions in ``tests/test_surfaces.py`` confirm.
    """

    dtype = float

    def __new__(cls, single, double, python_value: float):
        value = super().__new__(cls, python_value)
        value.single, value.double = single, double
        return value

    def __tf_tensor__(self, dtype=None, name=None):
        import tensorflow as tf

        if dtype is None:
            return tf.convert_to_tensor(self.single)
        return tf.cast(self.double, dtype)

    def _tensor(self):
        import tensorflow as tf

        return tf.convert_to_tensor(self.double)

    def __add__(self, other):
        return self._tensor() + other

    def __radd__(self, other):
        return other + self._tensor()

    def __sub__(self, other):
        return self._tensor() - other

    def __rsub__(self, other):
        return other - self._tensor()

    def __mul__(self, other):
        return self._tensor() * other

    def __rmul__(self, other):
        return other * self._tensor()

    def __truediv__(self, other):
        return self._tensor() / other

    def __rtruediv__(self, other):
        return other / self._tensor()

    def __neg__(self):
        return -self._tensor()

    def __pow__(self, other):
        return self._tensor() ** other

    def __rpow__(self, other):
        return other ** self._tensor()

    __hash__ = float.__hash__


class Engine:
    """A Keras optimizer of one kind on a ``(rows, 2)`` float64 variable, with its traced loops."""

    def __init__(self, kind: str, rows: int):
        import tensorflow as tf

        self.kind, self.rows = kind, rows
        self.lock = threading.Lock()
        self.point = tf.Variable(tf.zeros([rows, 2], tf.float64), name="xy")
        self.optimizer = make_optimizer(OptimizerSpec(kind))
        self.hyper_variables = {}
        for field, default in keras_defaults(kind).items():
            single = tf.Variable(0.0, dtype=tf.float32, name=field + "_float32")
            double = tf.Variable(0.0, dtype=tf.float64, name=field)
            self.hyper_variables[field] = (single, double)
            python_value = 1.0 if field == "momentum" else default  # see _RuntimeFloat
            setattr(self.optimizer, KERAS_NAMES[field], _RuntimeFloat(single, double, python_value))
        self.optimizer.build([self.point])
        self.learning_rate = self.optimizer.learning_rate
        # The state of a freshly built optimizer: what every call starts from.
        self.initial_state = [(v, v.numpy()) for v in self.optimizer.variables if v is not self.learning_rate]
        self._functions = {}

    def reset(self, start, lr, hyper) -> None:
        """Graph code: a fresh optimizer's state, this call's hyperparameters and start."""
        for variable, value in self.initial_state:
            variable.assign(value)
        self.learning_rate.assign(lr)
        import tensorflow as tf

        for field, (single, double) in self.hyper_variables.items():
            value = hyper[HYPERPARAMETER_ORDER.index(field)]
            double.assign(value)
            single.assign(tf.cast(value, tf.float32))  # rounded to nearest, as TF converts a Python float
        self.point.assign(start)

    def compiled(self, loop, signature):
        """The concrete function of ``loop(engine, *arguments)`` for ``signature`` (``tf.TensorSpec``s).

        Traced on the first call for this engine, then reused for every later call.
        """
        with self.lock:  # two sessions asking at once must not trace the same optimizer twice
            if loop not in self._functions:
                self._functions[loop] = self._trace(loop, signature)
            return self._functions[loop]

    def _trace(self, loop, signature):
        global trace_count
        import tensorflow as tf

        # functools.partial, not a closure: tf.function keys its "frequent retracing"
        # warning on the Python code object, and each engine traces each loop once.
        function = tf.function(functools.partial(loop, self), autograph=False)
        concrete = function.get_concrete_function(*signature)
        forget_custom_gradients(concrete.graph)
        trace_count += 1
        return concrete

    def hyper_vector(self, spec: OptimizerSpec):
        """The traced functions' ``hyper`` argument for ``spec`` (unused entries are 0)."""
        values = resolved_hyperparameters(spec)
        return [values.get(field, 0.0) for field in HYPERPARAMETER_ORDER]


def surface_index(surface: Surface) -> int:
    """The traced loops' ``surface`` argument for ``surface`` (a registered surface)."""
    if SURFACES.get(surface.name) != surface:
        raise ValueError(f"surface {surface.name!r} is not one of the registered SURFACES")
    return SURFACE_ORDER.index(surface.name)


def losses_and_gradient(surface, points):
    """Graph code: each row's loss on surface number ``surface`` and each row's gradient.

    One ``tf.switch_case`` over every registered surface, so a single trace serves them
    all; the gradient is the surface's analytic formula (see
    :meth:`Surface.tf_row_gradients` for why not the tape's).
    """
    import tensorflow as tf

    def branch(name: str):
        return lambda: (SURFACES[name].tf_row_losses(points), SURFACES[name].tf_row_gradients(points))

    return tf.switch_case(surface, [branch(name) for name in SURFACE_ORDER])


def path_engine(kind: str) -> Engine:
    """The one-row engine for trajectories of optimizer ``kind`` (made once per process)."""
    with _lock:
        if kind not in _path_engines:
            _path_engines[kind] = Engine(kind, 1)
        return _path_engines[kind]


def basin_engine(kind: str, rows: int) -> Engine:
    """An engine with ``rows`` points for basin maps; the least recently used beyond a few is dropped."""
    key = (kind, rows)
    with _lock:
        if key in _basin_engines:
            _basin_engines.move_to_end(key)
        else:
            _basin_engines[key] = Engine(kind, rows)
            while len(_basin_engines) > MAX_BASIN_ENGINES:
                _basin_engines.popitem(last=False)
        return _basin_engines[key]


def forget_custom_gradients(graph) -> None:
    """Drop the global gradient registrations that would keep ``graph`` alive forever.

    Keras 3.15's TensorFlow optimizer all-reduces gradients across replicas even with
    one (``ReplicaContext.all_reduce``), which registers a ``@custom_gradient`` under a
    new global name each time it is traced; that registration holds the whole traced
    loop (about 1.4 MiB) for the life of the process. Engines trace once per kind, but
    basin engines are dropped and rebuilt, so without this a long dashboard session would
    still grow. The names removed are exactly the ones our own graph's ops refer to (we
    never differentiate through the optimizer's update). Best effort: if TensorFlow's
    internals move, this quietly does nothing (the process just leaks as before).
    """
    registry = tensorflow_gradient_registry()
    if registry is None:  # pragma: no cover - TensorFlow moved it; tests/test_compat.py says so
        return
    for name in _custom_gradient_names(graph):
        registry.pop(name, None)


def _custom_gradient_names(graph) -> set[str]:
    """Names of the custom gradients used by ``graph`` and the graphs nested in it (loop bodies)."""
    names = set()
    for op in graph.get_operations():
        try:
            names.add(op.get_attr("_gradient_op_type").decode())
        except (ValueError, AttributeError):
            continue  # most ops have no gradient override
    for nested in nested_function_graphs(graph):  # while_loop cond/body graphs
        names |= _custom_gradient_names(nested)
    return names

