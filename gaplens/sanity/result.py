"""What a sanity check returns: tidy records, the randomized blocks, verdicts and a few maps."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

#: The keys of every row of :attr:`SanityResult.records` (and of ``edge_records``).
RECORD_KEYS = ("method", "mode", "layer_index", "layer", "metric", "image", "value")
#: The randomization modes, and ``"data"`` for the data randomization test.
MODES = ("cascading", "independent", "data")
#: The metric the verdict reads by default: Spearman rank correlation of the *signed* maps.
DEFAULT_VERDICT_METRIC = "spearman"
#: The verdict reads the median over the cascade steps: do the maps survive half of the cascade?
DEFAULT_VERDICT_STEP = "median"
#: A method fails (is insensitive) when its mean similarity to the original map stays above this.
DEFAULT_THRESHOLD = 0.5
#: Why the defaults are what they are (shown in the report).
VERDICT_RATIONALE = (
    "The verdict reads the signed rank correlation (Spearman of the signed maps, mean over images), its median "
    "over the cascade steps, threshold 0.5. On absolute maps the rank order is set by the input (object outline, flat "
    "background): the maps of two differently initialized, untrained models already correlate about 0.6 for "
    "every gradient method, so after the full cascade gradient (0.49) and guided backprop (0.52) are "
    "indistinguishable. Signed maps carry what the weights decide, the direction of the effect: two "
    "unrelated models' gradient, Integrated Gradients and SmoothGrad maps correlate about 0 (the noise floor), "
    "the model-free edge detector 1, and 0.5 lies halfway. On the demo's shape-world ResNet the medians are "
    "0.01 / 0.02 / -0.01 for gradient / Integrated Gradients / SmoothGrad and 0.76 / 0.72 for guided backprop / "
    "guided Grad-CAM. The verdict takes the median over the cascade steps "
    "(a method is insensitive when its maps stay above 0.5 through more than half of the cascade), not the last "
    "step: the paper's finding is that guided backprop ignores the higher layers, and its signed correlation "
    "stays at 0.6-0.9 while block after block is re-initialized and collapses only when the first convolution "
    "is; the median, unlike the mean, does not depend on how many of a network's blocks are low ones."
)


@dataclass
class SanityResult:
    """The outcome of :func:`~gaplens.sanity.model_randomization` or :func:`~gaplens.sanity.data_randomization`.

    Attributes:
        mode: ``"cascading"``, ``"independent"`` or ``"data"``.
        records: tidy rows, one per (method, step, metric, image), with exactly the keys
            :data:`RECORD_KEYS`: ``method``; ``mode``; ``layer_index`` (0 = the original model,
            ``k`` = the top ``k`` blocks randomized in cascading mode, block ``k`` alone in
            independent mode, 1 = the random-label model in data mode); ``layer`` (the block's
            dotted name, ``""`` for ``k = 0``, ``"random_labels"`` in data mode); ``metric``;
            ``image`` (index into the inputs); ``value`` (similarity to the original map, a float).
            ``pandas.DataFrame(result.records)`` reads them.
        edge_records: rows with the same keys whose ``value`` is the similarity of the step's map
            to the Sobel edge map of the input (metrics with the ``"abs"`` normalization only):
            the edge-detector comparison of Adebayo et al., next to ``records``.
        layers: the randomized blocks' dotted names, top-down from the logits (``layers[k - 1]``
            is the block of ``layer_index = k``); empty in data mode.
        verdicts: method -> ``{"passed", "value", "threshold", "metric", "check"}``: the method
            **fails** (its maps are insensitive to the randomization) when ``value``, its mean
            ``metric`` similarity to the original map over the images (and, by default, over the
            cascade steps), is above ``threshold`` (see ``check`` for the steps it is taken at;
            :data:`VERDICT_RATIONALE` for why the defaults are signed Spearman, mean, 0.5).
        methods, metrics: what was run, in order.
        threshold: the verdict threshold.
        images: ``(n_keep, 3, H, W)`` the inputs kept for figures (CPU).
        image_indices: their indices in the inputs.
        maps: method -> ``(S + 1, n_keep, C, H, W)`` CPU attributions for the kept images:
            index 0 is the original model's, index ``k`` step ``k``'s.
        targets: ``(S + 1, N)`` the class each step explained (step 0: the original target).
        step_names: ``S + 1`` labels of the steps for figures (``"original"``, block names, ...).
    """

    mode: str
    records: list[dict] = field(default_factory=list)
    edge_records: list[dict] = field(default_factory=list)
    layers: list[str] = field(default_factory=list)
    verdicts: dict[str, dict] = field(default_factory=dict)
    methods: list[str] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)
    threshold: float = DEFAULT_THRESHOLD
    images: torch.Tensor | None = None
    image_indices: list[int] = field(default_factory=list)
    maps: dict[str, torch.Tensor] = field(default_factory=dict)
    targets: torch.Tensor | None = None
    step_names: list[str] = field(default_factory=list)

    def summary(self, edge: bool = False) -> list[dict]:
        """Mean and standard deviation over images per (method, layer_index, metric).

        Rows have ``method, mode, layer_index, layer, metric, mean, std, n``; ``std`` is the
        population standard deviation (0 for one image). ``edge=True`` summarizes
        :attr:`edge_records` instead.
        """
        groups: dict[tuple, list[float]] = {}
        layer_of: dict[tuple, str] = {}
        for row in self.edge_records if edge else self.records:
            key = (row["method"], row["mode"], row["layer_index"], row["metric"])
            groups.setdefault(key, []).append(float(row["value"]))
            layer_of[key] = row["layer"]
        out = []
        for key, values in groups.items():
            mean = sum(values) / len(values)
            std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
            out.append({"method": key[0], "mode": key[1], "layer_index": key[2], "layer": layer_of[key],
                        "metric": key[3], "mean": mean, "std": std, "n": len(values)})
        return out

    def verdict_rows(self) -> list[dict]:
        """The verdict table, one row per method: ``method, passed, value, threshold, metric, check``."""
        return [{"method": name, **verdict} for name, verdict in self.verdicts.items()]
