"""The gaplens report: one self-contained HTML page rendered from a run's database.

>>> from gaplens.report import render_report
>>> render_report("runs/demo")  # doctest: +SKIP
PosixPath('/.../runs/demo/report.html')

Studies get a section from a renderer registered with :func:`register_section`; a study with
none is listed by the generic fallback. Figure helpers live in :mod:`gaplens.report.figures`.
"""

from gaplens.report.html import (
    SECTIONS,
    Finding,
    Section,
    register_section,
    render_html,
    render_report,
    verdict_matrix,
)

__all__ = ["render_report", "render_html", "register_section", "Section", "Finding", "verdict_matrix", "SECTIONS"]
