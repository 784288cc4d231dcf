"""Meta-learning algorithms, each a :class:`~jaxmeta.types.Algorithm` of pure functions."""
from jaxmeta.algorithms.maml import fomaml, maml
from jaxmeta.algorithms.pretrained import pretrained
from jaxmeta.algorithms.reptile import reptile

__all__ = ["fomaml", "maml", "pretrained", "reptile"]
