"""pyproject.toml: the wheel holds every cnnviz package, the embedded sample and the console script,
with the dependencies pinned in requirements.txt (built offline from a copy of the tree)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from setuptools import find_packages

ROOT = Path(__file__).resolve().parents[1]


def requirement_lines() -> list[str]:
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def test_every_cnnviz_package_is_listed_in_pyproject():
    listed = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    found = find_packages(str(ROOT), include=["cnnviz", "cnnviz.*"])
    assert sorted(listed) == sorted(found + ["cnnviz.assets"])


def test_requirements_are_plain_pins_the_package_metadata_can_read():
    names = [Requirement(line).name for line in requirement_lines()]  # raises on anything pip-only
    assert {"tensorflow-cpu", "keras", "streamlit", "tensorboard"} <= set(names)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    source = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md", "requirements.txt"):
        shutil.copy(ROOT / name, source / name)
    for folder in ("cnnviz", "assets"):
        shutil.copytree(ROOT / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("wheel")
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                             "-w", str(out), str(source)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return next(out.glob("cnnviz-*.whl"))


def test_wheel_carries_the_sample_the_script_and_the_pins(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        info = next(n for n in names if n.endswith(".dist-info/METADATA"))
        metadata = archive.read(info).decode()
        entry_points = archive.read(info.replace("METADATA", "entry_points.txt")).decode()
        sample = archive.read("cnnviz/assets/mnist_sample.npz")
    assert sample == (ROOT / "assets" / "mnist_sample.npz").read_bytes()
    assert {"cnnviz/keras/monitor.py", "cnnviz/cli/report_cmd.py", "cnnviz/figures/activations.py"} <= names
    assert "cnnviz = cnnviz.cli:main" in entry_points
    pinned = sorted(str(Requirement(line)) for line in requirement_lines())
    declared = sorted(str(Requirement(line.split(":", 1)[1].strip())) for line in metadata.splitlines()
                      if line.startswith("Requires-Dist:"))
    assert declared == pinned
