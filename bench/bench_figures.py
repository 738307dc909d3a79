"""Where a redraw's figure time goes: building the Activations page's five figures vs serialising them.

Builds one ltfn_convnet run (batch 100) to ``--steps`` probed steps, then times, best of
``--repeats`` (CPU seconds, ``time.process_time``):

  build      - the figure function (cnnviz.figures), as the page calls it
  to_dict    - what st.plotly_chart does first with a Figure (a deep copy)
  to_json    - what it then sends (plotly.io.to_json, validate=False)
  validate   - what st.plotly_chart would do with a plain dict instead (Figure(**dict))

Several trees (``--roots a,b``: e.g. before and after a change) are measured in turn, each
in its own process, alternating ``--rounds`` times so machine noise hits both.

    python bench/bench_figures.py --roots /work/main,.          # before (main) and this tree
    python bench/bench_figures.py --steps 300                   # a long run: the heatmap dominates
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
from pathlib import Path

CODE = r'''
import json, math, sys, time
sys.path.insert(0, ROOT)
import plotly.io as pio, plotly.tools
from cnnviz.config import RunConfig
from cnnviz.diagnosis import theory
from cnnviz.figures import activations as lf, training_curves as cf
from cnnviz.training import Run
run = Run(RunConfig(arch="ltfn_convnet", batch_size=100))
run.snapshot_at_init()
run.train(STEPS)
snapshot, history = run.latest, run.history()
table = theory.theory_vs_measured_table_for_run(run)
predicted = dict(zip(table["layer"], table["predicted"]))
entries = [("step 0", run.snapshot_at_init()), (f"step {snapshot.step}", snapshot)]
builds = {
    "histogram grid": lambda: lf.histogram_grid(snapshot),
    "spread per layer": lambda: lf.std_per_layer(entries, predicted, predicted_label="theory (step 0)"),
    "loss curve": lambda: cf.loss_curve(history, chance_loss=math.log(10)),
    "gradients": lambda: cf.gradient_and_update_chart(history),
    "heatmap": lambda: cf.histogram_heatmap(history, "conv4"),
}
def best(f):
    times = []
    for _ in range(REPEATS):
        start = time.process_time(); out = f(); times.append(time.process_time() - start)
    return min(times), out
rows = {}
for name, build in builds.items():
    t_build, fig = best(build)
    t_dict, spec = best(fig.to_dict)
    t_json, text = best(lambda: pio.to_json(spec, validate=False))
    t_valid, _ = best(lambda: plotly.tools.return_figure_from_figure_or_data(spec, True))
    rows[name] = [t_build, t_dict, t_json, t_valid, len(text) / 1024]
print(json.dumps(rows))
'''


def measure(root: Path, steps: int, repeats: int) -> dict:
    code = CODE.replace("ROOT", repr(str(root))).replace("STEPS", str(steps)).replace("REPEATS", str(repeats))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CNNVIZ_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=1200,
                            check=True, cwd=root)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--roots", default=".", help="repository roots, comma separated")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    roots = [Path(r).resolve() for r in args.roots.split(",") if r]
    runs: dict[Path, list[dict]] = {root: [] for root in roots}
    for round_index in range(args.rounds):
        for root in roots[round_index % len(roots):] + roots[:round_index % len(roots)]:
            runs[root].append(measure(root, args.steps, args.repeats))
    print(f"\nltfn_convnet, batch 100, {args.steps} probed steps; ms of CPU, best of {args.repeats}, "
          f"median of {args.rounds} rounds")
    print("| figure | " + " | ".join(f"`{r.name or r}` build / to_dict / to_json / validate-dict | KB" for r in roots)
          + " |")
    print("| --- " * (1 + 2 * len(roots)) + "|")
    names = list(runs[roots[0]][0])
    totals = {root: [0.0] * 4 for root in roots}
    for name in names:
        cells = []
        for root in roots:
            values = [statistics.median(run[name][i] for run in runs[root]) for i in range(5)]
            totals[root] = [t + v for t, v in zip(totals[root], values[:4])]
            cells.append(" / ".join(f"{1000 * v:.1f}" for v in values[:4]) + f" | {values[4]:.0f}")
        print(f"| {name} | " + " | ".join(cells) + " |")
    print("| **all five** | " + " | ".join(" / ".join(f"**{1000 * v:.0f}**" for v in totals[root]) + " | "
                                         for root in roots) + "|")
    if len(roots) == 2:
        before, after = totals[roots[0]][0], totals[roots[1]][0]
        print(f"building all five: {1000 * before:.0f} ms -> {1000 * after:.0f} ms ({before / after:.1f}x less)"
              if after > 0 and not math.isnan(after) else "")


if __name__ == "__main__":
    main()
