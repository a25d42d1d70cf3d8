"""Start-up: keep torch's compiler stack out of eager runs.

torch.optim wraps Optimizer methods in `torch._disable_dynamo`, which imports torch._dynamo on the first
call: ~1 s here, as long as `import torch` itself, for runs that last a few seconds. The wrapper caches
the disabled function on the wrapped one (`fn.__dynamo_disable`); when nothing is compiled, the disabled
function *is* the function, so we fill that cache in advance. Under torch.compile we leave torch alone.
"""

from __future__ import annotations

import torch
import torch._compile

_INNER_CODE = torch._compile._disable_dynamo(lambda: None).__code__


def _wrapped_by_disable_dynamo(f) -> bool:
    return getattr(f, "__code__", None) is _INNER_CODE and hasattr(f, "__wrapped__")


def skip_dynamo_import(*classes: type) -> int:
    """Pre-fill the dynamo-disable cache of every wrapped method of `classes` (and their bases).

    Returns the number of methods touched. Only for eager runs: do not call it when using torch.compile.
    """
    touched = 0
    seen = set()
    for cls in classes:
        for klass in cls.__mro__:
            for attr in vars(klass).values():
                if _wrapped_by_disable_dynamo(attr) and id(attr) not in seen:
                    seen.add(id(attr))
                    attr.__wrapped__.__dynamo_disable = attr.__wrapped__
                    touched += 1
    return touched


def eager(cls: type) -> type:
    """`cls` with torch's step wrapper removed: for torch.optim.Adam, AdamW and SGD.

    Their `step` is wrapped in `_use_grad_for_differentiable`, which imports torch._dynamo for two graph
    breaks that only matter under torch.compile; in eager mode it only turns gradients off. The subclass
    calls the same step body under torch.no_grad(): the arithmetic is torch's, untouched.
    """
    import inspect

    body = inspect.unwrap(cls.step)

    def step(self, closure=None):
        with torch.no_grad():
            return body(self, closure)

    doc = f"{cls.__name__} with an eager step (adamw_repro.training.eager)."
    sub = type(f"Eager{cls.__name__}", (cls,), {"step": step, "__doc__": doc})
    skip_dynamo_import(sub)
    return sub
