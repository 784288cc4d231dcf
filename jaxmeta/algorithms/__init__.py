"""Meta-learning algorithms, each a :class:`~jaxmeta.types.Algorithm` of pure functions."""
from jaxmeta.algorithms.anil import anil
from jaxmeta.algorithms.maml import fomaml, maml
from jaxmeta.algorithms.metasgd import metasgd
from jaxmeta.algorithms.embedding_nn import classification_task, embedding_nn, finetune
from jaxmeta.algorithms.matching import matching
from jaxmeta.algorithms.protonet import protonet
from jaxmeta.algorithms.relation import relation
from jaxmeta.algorithms.siamese import siamese
from jaxmeta.algorithms.pretrained import pretrained
from jaxmeta.algorithms.reptile import reptile

__all__ = ["anil", "metasgd", "classification_task", "embedding_nn", "finetune", "fomaml", "maml", "matching", "pretrained",
           "protonet", "relation", "reptile", "siamese"]
