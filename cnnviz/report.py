"""A run as ONE self-contained HTML file: config, findings, histograms, theory, loss.

:func:`build_report` returns the HTML as a string (the dashboard offers it as a
download; ``python -m cnnviz report --out run.html`` writes it). plotly.js is
inlined once, at the first figure, so the file works offline and by e-mail; every
other figure reuses it. Figures come from :mod:`cnnviz.figures` and never see NaN:
only finite snapshots are drawn, and a halted run says where it stopped instead.
"""

from __future__ import annotations

import html
import math
from datetime import datetime, timezone

import pandas as pd
import plotly.graph_objects as go

from cnnviz import __version__
from cnnviz.diagnosis import diagnose_run
from cnnviz.diagnosis.theory import theory_vs_measured_table, theory_vs_measured_table_for_run
from cnnviz.figures.activations import (STEP_COMPARISON_GRID_CAPTION, comparison_histogram_grid, std_per_layer,
                                        std_per_layer_caption)
from cnnviz.figures.training_curves import (GRADIENT_CAPTION, PROBE_BATCH_LOSS_CAPTION, STEP_LOSS_CAPTION,
                                            gradient_and_update_chart, loss_curve)
from cnnviz.probing.history import plottable

SEVERITY_COLOURS = {"error": "#b71c1c", "warning": "#e65100", "info": "#1565c0"}

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 1200px; margin: 2em auto;
       padding: 0 1em; color: #222; line-height: 1.45; }
