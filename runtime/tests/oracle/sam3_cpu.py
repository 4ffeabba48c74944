"""Lets upstream sam3 0.1.4 modules run without CUDA: constructors that name device="cuda" get the CPU, and
`pin_memory` (called by the geometry encoder's box pooling) is a no-op. Imported for its side effects."""
import functools

import torch


def _to_cpu(fn):
    @functools.wraps(fn)
    def inner(*a, **k):
        if str(k.get("device", "")).startswith("cuda"):
            k["device"] = "cpu"
        return fn(*a, **k)

    return inner


if not torch.cuda.is_available():
    for _name in ["zeros", "arange", "ones", "empty", "tensor", "full"]:
        setattr(torch, _name, _to_cpu(getattr(torch, _name)))
    torch.Tensor.pin_memory = lambda self, *a, **k: self
