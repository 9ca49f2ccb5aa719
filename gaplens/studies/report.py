"""Render a run's report with every study's section registered.

Importing :mod:`gaplens.studies` registers the sections (each study module registers its own);
this module is the one place that makes sure of it before rendering.
"""

from __future__ import annotations

import os
from pathlib import Path

import gaplens.studies  # noqa: F401  (registers every study's section)
from gaplens.report.html import render_report as _render


def render_report(run_dir: str | os.PathLike, *, strict: bool = False) -> Path:
    """``run_dir/report.html`` from ``run_dir/run.db``, every study's section registered."""
    return _render(run_dir, strict=strict)
