"""The stopping rules against their definitions, computed by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gaplens.core.errors import InputError
from gaplens.restore import DiscrepancyStop, VarianceStop, add_noise, restore


def test_variance_rule_follows_the_exponentially_weighted_variance():
    rng = np.random.default_rng(0)
    # outputs settle (noise shrinks) until step 60, then wander (noise grows): the variance is U-shaped
    scales = np.concatenate([np.linspace(1.0, 0.05, 60), np.linspace(0.05, 1.0, 200)])
    frames = [rng.normal(0.5, s, size=(1, 3, 4, 4)) for s in scales]
    beta, patience = 0.8, 30
    rule = VarianceStop(beta=beta, patience=patience, start=5)
    scores, fired = [], None
    for step, frame in enumerate(frames, start=1):
        if rule.update(step, torch.tensor(frame), 0.0):
            fired = step
            break
        scores.append(rule.score)
    # the same recursion in numpy
    mean, var, expected = frames[0].copy(), np.zeros_like(frames[0]), [None]
    for frame in frames[1:fired]:
        delta = frame - mean
        mean = mean + (1 - beta) * delta
        var = beta * (var + (1 - beta) * delta**2)
        expected.append(var.mean())
    assert scores[1:] == pytest.approx(expected[1:len(scores)], rel=1e-9)
    best = 6 + int(np.argmin(expected[5:fired - 1]))
    assert rule.chosen == best and fired == best + patience and 40 <= best <= 90


def test_discrepancy_rule_fires_at_the_first_loss_below_sigma_squared():
    rule = DiscrepancyStop(0.1)
    losses = [0.05, 0.02, 0.0101, 0.0099, 0.005]
    fired = [rule.update(k + 1, torch.zeros(1), v) for k, v in enumerate(losses)]
    assert fired.index(True) == 3 and rule.chosen == 4
    with pytest.raises(InputError):
        DiscrepancyStop(0)


def test_restore_returns_the_image_of_the_chosen_step(tiny, crop):
    noisy = add_noise(crop, 25, seed=1)
    rule = VarianceStop(beta=0.8, patience=5, start=2)
    stopped = restore(noisy, "denoise", steps=200, settings=tiny, stop=rule, progress=False)
    assert stopped.fired_at == stopped.stopped_at + 5 and len(stopped.history) == stopped.fired_at
    again = restore(noisy, "denoise", steps=stopped.stopped_at, settings=tiny, stop=None, progress=False)
    torch.testing.assert_close(stopped.image, again.final, atol=1e-6, rtol=0)
    # with early_stop=False the fit runs on and only records the step
    full = restore(noisy, "denoise", steps=stopped.fired_at + 10, settings=tiny,
                   stop=VarianceStop(beta=0.8, patience=5, start=2), early_stop=False, progress=False)
    assert full.stopped_at == stopped.stopped_at and len(full.history) == stopped.fired_at + 10
