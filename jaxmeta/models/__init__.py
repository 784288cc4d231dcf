"""Flax modules, always used through ``apply(params, x)``."""
from jaxmeta.models.conv import Conv4
from jaxmeta.models.koch import KochNet
from jaxmeta.models.mlp import MLP

__all__ = ["Conv4", "KochNet", "MLP"]
