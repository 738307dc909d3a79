"""What ``inspect`` and ``train`` print about a run: the JSON payload (DESIGN.md's contract) or a table."""

from __future__ import annotations

from cnnviz.cli.output import print_table


def measured_on(snapshot) -> dict:
    """Where the per-layer numbers come from: the network after ``step`` updates, in training mode
    (BatchNorm on batch statistics, dropout on), on training batch ``batch``; its loss and accuracy there."""
    return {"step": snapshot.step, "batch": snapshot.batch, "mode": "training", "loss": snapshot.loss,
            "accuracy": snapshot.accuracy}


def findings_for(run) -> list[dict]:
    """Diagnosis of the run's snapshots, as JSON-ready dicts."""
    from cnnviz.diagnosis import diagnose_run

    return [f.to_dict() for f in diagnose_run(run)]


def payload_for(run, snapshot) -> dict:
    """The inspect/train JSON payload for ``snapshot`` of ``run``."""
    payload = snapshot.to_dict()
    payload.update(config=run.config.to_dict(), steps=run.step_count, input_shape=list(run.dataset.shape),
                   input_adaptation=run.dataset.adaptation(), findings=findings_for(run),
                   halted=run.halted.message() if run.halted else None, measured_on=measured_on(snapshot))
    extras = getattr(run, "payload_extras", None)  # inspect --model: unprobed layers, output note, ...
    if extras is not None:
        payload.update(extras())
    return payload


def print_readable(payload: dict) -> None:
    """The human view: a per-layer table, then softmax and findings."""
    cfg = payload["config"]
    print(f"{cfg['arch']} / {cfg['init']} on {cfg['dataset']} after {payload['steps']} steps"
          + (f" (inputs {payload['input_adaptation']})" if payload.get("input_adaptation") else ""))
    if payload.get("step") is not None and payload["step"] != payload["steps"]:
        print(f"layer statistics from the forward pass of step {payload['step']} (the last finite probe)")
    rows = []
    for layer in payload["layers"]:
        pre = layer["pre_activation"]
        dead = pre["frac_zero_after_relu"]
        rows.append((layer["name"], layer["type"], pre["mean"], pre["std"], pre["min"], pre["max"],
                     "" if dead is None else f"{dead:.0%}", "" if layer["grad_norm"] is None else layer["grad_norm"],
                     "" if layer["update_ratio"] is None else layer["update_ratio"]))
    print_table(rows, ["layer", "type", "mean", "std", "min", "max", "zero after ReLU", "grad norm", "update/weight"])
    soft = payload["softmax"]
    print(f"loss {payload['loss']:.4g}   accuracy {payload['accuracy']:.1%}   max softmax prob (mean) "
          f"{soft['max_prob_mean']:.3f}   entropy {soft['entropy_mean']:.3f} (uniform: {soft['uniform_entropy']:.3f})")
    for finding in payload["findings"]:
        print(f"[{finding['severity']}] {finding['layer'] or ''}: {finding['message']}")
        if finding.get("suggestion"):
            print(f"    → {finding['suggestion']}")
    unprobed = payload.get("unprobed_layers", [])
    for layer in unprobed:
        if not layer["reason"].startswith("no weights"):
            print(f"not probed: {layer['name']} ({layer['type']}): {layer['reason']}")
    weightless = [layer["name"] for layer in unprobed if layer["reason"].startswith("no weights")]
    if weightless:
        print(f"not probed (no weights): {', '.join(weightless)}")
    for note in [payload.get("note"), *payload.get("notes", [])]:
        if note:
            print(f"note: {note}")
    if payload.get("halted"):
        print(f"run halted: {payload['halted']}")
