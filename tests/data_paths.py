"""Where the tests find the real Omniglot small sets (read in place, never copied).

``$JAXMETA_TEST_DATA`` if set, else ``../shared/data/omniglot`` beside the repository
(where this project's machines keep them), else ``/work/shared/data/omniglot``.
"""
import os
from pathlib import Path

import pytest

_CANDIDATES = [os.environ.get("JAXMETA_TEST_DATA"),
               Path(__file__).resolve().parents[2] / "shared" / "data" / "omniglot",
               "/work/shared/data/omniglot"]
OMNIGLOT = next((Path(c) for c in _CANDIDATES
                 if c and (Path(c) / "images_background_small1.zip").exists()),
                Path(__file__).resolve().parents[2] / "shared" / "data" / "omniglot")

requires_omniglot = pytest.mark.skipif(
    not (OMNIGLOT / "images_background_small1.zip").exists(),
    reason="the Omniglot small sets are not here: set JAXMETA_TEST_DATA to their folder")
