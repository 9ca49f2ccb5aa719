"""Report sections of the foundation's studies: data, training, evaluation, cue-conflict decisions.

Later capabilities add their own section modules here and import them in ``report/__init__``.
"""

from __future__ import annotations

import pandas as pd

from gaplens.report.html import Section, register_section


def _figures(artifacts: list[dict]) -> list[dict]:
    return [a for a in artifacts if a.get("kind") == "figure"]


@register_section("data", title="Data", order=-30)
def data_section(df: pd.DataFrame, artifacts: list[dict]) -> Section:
    cols = [c for c in ("set", "n", "classes", "size", "texture_agreement", "conflict", "shift",
                        "texture_matches_shape") if c in df]
    return Section(
        title="Data",
        intro=("Synthetic cue-conflict images: the class is the silhouette's shape; the texture "
               "inside it matches the class with probability texture_agreement (1 = a texture "
               "shortcut exists; 1/K = texture carries no information). Cue-conflict images have "
               "a texture of another class; shifted images come from other size, colour and "
               "texture-frequency ranges."),
        tables=[("Datasets", df[cols])],
        figures=_figures(artifacts),
    )


@register_section("train", title="Training", order=-20)
def train_section(df: pd.DataFrame, artifacts: list[dict]) -> Section:
    epochs = df[df["epoch"].astype(str) != "total"]
    last = epochs.groupby("model", sort=False).tail(1)
    totals = df[df["epoch"].astype(str) == "total"].set_index("model")["seconds"]
    cols = [c for c in ("model", "arch", "epoch", "train_loss", "train_accuracy", "val_accuracy") if c in last]
    summary = last[cols].copy()
    summary["training seconds"] = summary["model"].map(totals)
    return Section(title="Training", intro="Final epoch of each model trained in this run.",
                   tables=[("Models", summary)],
                   figures=_figures(artifacts))


@register_section("evaluate", title="Evaluation", order=-10)
def evaluate_section(df: pd.DataFrame, artifacts: list[dict]) -> Section:
    overall = df[df["class"] == "all"]
    table = overall[["model", "set", "n", "correct", "accuracy", "ci_low", "ci_high"]].rename(
        columns={"ci_low": "95% CI low", "ci_high": "95% CI high"})
    per_class = df[df["class"] != "all"].pivot_table(
        index="class", columns=["model", "set"], values="accuracy", sort=False)
    per_class.columns = [f"{m} / {s}" for m, s in per_class.columns]
    tables = [("Top-1 accuracy with Clopper-Pearson 95% intervals", table)]
    if len(per_class):
        tables.append(("Per-class accuracy", per_class))
    figures = sorted(_figures(artifacts), key=lambda a: not str(a.get("path", "")).endswith("accuracy.png"))
    return Section(title="Evaluation", intro="Accuracy is measured against the shape class.",
                   tables=tables, figures=figures)


@register_section("shape_bias", title="Texture vs. shape", order=-5)
def shape_bias_section(df: pd.DataFrame, artifacts: list[dict]) -> Section:
    overall = df[df["category"] == "all"] if "category" in df else df.iloc[:0]
    cols = [c for c in overall.columns if c not in ("study", "unit", "category") and overall[c].notna().any()]
    return Section(
        title="Texture vs. shape",
        intro=("Cue-conflict images carry the shape of one class and the texture of another (Geirhos et al. 2019). "
               "A decision is a shape decision when it names the shape's class and a texture decision when it "
               "names the texture's class; shape bias = shape decisions / (shape + texture decisions), with an "
               "exact 95% interval. In the demo the 'stylized' (shape-world) data is the generator's own texture "
               "swap: same objects and poses, texture drawn at random, so only shape predicts the class."),
        tables=[("Shape bias per model", overall[cols])],
        figures=_figures(artifacts),
    )


@register_section("explain", title="Explanations", order=0)
def explain_section(df: pd.DataFrame, artifacts: list[dict]) -> Section:
    rows = df[df["method"].notna()] if "method" in df else df
    aggregations = {"images": ("image", "count"), "seconds per image": ("seconds", "mean")}
    if "mask_fraction" in rows:
        aggregations["mass inside object"] = ("mask_fraction", "mean")
        aggregations["object area"] = ("mask_area", "mean")
    if "completeness_delta" in rows:
        aggregations["mean |IG gap|"] = ("completeness_delta", lambda v: v.abs().mean())
    summary = rows.groupby(["method", "model"], sort=False).agg(**aggregations).reset_index()
    intro = ("Attribution maps for the same images under every method (targets: each model's predicted class; "
             "scores are logits, occlusion uses probabilities). ")
    if "mask_fraction" in rows:
        intro += ("'Mass inside object' is the share of the rendered |attribution| (channel sum, clipped at the "
                  "99th percentile) that falls inside the object's silhouette; a map that ignores the object "
                  "scores about the object's area.")
    return Section(title="Explanations", intro=intro, tables=[("Methods", summary)], figures=_figures(artifacts))


