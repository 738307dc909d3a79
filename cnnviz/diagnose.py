"""Rules that turn snapshots into findings in plain words. (Minimal first version.)"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Finding:
    severity: str  # "info" | "warning" | "error"
    kind: str
    layer: str | None
    step: int
    message: str
    suggestion: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def diagnose_run(run) -> list[Finding]:
    """Findings for a run (placeholder until the training-engine issue lands its rules)."""
    findings = []
    if run.halted is not None:
        findings.append(Finding("error", "non_finite", run.halted.layer, run.halted.step, run.halted.message(),
                                "lower the learning rate or use a fan-in scaled initializer"))
    return findings
