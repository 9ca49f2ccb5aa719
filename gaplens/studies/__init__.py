"""Studies: what a user runs into a run folder, one module per study, one runner for all.

Each study module holds a dataclass of the study's parameters that says which units of work they
imply, how to run one unit, and the study's report section (see :mod:`.base`).
:class:`~gaplens.studies.runner.Runner` owns the store, run status, resume by fingerprint,
progress and files. ``ARCHITECTURE.md`` at the repository root says how to add a study.
"""

from gaplens.studies.bagnet import BagNetStudy  # noqa: F401  (registers the "bagnet" section)
from gaplens.studies.base import Study, Unit, UnitOutput
from gaplens.studies.data import DataSummary
from gaplens.studies.evaluate import Evaluate
from gaplens.studies.executors import Executor, LocalExecutor, RayExecutor, make_executor
from gaplens.studies.explain import Explain
from gaplens.studies.gan import GanImages, GanTheory
from gaplens.studies.models import ModelRef, model_refs, unique_labels
from gaplens.studies.restore import Restore
from gaplens.studies.robustness import Sweep
from gaplens.studies.rules import RuleList
from gaplens.studies.runner import Context, Runner, StudyResult, run_study
from gaplens.studies.sanity import Sanity
from gaplens.studies.shape_bias import ShapeBias, ShapeBiasFromDecisions
from gaplens.studies.shift import ShiftAnalyze, ShiftEvaluate
from gaplens.studies.train import Train
from gaplens.studies.visualize import Channels, ClassModels, DeepDream

__all__ = ["Study", "Unit", "UnitOutput", "Context", "Runner", "StudyResult", "run_study", "ModelRef", "model_refs",
           "unique_labels", "DataSummary", "Train", "Evaluate", "Explain", "Sanity", "ClassModels", "Channels",
           "DeepDream", "ShapeBias", "ShapeBiasFromDecisions", "Sweep", "ShiftEvaluate", "ShiftAnalyze", "RuleList",
           "Restore", "GanTheory", "GanImages",
           "Executor", "LocalExecutor", "RayExecutor", "make_executor"]
