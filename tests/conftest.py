"""Shared test set-up: quiet TensorFlow, no network, one import of TensorFlow per process."""

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CNNVIZ_OFFLINE", "1")  # tests never reach for the internet

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
