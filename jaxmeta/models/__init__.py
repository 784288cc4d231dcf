"""Flax modules, always used through ``apply(params, x)``."""
from jaxmeta.models.mlp import MLP

__all__ = ["MLP"]
