"""The figures carry titles and labelled axes, and mark the steps they are given."""

from __future__ import annotations

import torch

from gaplens.restore import fit_history_figure, prior_figure, restoration_figure


def test_figures_are_titled_and_labelled():
    history = [{"step": k, "loss": 1.0 / k, "psnr": 20 + k / 10, "ssim": None} for k in range(1, 51)]
    fig = fit_history_figure(history, best_step=50, stopped_at=30, title="denoise $x$", baseline_psnr=22.0)
    loss_ax, psnr_ax = fig.axes
    assert "PSNR" in psnr_ax.get_ylabel() and "step" in loss_ax.get_xlabel()
    assert {30, 50} <= {int(line.get_xdata()[0]) for line in psnr_ax.lines if len(set(line.get_xdata())) == 1}
    assert fig._suptitle.get_text() == "denoise \\$x\\$"
    fig = prior_figure({"natural": [0.1, 0.01], "white noise": [0.1, 0.09]}, level=0.02)
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()][:2] == ["natural", "white noise"]
    assert "MSE" in fig.axes[0].get_ylabel()
    fig = restoration_figure([("clean", torch.rand(3, 8, 8)), ("noisy", torch.rand(3, 8, 8))], title="t")
    assert [ax.get_title() for ax in fig.axes] == ["clean", "noisy"]
