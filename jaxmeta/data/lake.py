"""The Lake et al. 2015 20-way within-alphabet one-shot classification runs (in progress)."""
from __future__ import annotations

from jaxmeta.errors import JaxmetaError


def main(args) -> int:
  raise JaxmetaError("eval-lake is not implemented yet")
