"""Few-shot image data: Omniglot, the Lake one-shot runs, mini-ImageNet, downloads.

Everything here is host-side (files, decoding, caches); the result is an
:class:`~jaxmeta.data.images.ImageClasses` that :func:`jaxmeta.tasks.episodes.few_shot_task`
puts on the device once and samples episodes from inside the jitted step.
"""
from jaxmeta.data.images import ImageClasses, concat, rotations_as_classes
from jaxmeta.data.omniglot import omniglot_splits, split_classes

__all__ = ["ImageClasses", "concat", "omniglot_splits", "rotations_as_classes", "split_classes"]
