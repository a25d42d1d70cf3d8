"""The official batch files of CIFAR and ImageNet32x32 are Python pickles: read them with an unpickler that builds
only the types of that format (numpy arrays, lists, dicts, strings), so a replaced file cannot run code.
"""

from __future__ import annotations

import pickle
from pathlib import Path

# What the batch files hold: dicts of numpy arrays and lists. numpy arrays unpickle through these names (numpy 1
# and 2 spellings; `_frombuffer` for pickle protocol 5); `_codecs.encode` carries the raw bytes of arrays pickled
# by Python 3 with protocol 2.
ALLOWED_GLOBALS = frozenset({
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
})


class BatchUnpickler(pickle.Unpickler):
    """pickle.Unpickler that refuses every global outside ALLOWED_GLOBALS."""

    def find_class(self, module: str, name: str):
        if (module, name) not in ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"forbidden global {module}.{name} (a batch file holds only numpy "
                                         "arrays, lists and strings)")
        return super().find_class(module, name)


def load_pickle(path: Path, what: str, fix: str):
    """The object pickled in `path`; ValueError naming the file, `what` it should be and the `fix`."""
    with open(path, "rb") as f:
        try:
            return BatchUnpickler(f, encoding="latin1").load()  # latin1 also reads Python 2 numpy arrays
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError,
                KeyError) as err:
            raise ValueError(f"{path}: not {what} ({type(err).__name__}: {err}); {fix}") from None
