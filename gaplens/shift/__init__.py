"""New test sets (Recht et al. 2019): accuracy on an original vs. a new test set.

Evaluate models on both sets (per-example correctness kept), or read published numbers; exact
intervals; the linear fit of new against original accuracy (linear, probit or logit scale, slope
interval by bootstrap over models); the hard-examples check; per-class drops::

    from gaplens import shift
    ev = shift.evaluate({"small": m1, "large": m2}, original_set, new_set)
    result = shift.analyze(ev.table(), scale="probit")
    fig = shift.shift_scatter_figure(result.records, result.fit)
    hard = shift.hard_example_check(ev, threshold=[1.0, 0.5])
    classes = shift.per_class_drop(ev)

A resumable run folder with a report is the study's work (:class:`gaplens.studies.ShiftEvaluate`).
"""

from gaplens.shift.analyze import REQUIRED_COLUMNS, AnalysisResult, analyze, read_table
from gaplens.shift.evaluate import ShiftEvaluation, evaluate
from gaplens.shift.figures import hard_example_figure, per_class_drop_figure, shift_scatter_figure
from gaplens.shift.fit import SCALES, ClippedAccuracyWarning, Fit, from_scale, linear_fit, to_scale
from gaplens.shift.hard import hard_example_check, per_class_drop
from gaplens.shift.intervals import clopper_pearson, drop_interval

__all__ = [
    "clopper_pearson", "drop_interval", "linear_fit", "Fit", "SCALES", "ClippedAccuracyWarning", "to_scale",
    "from_scale", "evaluate", "ShiftEvaluation", "analyze", "AnalysisResult", "read_table", "REQUIRED_COLUMNS",
    "hard_example_check", "per_class_drop", "shift_scatter_figure", "per_class_drop_figure", "hard_example_figure",
]
