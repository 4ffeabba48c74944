"""Oracle: reads a safetensors file with the safetensors package (as torch users would) and describes it.

usage: checkpoint_read_safetensors.py FILE OUT_JSON
  OUT_JSON: {"metadata": {...}, "tensors": {name: {"dtype": "torch.float32", "shape": [...], "sum": float}}}
  (sum: float64 sum of the values; of the absolute values for complex tensors)
"""
import json
import sys

import torch
from safetensors import safe_open

with safe_open(sys.argv[1], framework="pt") as f:
    tensors = {}
    for name in f.keys():
        t = f.get_tensor(name)
        s = t.to(torch.complex128).abs().sum() if t.is_complex() else t.double().sum()
        tensors[name] = {"dtype": str(t.dtype), "shape": list(t.shape), "sum": float(s)}
    out = {"metadata": f.metadata() or {}, "tensors": tensors}
with open(sys.argv[2], "w") as f:
    json.dump(out, f)
