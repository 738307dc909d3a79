"""The resource guard: estimates against real Keras models and a real process, refusals that name
something that fits, budgets from the environment and secrets, the heavy-work queue with threads,
cancellation, and the CLI's exit 2."""

import gc
import json
import math
import re
import subprocess
import sys
import threading

import keras
import pytest

from cnnviz.cli import main
from cnnviz.config import RunConfig
from cnnviz.errors import UserError
from cnnviz.lessons import LESSONS
from cnnviz.nets import zoo
from cnnviz.nets.layers import minimum_input_size
from cnnviz.nets.optimizers import OPTIMIZERS, OptimizerSpec, make_optimizer
from cnnviz.training import Run
from cnnviz.training.resources import (Budget, Cancelled, CancelToken, HeavyGate, OverBudget, ResourceGuard, assess, check,
                              cli_budget, estimate_config, estimate_model, server_budget)
from cnnviz.training.resources.estimate import BYTES_PER_VALUE, MIB, OPTIMIZER_SLOTS

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]
JOIN_S = 60  # liveness bound for worker threads (not a timing assertion)


def budget(memory_mib=2048, step_seconds=2.0, server_mib=20480, heavy_builds=1, heavy_mib=1024, audience="page"):
    return Budget(memory_mib * MIB, step_seconds, server_mib * MIB, heavy_builds, heavy_mib * MIB, 1.0, audience)


