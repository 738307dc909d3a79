"""Diagnosis: snapshots in, findings out — what is wrong, with the numbers, and what to try.

Rules by topic: :mod:`.activations` (the forward signal), :mod:`.softmax` (the output),
:mod:`.gradients` (the backward pass and the updates); :mod:`.run` runs them over a Run;
:mod:`.context` makes the advice fit the run; :mod:`.findings` holds the record and how
numbers are written. No TensorFlow here: everything reads host-side snapshots.
"""

from cnnviz.diagnosis.context import Context  # noqa: F401
from cnnviz.diagnosis.findings import KINDS, SEVERITIES, Finding, sort_findings  # noqa: F401
from cnnviz.diagnosis.run import (context_of, diagnose_run, diagnose_snapshot, halt_advice,  # noqa: F401
                                  non_finite_findings)
