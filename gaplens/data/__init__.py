"""Datasets gaplens reads: image folders and offline sample photographs."""

from gaplens.data.folder import ImageFolder
from gaplens.data.samples import SAMPLE_IMAGES, sample_image

__all__ = ["SAMPLE_IMAGES", "ImageFolder", "sample_image"]
