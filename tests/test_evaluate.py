"""Evaluation against a brute-force per-image loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from statsmodels.stats.proportion import proportion_confint

from gaplens.core.errors import InputError
from gaplens.evaluate import evaluate


def test_counts_match_brute_force(tiny_resnet):
    torch.manual_seed(0)
    images = torch.rand(37, 3, 32, 32)
    labels = torch.randint(0, 4, (37,))
    result = evaluate(tiny_resnet, (images, labels), batch_size=5)
    preds = [int(tiny_resnet(images[i : i + 1]).argmax()) for i in range(37)]
    confusion = np.zeros((4, 4), dtype=int)
    for t, p in zip(labels.tolist(), preds, strict=True):
        confusion[t, p] += 1
    assert np.array_equal(result.confusion, confusion)
    assert result.correct == int(np.trace(confusion)) and result.n == 37
    low, high = proportion_confint(result.correct, 37, method="beta")
    assert result.interval == pytest.approx((low, high))
    per_class = {r["class"]: r for r in result.records if r["class"] != "all"}
    for c, name in enumerate("abcd"):
        if confusion[c].sum():
            assert per_class[name]["accuracy"] == pytest.approx(confusion[c, c] / confusion[c].sum())
    assert not tiny_resnet.training


def test_label_out_of_range(tiny_resnet):
    with pytest.raises(InputError, match="4 outputs"):
        evaluate(tiny_resnet, (torch.rand(2, 3, 32, 32), torch.tensor([0, 9])))
