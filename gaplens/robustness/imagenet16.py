"""The 16 entry-level categories of Geirhos et al. and their ImageNet member classes.

"16-class-ImageNet" (Geirhos et al., NeurIPS 2018; also used in Geirhos et al., ICLR 2019) groups
207 of the 1000 ILSVRC-2012 classes into 16 entry-level categories (WordNet hyponyms of each
category, some removed by hand). A 1000-class model is evaluated on images of those 16
categories by averaging its softmax probabilities over each category's member classes and
taking the category with the highest mean.

Source of the lists below: the authors' published code, ``HumanCategories.*_indices`` in
``code/helper/human_categories.py`` of github.com/rgeirhos/texture-vs-shape (the WordNet ids in
``code/accuracy_evaluation/human_categories.py`` of github.com/rgeirhos/generalisation-humans-DNNs
give the same classes), with class indices in the standard ILSVRC-2012 order (0 = tench,
n01440764; 999 = toilet tissue, n15075141). Decision rule: ``ImageNetProbabilitiesTo16ClassesMapping``
of the same code (mean probability; exact ties go to the first category in alphabetical order).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from gaplens.core.errors import InputError

__all__ = ["CATEGORIES", "MEMBERS", "category_of", "category_probabilities", "decide"]

#: The 16 categories, in alphabetical order (the order of the decision's category indices).
CATEGORIES: tuple[str, ...] = (
    "airplane", "bear", "bicycle", "bird", "boat", "bottle", "car", "cat",
    "chair", "clock", "dog", "elephant", "keyboard", "knife", "oven", "truck",
)

#: category -> ILSVRC-2012 class indices of its members (207 classes in all, no class twice).
MEMBERS: dict[str, tuple[int, ...]] = {
    "airplane": (404,),
    "bear": (294, 295, 296, 297),
    "bicycle": (444, 671),
    "bird": (8, 10, 11, 12, 13, 14, 15, 16, 18, 19, 20, 22, 23, 24, 80, 81, 82, 83, 87, 88, 89, 90, 91, 92,
             93, 94, 95, 96, 98, 99, 100, 127, 128, 129, 130, 131, 132, 133, 135, 136, 137, 138, 139, 140,
             141, 142, 143, 144, 145),
    "boat": (472, 554, 625, 814, 914),
    "bottle": (440, 720, 737, 898, 899, 901, 907),
    "car": (436, 511, 817),
    "cat": (281, 282, 283, 284, 285, 286),
    "chair": (423, 559, 765, 857),
    "clock": (409, 530, 892),
    "dog": (152, 153, 154, 155, 156, 157, 158, 159, 160, 161, 162, 163, 164, 165, 166, 167, 168, 169, 170,
            171, 172, 173, 174, 175, 176, 177, 178, 179, 180, 181, 182, 183, 184, 185, 186, 187, 188, 189,
            190, 191, 193, 194, 195, 196, 197, 198, 199, 200, 201, 202, 203, 205, 206, 207, 208, 209, 210,
            211, 212, 213, 214, 215, 216, 217, 218, 219, 220, 221, 222, 223, 224, 225, 226, 228, 229, 230,
            231, 232, 233, 234, 235, 236, 237, 238, 239, 240, 241, 243, 244, 245, 246, 247, 248, 249, 250,
            252, 253, 254, 255, 256, 257, 259, 261, 262, 263, 265, 266, 267, 268),
    "elephant": (385, 386),
    "keyboard": (508, 878),
    "knife": (499,),
    "oven": (766,),
    "truck": (555, 569, 656, 675, 717, 734, 864, 867),
}

_NUM_IMAGENET = 1000


def category_of(imagenet_class: int) -> str | None:
    """The category an ImageNet class index belongs to, or ``None`` (793 of the 1000 classes)."""
    for name, members in MEMBERS.items():
        if imagenet_class in members:
            return name
    return None


def _membership(dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``(1000, 16)`` matrix: column c averages the probabilities of category c's members."""
    matrix = torch.zeros(_NUM_IMAGENET, len(CATEGORIES), dtype=dtype, device=device)
    for c, name in enumerate(CATEGORIES):
        matrix[list(MEMBERS[name]), c] = 1.0 / len(MEMBERS[name])
    return matrix


def category_probabilities(logits: torch.Tensor) -> torch.Tensor:
    """``(N, 1000)`` ImageNet logits -> ``(N, 16)`` mean softmax probability of each category's members.

    The columns follow :data:`CATEGORIES`. The rows do not sum to one (a mean, not a sum, over
    members, and 793 classes belong to no category), exactly as in the published decision rule.
    """
    if not isinstance(logits, torch.Tensor) or logits.ndim != 2 or logits.shape[1] != _NUM_IMAGENET:
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise InputError(f"logits have shape {shape}; expected (N, 1000) ImageNet logits")
    probabilities = torch.softmax(logits.float() if logits.dtype in (torch.float16, torch.bfloat16) else logits, dim=1)
    return probabilities @ _membership(probabilities.dtype, probabilities.device)


def decide(logits: torch.Tensor, class_names: Sequence[str] | None = None) -> torch.Tensor:
    """``(N,)`` int64 decisions among the 16 categories for ``(N, 1000)`` ImageNet logits.

    Args:
        logits: unnormalised scores of a 1000-class ImageNet model.
        class_names: the dataset's class names (each one of :data:`CATEGORIES`, e.g. the folder
            names of an ImageFolder of 16-class-ImageNet); the decisions are then indices into
            ``class_names``, so they compare directly with the dataset's labels. Without it they
            index :data:`CATEGORIES`. A decision for a category the dataset lacks is ``-1``
            (always wrong).

    Exact ties go to the first category in alphabetical order, as in the published code.
    """
    decision = category_probabilities(logits).argmax(dim=1)
    if class_names is None:
        return decision
    names = list(class_names)
    unknown = [n for n in names if n not in CATEGORIES]
    if unknown:
        raise InputError(f"class names {unknown} are not 16-class-ImageNet categories; expected names from "
                         f"{list(CATEGORIES)}")
    lookup = torch.full((len(CATEGORIES),), -1, dtype=torch.int64)
    for i, name in enumerate(names):
        lookup[CATEGORIES.index(name)] = i
    return lookup.to(decision.device)[decision]
