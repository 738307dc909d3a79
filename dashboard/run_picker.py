"""Which Run the Logits and Filters pages look inside, and their "train a bit more" button.

If the session has a Run (made on the Activations page) the pages show it. Otherwise
a compact selector (architecture, initializer, seed) builds a page-local Run at
initialization, kept under its own state key and shared by both pages; the session's
Run is only replaced when the user asks for it.
"""

from __future__ import annotations

import math

import streamlit as st

from cnnviz.config import RunConfig
from cnnviz.errors import UserError
from cnnviz.nets.initializers import INITIALIZERS
from cnnviz.nets.zoo import ARCHITECTURES
from cnnviz.training import Run
from dashboard import guarded, state, widgets

# The page whose sidebar trains the session's run (its controls follow an adopted run).
TRAINING_PAGE = "activations"
# Networks small enough to build and evaluate on the request path (AlexNet/VGG16 want
# 224x224x3 inputs; the Architecture page shows their shapes without building them).
QUICK_ARCHS = [name for name, info in ARCHITECTURES.items() if math.prod(info.input_shape) <= 32 * 32 * 3]
DEFAULT_ARCH = "ltfn_convnet"
DEFAULT_INIT = "he-normal"
LOCAL_BATCH_SIZE = 50  # small batches keep "train 20 more steps" quick on a laptop CPU
TRAIN_STEPS = 20


def describe(run: Run) -> str:
    """'ltfn_convnet, he-normal, adam (lr 0.001), at initialization' and similar."""
    c = run.config
    return f"{c.arch}, {c.init} init, {c.optimizer} (lr {c.lr:g}), {when(run)}"


def when(run: Run) -> str:
    """The run's age in words, for figure titles."""
    if run.step_count == 0:
        return "at initialization (step 0)"
    return f"after {run.step_count} training step{'s' if run.step_count != 1 else ''}"


def run_to_inspect(page: str, archs: list[str] | None = None) -> Run | None:
    """The session's Run, or a page-local one chosen with a compact selector (None on a user error)."""
    run = state.current_run()
    if run is not None:
        st.info(f"Showing this session's run: **{describe(run)}**. Train it here or on the Activations page.")
        return run
    choices = archs or QUICK_ARCHS
    local = state.get(state.INSPECT_RUN)
    current = local.config if local is not None else RunConfig(arch=DEFAULT_ARCH, init=DEFAULT_INIT,
                                                               batch_size=LOCAL_BATCH_SIZE)
    st.markdown("No training run in this session yet (the **Activations** page makes one). "
                "Pick a network to look inside:")
    arch_col, init_col, seed_col, make_col = st.columns([3, 3, 1.4, 2.6], vertical_alignment="bottom")
    arch = arch_col.selectbox("Architecture", choices, key=state.widget(page, "arch"),
                              index=choices.index(current.arch) if current.arch in choices else 0)
    init = init_col.selectbox("Initializer", list(INITIALIZERS), key=state.widget(page, "init"),
                              index=list(INITIALIZERS).index(current.init),
                              help="How the weights are drawn before training starts.")
    seed = seed_col.number_input("Seed", 0, 10_000, int(current.seed), step=1, key=state.widget(page, "seed"))
    config = current.replace(arch=arch, init=init, seed=int(seed))
    if local is None or local.config != config:
        try:
            with st.spinner(f"Building {arch} with {init} weights…"):
                built = guarded.build(page, [config], Run, replacing=[local] if local is not None else [],
                                      session_runs=state.session_runs(exclude=[local] if local is not None else []))
        except UserError as error:
            widgets.show_user_error(error)
            return None
        if not built:
            return None
        local = built[0]
        state.put(state.INSPECT_RUN, local)
    if make_col.button("Use as the session's run", key=state.widget(page, "adopt"),
                       help="Make this network the session's run, so the Activations page trains it too."):
        adopt(local)
        st.rerun()
    st.caption(f"Looking at **{describe(local)}**.")
    return local


def adopt(run: Run) -> None:
    """Make ``run`` the session's run and set the Activations sidebar to its settings, so the
    next Train there continues it (step 20 stays step 20) instead of building a new one."""
    state.stop_training()
    state.set_run(run)
    state.pop(state.INSPECT_RUN)
    widgets.adopt_run_settings(TRAINING_PAGE, run.config)


def train_more_button(run: Run, page: str, steps: int = TRAIN_STEPS) -> None:
    """A small button that trains ``run`` a few more steps (the page redraws afterwards)."""
    if run.halted is not None:
        st.warning(f"This run stopped at {run.halted.message()}. Pick another initializer or make a new run.")
        return
    if st.button(f"Train {steps} more steps", key=state.widget(page, "train"),
                 help=f"{steps} steps of {run.config.optimizer} on batches of {run.config.batch_size} training images."):
        try:
            with st.spinner(f"Training {steps} steps…"), state.run_lock():
                guarded.train(page, run, steps)
        except UserError as error:
            st.error(str(error))
        if run.halted is not None:
            st.warning(f"Training stopped at {run.halted.message()}.")