h1 { font-size: 1.7em; margin-bottom: 0.2em; } h2 { margin-top: 1.8em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.95em; }
th, td { border: 1px solid #ddd; padding: 0.3em 0.7em; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.finding { border-left: 6px solid; padding: 0.4em 0.8em; margin: 0.5em 0; background: #fafafa; }
.severity { font-weight: bold; text-transform: uppercase; font-size: 0.85em; }
.caption { color: #555; font-style: italic; margin: 0.2em 0 1.2em; }
.muted { color: #666; }
"""


def build_report(run, test_images: int = 0) -> str:
    """The whole report for ``run`` as an HTML string (nothing is written to disk).

    ``test_images`` > 0 also evaluates the model on that many test images. A run
    with no snapshot yet is probed at initialization first (recorded in the run).
    """
    figures, theory_table = _run_figures(run)
    title = f"cnnviz report: {run.config.arch} / {run.config.init} / {run.config.optimizer}"
    return _page(title, [_header(run), _summary(run, test_images), _findings(diagnose_run(run))], figures, theory_table)


def report_figures(run) -> list[tuple[str, go.Figure, str]]:
    """The figures of :func:`build_report` for ``run``, in page order: (heading, figure, caption)."""
    return _run_figures(run)[0]


def _run_figures(run):
    run.snapshot_at_init()
    finite = [s for s in run.snapshots if s.finite]
    first, last = (finite[0], finite[-1]) if finite else (None, None)
    theory_table = theory_vs_measured_table_for_run(run, first) if first is not None else None
    loss = None
    if run.losses:
        loss = ("Loss", loss_curve(_loss_frame(run), chance_loss=math.log(run.classes)), STEP_LOSS_CAPTION)
    return _figures(first, last, theory_table, loss, plottable(run.history())), theory_table


def build_run_folder_report(run) -> str:
    """The report of a run folder written by ``ActivationMonitor`` (a :class:`cnnviz.keras.MonitoredRun`).

    The same sections as :func:`build_report`, from the folder's probes: histograms
    at the first and last probed step, std per layer against the variance rule,
    the probe batch's loss over steps (classifiers only), gradients and update sizes.
    """
    finite = [s for s in run.snapshots if s.finite]
    first, last = (finite[0], finite[-1]) if finite else (None, None)
    theory_table = theory_vs_measured_table(first, run.meta.get("between") or {}) if first is not None else None
    history = plottable(run.history())
    loss = None
    if run.is_classifier and not history.empty:
        loss = ("Loss on the probe batch", loss_curve(history, chance_loss=math.log(run.classes)),
                PROBE_BATCH_LOSS_CAPTION)
    figures = _figures(first, last, theory_table, loss, history)
    model = run.meta.get("model") or {}
    title = f"cnnviz report: {model.get('name', 'model')} (run folder {run.path.name})"
    return _page(title, [_folder_header(run), _findings(run.findings())], figures, theory_table)


def _page(title: str, parts: list[str], figures, theory_table) -> str:
    parts = list(parts)
    for index, (heading, figure, caption) in enumerate(figures):
        parts.append(f"<h2>{html.escape(heading)}</h2>")
        parts.append(figure.to_html(full_html=False, include_plotlyjs=index == 0, include_mathjax=False,
                                    config={"displaylogo": False, "responsive": True}))
        parts.append(f'<p class="caption">{html.escape(caption)}</p>')
        if heading.startswith("Spread") and theory_table is not None:
            parts.append(_theory_table(theory_table))
    if not figures:
        parts.append("<p>No finite snapshot to draw: the network produced NaN/Inf from the start.</p>")
    parts.append(f'<p class="muted">cnnviz {__version__} · generated '
                 f'{datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}</p>')
    body = "\n".join(parts)
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{html.escape(title)}</title>\n'
            f"<style>{STYLE}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n")


def _folder_header(run) -> str:
    meta = run.meta
    model, monitor, optimizer = meta.get("model") or {}, meta.get("monitor") or {}, meta.get("optimizer") or {}
    lr = run.config.lr
    rows = [("model", model.get("name")), ("input shape", "×".join(map(str, model.get("input_shape") or []))),
            ("output", f"{model.get('output_kind')} ({model.get('classes') or 'no'} classes)"),
            ("parameters", model.get("params")), ("optimizer", optimizer.get("name")),
            ("learning rate (latest)", f"{lr:g}" if lr is not None else "—"), ("loss", meta.get("loss")),
            ("probe batch", f"{monitor.get('probe_examples')} examples, every {monitor.get('every')} step(s)"),
            ("histogram bins", monitor.get("bins")), ("probed steps", len(run.snapshots)),
            ("latest probed step", run.step_count),
            ("status", "finished" if run.finished else "still running, or stopped without saying so")]
    if run.halted is not None:
        rows.append(("stopped", run.halted.message()))
    if model.get("note"):
        rows.append(("note", model["note"]))
    return (f"<h1>cnnviz report — {html.escape(str(model.get('name', 'model')))}</h1>\n"
            f'<p class="muted">run folder {html.escape(str(run.path))}, written by ActivationMonitor during '
            f"model.fit</p>\n<h2>Run</h2>\n" + _table(rows, ("setting", "value")))


def _header(run) -> str:
    cfg = run.config
    rows = [("architecture", cfg.arch), ("initializer", cfg.init), ("optimizer", cfg.optimizer),
            ("learning rate", f"{cfg.lr:g}"), ("dataset", cfg.dataset), ("input shape", "×".join(map(str, run.dataset.shape))),
            ("classes", run.classes), ("batch size", cfg.batch_size), ("seed", cfg.seed),
            ("probe every", f"{cfg.probe_every} step(s)"), ("histogram bins", cfg.bins)]
    if run.dataset.adaptation():
        rows.append(("input adaptation", run.dataset.adaptation()))
    return (f"<h1>cnnviz report — {html.escape(cfg.arch)}</h1>\n"
            f'<p class="muted">{html.escape(cfg.init)} initialization, {html.escape(cfg.optimizer)} at lr {cfg.lr:g}, '
            f"{run.step_count} training steps</p>\n<h2>Configuration</h2>\n" + _table(rows, ("setting", "value")))


def _summary(run, test_images: int) -> str:
    rows = [("training steps applied", run.step_count)]
    if run.last_loss is not None:
        rows.append(("last training loss", f"{run.last_loss:.4g}"))
    latest = next((s for s in reversed(run.snapshots) if s.finite), None)
    if latest is not None:
        rows.append((f"batch accuracy (step {latest.step})", f"{latest.accuracy:.1%}"))
    rows.append(("chance loss ln C", f"{math.log(run.classes):.4f}"))
    if test_images and run.halted is None:
        result = run.evaluate("test", limit=test_images)
        rows.append((f"test accuracy ({result['examples']:,} images)", f"{result['accuracy']:.1%}"))
        rows.append(("test loss", f"{result['loss']:.4g}"))
    if run.halted is not None:
        rows.append(("halted", run.halted.message()))
    return "<h2>Outcome</h2>\n" + _table(rows, ("", ""))


def _findings(findings) -> str:
    if not findings:
        return "<h2>Findings</h2>\n<p>No problems found: activations, softmax, gradients and update sizes look healthy.</p>"
    items = []
    for f in findings:
        colour = SEVERITY_COLOURS.get(f.severity, "#333")
        where = f" · {html.escape(f.layer)}" if f.layer else ""
        suggestion = f"<br>→ {html.escape(f.suggestion)}" if f.suggestion else ""
        items.append(f'<div class="finding" style="border-color:{colour}">'
                     f'<span class="severity" style="color:{colour}">{f.severity}</span> '
                     f"<code>{f.kind}</code>{where} · step {f.step}<br>{html.escape(f.message)}{suggestion}</div>")
    return "<h2>Findings</h2>\n" + "\n".join(items)


def _figures(first, last, theory_table, loss, history) -> list[tuple[str, go.Figure, str]]:
    if first is None:
        return []
    figures = []
    snapshots = {f"step {first.step}": first}
    if last is not first:
        snapshots[f"step {last.step}"] = last
    grid = comparison_histogram_grid(snapshots, log_counts=True)
    grid.update_layout(title_text=f"Pre-activation histograms per layer: step {first.step} (left) vs step {last.step} (right)"
                       if last is not first else f"Pre-activation histograms per layer at step {first.step}")
    figures.append(("Histograms: first and last probed step", grid, STEP_COMPARISON_GRID_CAPTION))
    entries = [(f"step {first.step}", first)] + ([(f"step {last.step}", last)] if last is not first else [])
    figures.append(("Spread per layer: measured vs predicted", std_per_layer(
        entries, dict(zip(theory_table["layer"], theory_table["predicted"])), title="Pre-activation std per layer",
        predicted_label=f"variance rule at step {first.step}"), std_per_layer_caption(f"step {first.step}")))
    if loss is not None:
        figures.append(loss)
    if history["grad_norm"].notna().any():
        figures.append(("Gradients and update sizes", gradient_and_update_chart(history), GRADIENT_CAPTION))
    return figures


def _loss_frame(run) -> pd.DataFrame:
    """Per-step losses (all applied steps) with the batch accuracy of probed steps."""
    frame = pd.DataFrame({"step": range(1, len(run.losses) + 1), "loss": run.losses})
    accuracy = {s.step: s.accuracy for s in run.snapshots if s.finite and s.trained and s.applied}
    frame["accuracy"] = [accuracy.get(step, math.nan) for step in frame["step"]]
    return frame


def _theory_table(table) -> str:
    rows = [(r.layer, r.fan_in, _num(r.weight_var), r.input_from, _num(r.measured), _num(r.predicted),
             _num(r.ratio), r.note) for r in table.itertuples()]
    return _table(rows, ("layer", "fan-in", "Var[w]", "input", "measured std", "predicted std",
                         "measured / predicted", "note"))


def _num(value) -> str:
    if value is None or not isinstance(value, (int, float)) or not math.isfinite(value):
        return "—"
    return f"{value:.3g}"


def _table(rows, headers) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers) if any(headers) else ""
    body = []
    for row in rows:
        cells = []
        for cell in row:
            numeric = isinstance(cell, (int, float)) and not isinstance(cell, bool)
            text = f"{cell:,}" if isinstance(cell, int) and not isinstance(cell, bool) else str(cell)
            cells.append(f'<td class="num">{html.escape(text)}</td>' if numeric else f"<td>{html.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table>{'<tr>' + head + '</tr>' if head else ''}{''.join(body)}</table>"


def write_report(run, path, test_images: int = 0) -> None:
    """Write :func:`build_report` to ``path`` (UTF-8)."""
    from pathlib import Path

    from cnnviz.errors import UserError

    target = Path(path)
    if not target.parent.is_dir():
        raise UserError(f"cannot write the report to {target}: folder {target.parent} does not exist")
    target.write_text(build_report(run, test_images), encoding="utf-8")


def write_run_folder_report(folder, path) -> None:
    """Read the run folder ``folder`` and write its report to ``path`` (UTF-8)."""
    from pathlib import Path

    from cnnviz.errors import UserError
    from cnnviz.keras.run_folder import read_run_folder

    target = Path(path)
    if not target.parent.is_dir():
        raise UserError(f"cannot write the report to {target}: folder {target.parent} does not exist")
    target.write_text(build_run_folder_report(read_run_folder(folder)), encoding="utf-8")