@register_section("shift_analysis", title="New test sets", order=10)
def shift_section(df: pd.DataFrame, artifacts: list[dict]) -> Section:
    models = df[df["kind"] == "model"]
    model_cols = [c for c in ("unit", "model", "accuracy_original", "ci_low_original", "ci_high_original",
                              "accuracy_new", "ci_low_new", "ci_high_new", "drop", "drop_ci_low", "drop_ci_high",
                              "residual") if c in models]
    summary = df[df["kind"] == "summary"].dropna(axis=1, how="all")
    summary = summary.drop(columns=[c for c in ("kind", "study") if c in summary])
    tables = [("Fit of new-set against original-set accuracy", summary),
              ("Accuracy drop per model (Clopper-Pearson / MOVER 95% intervals)", models[model_cols])]
    hard = df[df["kind"] == "hard_examples"].dropna(axis=1, how="all")
    if len(hard):
        tables.append(("Drop after leaving out hard examples", hard.drop(columns=["kind", "study", "unit"])))
    return Section(
        title="New test sets",
        intro=("Each point is a model: its accuracy on the original test set (x) and on a new test set (y), "
               "with exact 95% intervals (Recht et al. 2019). Points on y = x lose nothing. The fitted line, "
               "in the chosen axis scaling, summarizes how the loss depends on original accuracy; its slope "
               "comes with a bootstrap interval over models. The hard-example check recomputes the drop "
               "without the examples most models get wrong, to see whether a few hard examples explain it."),
        tables=tables,
        figures=_figures(artifacts),
    )


@register_section("visualize", title="Feature visualization", order=5)
def visualize_section(df: pd.DataFrame, artifacts: list[dict]) -> Section:
    tables = []
    classes = df[df["kind"] == "class_model"] if "kind" in df else df.iloc[:0]
    if len(classes):
        cols = [c for c in ("model", "objective_label", "class_name", "score", "top1_name", "target_probability",
                            "target_rank") if c in classes]
        tables.append(("Class models: is each image classified as its class?", classes[cols]))
    return Section(
        title="Feature visualization",
        intro=("Images made by gradient ascent on the input (Simonyan et al. 2013; Olah et al. 2017): class models "
               "maximize a class score minus an L2 penalty, starting from the model's zero colour. Maximizing "
               "the softmax probability instead of the logit can succeed by pushing the other classes down, "
               "which is why the two are shown side by side. DeepDream starts from a photograph and amplifies "
               "what a layer responds to."),
        tables=tables,
        figures=_figures(artifacts),
    )


@register_section("sanity", title="Sanity checks", order=1)
def sanity_section(df: pd.DataFrame, artifacts: list[dict]) -> Section:
    verdicts = df[df["kind"] == "verdict"]
    verdict_cols = [c for c in ("model", "mode", "method", "passed", "value", "threshold", "metric", "check")
                    if c in verdicts]
    tables = [("Verdicts: a method fails when its maps stay similar to the original ones", verdicts[verdict_cols])]
    similarity = df[(df["kind"] == "similarity") & (df["metric"] == "spearman_abs")]
    if len(similarity):
        last = similarity.groupby(["model", "mode", "method"], sort=False)["layer_index"].transform("max")
        final = similarity[similarity["layer_index"] == last]
        table = final.groupby(["model", "mode", "method"], sort=False)["value"].agg(["mean", "std"]).reset_index()
        tables.append(("Rank correlation (|map|) with the original map after the last step (mean, std over images)",
                       table))
    edge = df[(df["kind"] == "edge") & (df["layer_index"] == 0)]
    if len(edge):
        tables.append(("Similarity of each method's original map to the input's Sobel edge map",
                       edge.groupby(["model", "method", "metric"], sort=False)["value"].mean().unstack().reset_index()))
    return Section(
        title="Sanity checks",
        intro=("Adebayo et al. (2018): an explanation that should explain the model must change when the model's "
               "weights are re-initialized (cascading: from the logits down; independent: one block at a time) "
               "and when the model is trained on random labels. Similarity to the original map is measured on "
               "absolute maps (Spearman rank correlation, SSIM, HOG) and on signed maps (Spearman). The edge "
               "control does not depend on the model at all and scores 1 at every step."),
        tables=tables,
        figures=_figures(artifacts),
    )


@register_section("robustness", title="Distortion robustness", order=8)
def robustness_section(df: pd.DataFrame, artifacts: list[dict]) -> Section:
    rows = df[df["distortion"].notna()].astype({"level": str})
    table = rows.pivot_table(index=["distortion", "level"], columns="model", values="accuracy", sort=False)
    table = table.reset_index()
    means = rows.pivot_table(index="model", columns="distortion", values="accuracy", aggfunc="mean", sort=False)
    intro = ("Accuracy under the 12 image distortions of Geirhos et al. (2018) at their published levels, with "
             "Clopper-Pearson 95% intervals in the figures (one line per model, chance level dashed).")
    if rows["model"].astype(str).str.startswith("trained-").any():
        intro += (" Models named trained-* follow the paper's training protocol on one training set: trained "
                  "clean, with salt-and-pepper noise, or with every distortion but uniform noise as augmentation "
                  "(half of the images distorted). Uniform noise is held out: compare its curve with those of "
                  "the trained distortions to see whether the learned robustness carries over.")
    return Section(
        title="Distortion robustness",
        intro=intro,
        tables=[("Mean accuracy over each distortion's levels", means.reset_index()),
                ("Accuracy by distortion and level", table)],
        figures=_figures(artifacts),
    )


def _shift_evaluation_section(df: pd.DataFrame, artifacts: list[dict]) -> Section:
    cols = [c for c in ("model", "set", "n", "correct", "accuracy", "ci_low", "ci_high") if c in df]
    return Section(title="New test sets: evaluations",
                   intro="Each model on the original and the new test set (per-example correctness is kept in maps/).",
                   tables=[("Accuracy per model and set (Clopper-Pearson 95%)", df[cols])],
                   figures=_figures(artifacts))


for _study in ("shift", "shift_testbed"):
    register_section(_study, title="New test sets: evaluations", order=11)(_shift_evaluation_section)
