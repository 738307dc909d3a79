"""Moved to :mod:`cnnviz.diagnosis` (kept so existing imports keep working)."""

from cnnviz.diagnosis import (KINDS, SEVERITIES, Context, Finding, context_of, diagnose_run,  # noqa: F401
                              diagnose_snapshot, halt_advice, non_finite_findings, sort_findings)
from cnnviz.diagnosis.activations import (check_activation_scale, check_dead_relu, check_saturation,  # noqa: F401
                                          saturated_share)
from cnnviz.diagnosis.findings import fmt, has_layer, he_std, possessive, times  # noqa: F401
from cnnviz.diagnosis.gradients import check_gradients, check_update_ratio  # noqa: F401
from cnnviz.diagnosis.softmax import check_softmax  # noqa: F401
