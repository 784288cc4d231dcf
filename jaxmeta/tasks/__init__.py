"""Task distributions: pure, vmappable episode samplers."""
from jaxmeta.tasks.sinusoid import mse, sinusoid

__all__ = ["mse", "sinusoid"]
