"""Task distributions: pure, vmappable episode samplers."""
from jaxmeta.tasks.episodes import accuracy, cross_entropy, few_shot_task
from jaxmeta.tasks.sinusoid import mse, sinusoid

__all__ = ["accuracy", "cross_entropy", "few_shot_task", "mse", "sinusoid"]