def kept_values_of(model) -> int:
    """Per image: every layer output the backward pass keeps, counted straight from the built model."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, (keras.layers.InputLayer, keras.layers.Flatten)):
            continue
        values = math.prod(layer.output.shape[1:])
        total += 2 * values if isinstance(layer, keras.layers.Dropout) else values  # output + mask
    return total


# ------------------------------------------------------------------ estimates vs real models
@pytest.mark.parametrize("arch", ["ltfn_convnet", "lenet5", "ltfn_vgg", "conv3_dropout"])
def test_layer_table_estimate_matches_the_built_keras_model(arch):
    model = zoo.build(arch, "he-normal")
    profile = estimate_config(RunConfig(arch=arch, batch_size=8)).profile
    assert profile.params == model.count_params()
    assert profile.kept_values_per_image == kept_values_of(model)
    convs_and_dense = [layer for layer in model.layers if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense))]
    multiply_adds = sum(math.prod(layer.kernel.shape) * math.prod(layer.output.shape[1:-1]) for layer in convs_and_dense)
    # biases are counted like kernel weights: 2% over for lenet5 (5x5x1 kernels), less elsewhere
    assert profile.forward_flops_per_image == pytest.approx(2 * multiply_adds, rel=0.03)
    # The estimate read from the built model (the user-model path) agrees with the layer table.
    from_model = estimate_model(model, 8)
    assert from_model.profile.params == profile.params
    assert from_model.profile.kept_values_per_image == profile.kept_values_per_image


def test_estimate_of_a_user_model_with_fused_activations_counts_both_sides():
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Conv2D(8, 3, activation="relu")(inputs)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(10, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    profile = estimate_model(model, 32, "sgd").profile
    assert profile.params == model.count_params() == 8 * 10 + 13 * 13 * 8 * 10 + 10
    # conv output twice (relu(z) and the probe's recovered z), pool once, dense twice (softmax fused)
    assert profile.kept_values_per_image == 2 * 26 * 26 * 8 + 13 * 13 * 8 + 2 * 10


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_optimizer_slots_are_what_keras_allocates(name):
    model = zoo.build("lenet5", "he-normal")
    optimizer = make_optimizer(OptimizerSpec(name))
    optimizer.build(model.trainable_variables)
    slot_values = sum(math.prod(v.shape) for v in optimizer.variables if len(v.shape) > 0)
    assert slot_values == OPTIMIZER_SLOTS[name] * model.count_params()
    breakdown = estimate_config(RunConfig(arch="lenet5", optimizer=name)).breakdown
    assert breakdown["weights"] == BYTES_PER_VALUE * model.count_params()
    assert breakdown["optimizer_slots"] == 2 * BYTES_PER_VALUE * slot_values  # live slots + the core's copy


def test_estimate_covers_the_measured_peak_of_a_real_run():
    """A fresh process builds ltfn_convnet at batch 32, probes it and trains 4 steps (bench's --measure-one)."""
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_resource_guard.py"), "--measure-one",
                           "ltfn_convnet", "32", "adam"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    assert measured["params"] == measured["estimated_params"]
    assert measured["peak_mib"] <= measured["estimate_mib"] <= 2 * measured["peak_mib"]


def test_memory_and_step_time_grow_with_the_batch():
    small, large = (estimate_config(RunConfig(arch="alexnet", batch_size=b)) for b in (8, 64))
    assert large.breakdown["activations"] == 8 * small.breakdown["activations"]
    assert large.held_bytes == small.held_bytes  # weights and optimizer state do not depend on the batch
    assert large.step_seconds > small.step_seconds


# ------------------------------------------------------------------ verdicts and alternatives
def test_refusal_names_the_largest_batch_that_fits():
    config = RunConfig(arch="ltfn_convnet", batch_size=500)
    with pytest.raises(OverBudget) as refused:
        check(config, budget(memory_mib=300))
    verdict = refused.value.verdict
    assert verdict.exceeded == ("memory",) and "300 MiB" in str(refused.value)
    batch = int(re.search(r"batch size (\d+) fits", str(refused.value)).group(1))
    assert verdict.alternative.kind == "batch_size" and verdict.alternative.batch_size == batch
    assert estimate_config(config.replace(batch_size=batch)).total_bytes <= 300 * MIB
    assert estimate_config(config.replace(batch_size=batch + 1)).total_bytes > 300 * MIB
    assert check(config.replace(batch_size=batch), budget(memory_mib=300)).fits


def test_vgg16_at_batch_100_gets_an_input_size_the_architecture_accepts():
    config = RunConfig(arch="vgg16", batch_size=100)
    verdict = assess(config, budget())
    assert not verdict.fits and set(verdict.exceeded) == {"memory", "step_time"}
    alternative = verdict.alternative
    assert alternative.kind == "input_shape"  # not even batch 1 fits: 134 M weights and Adam's state
    assert alternative.input_shape[0] >= minimum_input_size(zoo.get_arch("vgg16").specs())
    assert check(config.replace(input_shape=alternative.input_shape), budget()).fits
    bigger = tuple(v + 1 for v in alternative.input_shape[:2]) + (3,)
    assert not assess(config.replace(input_shape=bigger), budget()).fits
    assert f"input size {'x'.join(map(str, alternative.input_shape))} fits" in verdict.message


def test_nothing_fits_points_to_the_architecture_page_or_summary():
    config = RunConfig(arch="ltfn_vgg", batch_size=100)
    page = assess(config, budget(memory_mib=200))
    assert page.alternative.kind == "architecture_page" and "Architecture page" in page.message
    cli = assess(config, budget(memory_mib=200, audience="cli"))
    assert "python -m cnnviz summary ltfn_vgg" in cli.message and "CNNVIZ_SESSION_MEMORY_MB" in cli.message


def test_step_time_limit_offers_a_batch_within_it():
    verdict = assess(RunConfig(arch="alexnet", batch_size=100), budget(memory_mib=100_000, step_seconds=1.0))
    assert verdict.exceeded == ("step_time",)
    assert verdict.alternative.estimates[0].step_seconds <= 1.0


def test_compare_runs_count_together_against_one_session():
    configs = [RunConfig(arch="ltfn_vgg", init=init, batch_size=100)
               for init in ("normal", "normal-0.01", "glorot-uniform", "he-normal")]
    assert assess(configs[0], budget()).fits
    verdict = assess(configs, budget())
    assert not verdict.fits and verdict.message.startswith("4 runs of ltfn_vgg")
    assert "a session may use 2.0 GiB, 2 s per step" in verdict.summary()
    assert verdict.total_bytes == sum(e.held_bytes for e in verdict.estimates) + verdict.estimates[0].transient_bytes


def test_every_classroom_lesson_fits_the_default_budget_without_queueing():
    for lesson in LESSONS.values():
        if lesson.page not in ("activations", "compare"):
            continue
        settings = {k: v for k, v in lesson.settings.items() if k in RunConfig.__dataclass_fields__}
        inits = lesson.settings.get("inits") or [settings.get("init", RunConfig().init)]
        configs = [RunConfig(**{**settings, "init": init}) for init in inits]
        verdict = assess(configs, server_budget(environ={}))
        assert verdict.fits and not verdict.heavy, (lesson.key, verdict.message)


# ------------------------------------------------------------------ configuration
def test_budget_from_environment_beats_secrets_beats_defaults():
    secrets = {"resources": {"session_memory_mb": 3072, "heavy_builds": 2}, "CNNVIZ_SERVER_MEMORY_MB": "10000"}
    configured = server_budget(secrets, environ={"CNNVIZ_SESSION_MEMORY_MB": "1024"})
    assert configured.session_memory_bytes == 1024 * MIB  # environment wins
    assert configured.heavy_builds == 2 and configured.server_memory_bytes == 10000 * MIB  # from the secrets
    assert configured.session_step_seconds == server_budget(environ={}).session_step_seconds  # default
    with pytest.raises(UserError, match="CNNVIZ_HEAVY_BUILDS"):
        server_budget(environ={"CNNVIZ_HEAVY_BUILDS": "two"})
    with pytest.raises(UserError, match=r"secrets \[resources\] session_step_seconds"):
        server_budget({"resources": {"session_step_seconds": -1}}, environ={})


def test_a_server_without_secrets_file_uses_the_defaults():
    class NoSecretsFile(dict):  # st.secrets without .streamlit/secrets.toml raises a FileNotFoundError
        def get(self, key, default=None):
            raise FileNotFoundError("No secrets found")

    assert server_budget(NoSecretsFile(), environ={}) == server_budget(environ={})


def test_cli_budget_is_the_available_memory_unless_told():
    free = cli_budget(environ={}, available_bytes=8 * 1024 * MIB)
    assert free.session_memory_bytes < 8 * 1024 * MIB and math.isinf(free.session_step_seconds)
    told = cli_budget(environ={"CNNVIZ_SESSION_MEMORY_MB": "512", "CNNVIZ_SESSION_STEP_SECONDS": "3"})
    assert told.session_memory_bytes == 512 * MIB and told.session_step_seconds == 3.0


# ------------------------------------------------------------------ the gate, with threads
def queue_up(gate, names, entered, release):
    """Start one thread per name, each entering once the previous one is seen waiting."""
    statuses = {name: [] for name in names}
    threads = []
    for name in names:
        queued = threading.Event()

        def on_wait(status, name=name, queued=queued):
            statuses[name].append(status)
            queued.set()

        def work(name=name, on_wait=on_wait):
            with gate.enter(5.0, heavy=True, on_wait=on_wait, label=name):
                entered.append(name)
                release[name].wait()

        thread = threading.Thread(target=work)
        thread.start()
        assert queued.wait(JOIN_S)
        threads.append(thread)
    return statuses, threads


def test_heavy_work_waits_its_turn_in_arrival_order_and_sees_its_position():
    gate, entered = HeavyGate(1), []
    release = {name: threading.Event() for name in "ABCD"}
    holding = threading.Event()

    def first():
        with gate.enter(5.0, heavy=True, label="A"):
            entered.append("A")
            holding.set()
            release["A"].wait()

    holder = threading.Thread(target=first)
    holder.start()
    assert holding.wait(JOIN_S)
    statuses, threads = queue_up(gate, "BCD", entered, release)
    assert [statuses[n][0].position for n in "BCD"] == [1, 2, 3]
    assert [statuses[n][0].ahead for n in "BCD"] == [1, 2, 3]
    assert statuses["D"][0].text().startswith("3 heavy builds ahead of you")
    for name in "ABCD":
        release[name].set()
    for thread in [holder, *threads]:
        thread.join(JOIN_S)
        assert not thread.is_alive()
    assert entered == ["A", "B", "C", "D"]


def test_light_work_passes_while_the_heavy_slot_is_taken():
    gate, passed = HeavyGate(1), threading.Event()

    def light_step():
        with gate.enter(0.1, heavy=False):
            passed.set()

    with gate.enter(5.0, heavy=True):
        worker = threading.Thread(target=light_step)
        worker.start()
        worker.join(JOIN_S)
        assert passed.is_set()


def test_a_cancelled_waiter_leaves_the_queue_and_the_next_moves_up():
    gate, outcome = HeavyGate(1), {}
    token, second_saw_first_place = CancelToken(), threading.Event()
    waiting = {"B": threading.Event(), "C": threading.Event()}
    positions = []

    def waiter(name, cancel):
        def on_wait(status):
            waiting[name].set()
            if name == "C":
                positions.append(status.position)
                if status.position == 1:
                    second_saw_first_place.set()
        try:
            with gate.enter(5.0, heavy=True, cancel=cancel, on_wait=on_wait):
                outcome[name] = "ran"
        except Cancelled as cancelled:
            outcome[name] = f"cancelled: {cancelled}"

    with gate.enter(5.0, heavy=True):
        b = threading.Thread(target=waiter, args=("B", token))
        b.start()
        assert waiting["B"].wait(JOIN_S)
        c = threading.Thread(target=waiter, args=("C", None))
        c.start()
        assert waiting["C"].wait(JOIN_S)
        token.cancel("the session left")
        b.join(JOIN_S)
        assert outcome["B"] == "cancelled: the session left"
        assert second_saw_first_place.wait(JOIN_S)  # C moved up while A still holds the slot
    c.join(JOIN_S)
    assert outcome["C"] == "ran" and positions[:2] == [2, 1]


def test_a_waiter_whose_page_stops_does_not_block_the_queue():
    class Stop(Exception):  # what Streamlit raises in a script thread it interrupts
        pass

    gate, outcome = HeavyGate(1), {}

    def stopped_page():
        def on_wait(status):
            raise Stop()
        try:
            with gate.enter(5.0, heavy=True, on_wait=on_wait):
                outcome["stopped"] = "ran"
        except Stop:
            outcome["stopped"] = "stopped"

    with gate.enter(5.0, heavy=True):
        thread = threading.Thread(target=stopped_page)
        thread.start()
        thread.join(JOIN_S)
    assert outcome["stopped"] == "stopped" and gate.status() == {"slots": 1, "running": [], "waiting": []}


def test_two_slots_let_two_heavy_builds_run_together():
    gate, inside, release = HeavyGate(2), [], threading.Event()
    barrier = threading.Barrier(3)

    def work():
        with gate.enter(5.0, heavy=True):
            inside.append(1)
            barrier.wait(JOIN_S)  # both must be inside at once to pass
            release.wait(JOIN_S)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    barrier.wait(JOIN_S)
    assert len(gate.status()["running"]) == 2
    release.set()
    for thread in threads:
        thread.join(JOIN_S)


# ------------------------------------------------------------------ the guard with real runs
def test_training_is_cancelled_between_steps():
    guard, token = ResourceGuard(budget()), CancelToken()
    [run] = guard.build([RunConfig(arch="lenet5", batch_size=10)], Run)

    def stop_after_two(run_, snapshot):
        if run_.step_count == 2:
            token.cancel("settings changed")

    with pytest.raises(Cancelled):
        guard.train(run, 5, cancel=token, callback=stop_after_two)
    assert run.step_count == 2


def test_a_users_model_goes_through_the_guard_on_its_own_estimate():
    from cnnviz.usermodels.run import prepare_user_run

    inputs = keras.Input((28, 28, 1))
    hidden = keras.layers.Dense(64, activation="relu")(keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, keras.layers.Dense(10)(hidden))
    guard = ResourceGuard(budget())
    config = RunConfig(arch="file:mine.keras", init="from-file", batch_size=32)
    estimate = estimate_model(model, 32, label="mine.keras")
    [run] = guard.build([estimate], lambda _: prepare_user_run(model, config))
    assert run.resource_estimate is estimate and guard.ledger.held_bytes() == estimate.held_bytes
    del run.resource_estimate  # a run built without the guard: the guard reads the model itself
    guard.train(run, 2)
    assert run.step_count == 2 and run.resource_estimate.profile.params == model.count_params()


def test_ledger_refuses_when_other_sessions_hold_the_server():
    guard = ResourceGuard(budget(memory_mib=2048, server_mib=500))  # one ltfn_convnet (422 MiB) at a time
    config = RunConfig(arch="ltfn_convnet", batch_size=100)
    runs = guard.build([config], Run)
    held = guard.ledger.held_bytes()
    assert held == estimate_config(config).held_bytes  # the build's working memory was given back
    second = RunConfig(arch="ltfn_convnet", batch_size=100, seed=1)
    with pytest.raises(OverBudget) as refused:
        guard.build([second], Run)
    assert refused.value.verdict.exceeded == ("server_memory",) and "other runs on this server hold" in str(refused.value)
    assert guard.assess(second, replacing=runs).fits  # a session replacing its own run does not count it
    runs.clear()
    gc.collect()
    assert guard.ledger.held_bytes() == 0 and guard.assess(second).fits


def test_a_sessions_runs_on_other_pages_count_against_its_budget():
    guard = ResourceGuard(budget(memory_mib=500))
    kept = guard.build([RunConfig(arch="lenet5", batch_size=10, init=init) for init in ("normal", "he-normal")], Run)
    config = RunConfig(arch="ltfn_convnet", batch_size=100)
    assert guard.assess(config).fits  # 422 MiB alone
    verdict = guard.assess(config, session_runs=kept)
    assert verdict.exceeded == ("memory",) and "its other runs hold" in verdict.message
    assert verdict.session_held_bytes == sum(run.resource_estimate.held_bytes for run in kept)
    assert guard.assess(config, replacing=kept[:1], session_runs=kept).session_held_bytes == kept[1].resource_estimate.held_bytes


def test_cancelled_build_gives_its_reservation_back():
    guard, token = ResourceGuard(budget()), CancelToken()
    configs = [RunConfig(arch="lenet5", batch_size=10, init=init) for init in ("normal", "he-normal")]
    built = []

    def make_run(config):
        built.append(Run(config))
        token.cancel("the session left")
        return built[-1]

    with pytest.raises(Cancelled):
        guard.build(configs, make_run, cancel=token)
    assert len(built) == 1  # the second was never built
    built.clear()
    gc.collect()
    assert guard.ledger.held_bytes() == 0


# ------------------------------------------------------------------ CLI
def test_cli_refuses_with_exit_2_and_one_line(capsys, monkeypatch):
    monkeypatch.setenv("CNNVIZ_SESSION_MEMORY_MB", "300")
    code = main(["train", "--arch", "ltfn_convnet", "--batch-size", "500", "--steps", "1"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    batch = int(re.search(r"batch size (\d+) fits", err).group(1))
    assert estimate_config(RunConfig(arch="ltfn_convnet", batch_size=batch)).total_bytes <= 300 * MIB
    assert "CNNVIZ_SESSION_MEMORY_MB" in err


def test_cli_refuses_an_oversized_user_model(capsys, monkeypatch, tmp_path):
    inputs = keras.Input((28, 28, 1))
    outputs = keras.layers.Dense(10)(keras.layers.Dense(4096, activation="relu")(keras.layers.Flatten()(inputs)))
    path = tmp_path / "wide.keras"
    keras.Model(inputs, outputs).save(path)
    monkeypatch.setenv("CNNVIZ_SESSION_MEMORY_MB", "120")
    code = main(["inspect", "--model", str(path), "--batch-size", "100"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("cnnviz: error: wide.keras at batch 100") and err.count("\n") == 1
