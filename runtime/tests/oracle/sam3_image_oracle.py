"""Oracle of the image-model parity tests (tests/image_parity.rs).

Builds reduced-size modules from Meta's `sam3` package (0.1.4) on CPU, re-randomizes every parameter
(randn * 0.1, so that swapped or misnamed weights cannot hide behind zero/one inits), runs forward and a
backward pass with a fixed random upstream gradient, and writes one safetensors file:
  weights.<name>   the state dict (complex RoPE buffers left out: the runtime recomputes them)
  input.<name>     inputs;  output.<name>  outputs;  grads.<name>  parameter gradients
usage: python sam3_image_oracle.py CASE OUT.safetensors   |   python sam3_image_oracle.py all OUTDIR
"""

import math
import os
import sys

import torch
import torch.nn as nn
from safetensors.torch import save_file

import sam3_cpu  # noqa: F401  (patches that let upstream modules run without CUDA)

torch.manual_seed(0)
torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)

ASSETS = os.environ.get("SAM3C_ASSETS", os.path.join(os.path.dirname(__file__), "..", "..", "assets"))
BPE_PATH = os.path.join(ASSETS, "bpe_simple_vocab_16e6.txt.gz")


class Out:
    """Collects the tensors of one case."""

    def __init__(self):
        self.t = {}

    def weights(self, module, prefix=""):
        for k, v in module.state_dict().items():
            if v.is_complex():
                continue
            self.t[f"weights.{prefix}{k}"] = v.detach().clone()

    def grads(self, module, prefix=""):
        for k, p in module.named_parameters():
            if p.grad is not None:
                self.t[f"grads.{prefix}{k}"] = p.grad.detach().clone()

    def __setitem__(self, k, v):
        if isinstance(v, bool):
            v = torch.tensor(v)
        if v.dtype == torch.bool:
            v = v.to(torch.uint8)
        self.t[k] = v.detach().clone().contiguous()

    def save(self, path):
        save_file({k: v.contiguous() for k, v in self.t.items()}, path)


def randomize(module, scale=0.1):
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn_like(p) * scale)
    return module


def backward(out, outputs, upstream_name="upstream"):
    """Sum of <output, fixed random tensor> over the given outputs, then backward."""
    total = 0
    for i, y in enumerate(outputs):
        g = torch.randn_like(y)
        out[f"input.{upstream_name}{i}"] = g
        total = total + (y * g).sum()
    total.backward()


CASES = {}


def case(fn):
    CASES[fn.__name__] = fn
    return fn


# ---------------------------------------------------------------------------------------------- common blocks


@case
def mha(out):
    from sam3.model.model_misc import MultiheadAttentionWrapper

    d, h = 16, 4
    # batch-first self-attention (q is k is v) with key padding: the text encoder / fusion encoder pattern
    m1 = randomize(nn.MultiheadAttention(d, h, batch_first=True))
    x = torch.randn(2, 5, d)
    kpm = torch.tensor([[False] * 5, [False, False, False, True, True]])
    y1 = m1(x, x, x, key_padding_mask=kpm, need_weights=False)[0]
    # seq-first cross-attention (k is v), 3D additive mask + key padding: the decoder image cross-attention
    m2 = randomize(MultiheadAttentionWrapper(d, h))
    q = torch.randn(3, 2, d)
    kv = torch.randn(6, 2, d)
    am = torch.randn(2 * h, 3, 6)
    kpm2 = torch.tensor([[False] * 6, [False] * 4 + [True] * 2])
    y2 = m2(query=q, key=kv, value=kv, attn_mask=am, key_padding_mask=kpm2)[0]
    # q is k, v distinct, causal float mask: the decoder self-attention pattern
    m3 = randomize(nn.MultiheadAttention(d, h))
    v = torch.randn(4, 2, d)
    qk = v + torch.randn(4, 2, d)
    causal = torch.full((4, 4), float("-inf")).triu_(1)
    y3 = m3(qk, qk, v, attn_mask=causal, need_weights=False)[0]
    for name, m in [("self_bf", m1), ("cross", m2), ("qk", m3)]:
        out.weights(m, f"{name}.")
    out["input.x"], out["input.kpm"] = x, kpm
    out["input.q"], out["input.kv"], out["input.am"], out["input.kpm2"] = q, kv, am, kpm2
    out["input.v"], out["input.qk"], out["input.causal"] = v, qk, causal
    out["output.self_bf"], out["output.cross"], out["output.qk"] = y1, y2, y3
    backward(out, [y1, y2, y3])
    for name, m in [("self_bf", m1), ("cross", m2), ("qk", m3)]:
        out.grads(m, f"{name}.")


@case
def mlp(out):
    from sam3.model.model_misc import MLP

    m1 = randomize(MLP(6, 12, 4, 3))
    m2 = randomize(MLP(8, 20, 8, 2, dropout=0.1, residual=True, out_norm=nn.LayerNorm(8))).eval()
    x1, x2 = torch.randn(3, 2, 6), torch.randn(5, 8)
    y1, y2 = m1(x1), m2(x2)
    out.weights(m1, "plain.")
    out.weights(m2, "residual.")
    out["input.x1"], out["input.x2"], out["output.plain"], out["output.residual"] = x1, x2, y1, y2
    backward(out, [y1, y2])
    out.grads(m1, "plain.")
    out.grads(m2, "residual.")


@case
def position_encoding(out):
    from sam3.model.model_misc import gen_sineembed_for_position
    from sam3.model.position_encoding import PositionEmbeddingSine

    pe = PositionEmbeddingSine(num_pos_feats=32, normalize=True, scale=None, temperature=10000)
    out["output.map"] = pe(torch.zeros(2, 1, 5, 7))
    b = torch.rand(6, 4)
    out["input.boxes"] = b
    out["output.boxes"] = pe.encode_boxes(b[:, 0], b[:, 1], b[:, 2], b[:, 3])
    pts = torch.rand(5, 3, 2)
    out["input.points"] = pts
    ex, ey = pe._encode_xy(pts[..., 0].flatten(), pts[..., 1].flatten())
    out["output.points_x"], out["output.points_y"] = ex, ey
    ref = torch.rand(7, 2, 4)
    out["input.ref"] = ref
    out["output.sine4"] = gen_sineembed_for_position(ref, 32)
    out["output.sine2"] = gen_sineembed_for_position(ref[..., :2], 32)


@case
def rope(out):
    from sam3.model.vitdet import apply_rotary_enc, compute_axial_cis

    for name, (dim, ex, ey, scale) in {"window": (16, 4, 4, 1.0), "global": (16, 6, 6, 4 / 6)}.items():
        cis = compute_axial_cis(dim=dim, end_x=ex, end_y=ey, theta=10000.0, scale_pos=scale)
        q = torch.randn(2, 3, ex * ey, dim)
        k = torch.randn(2, 3, ex * ey, dim)
        qo, ko = apply_rotary_enc(q, k, freqs_cis=cis)
        out[f"output.{name}_cos"], out[f"output.{name}_sin"] = cis.real, cis.imag
        out[f"input.{name}_q"], out[f"input.{name}_k"] = q, k
        out[f"output.{name}_q"], out[f"output.{name}_k"] = qo, ko
    # keys twice as long as queries (the tracker's repeat_freqs_k)
    cis = compute_axial_cis(dim=8, end_x=3, end_y=2)
    q, k = torch.randn(1, 2, 6, 8), torch.randn(1, 2, 12, 8)
    qo, ko = apply_rotary_enc(q, k, freqs_cis=cis, repeat_freqs_k=True)
    out["input.rep_q"], out["input.rep_k"], out["output.rep_q"], out["output.rep_k"] = q, k, qo, ko


def main():
    """CASE may be `all`: then OUT is a directory and every case writes OUT/<case>.safetensors, or
    OUT/<case>.error with the traceback when it fails (one interpreter start for the whole test binary)."""
    name, path = sys.argv[1], sys.argv[2]
    if name == "all":
        import traceback

        os.makedirs(path, exist_ok=True)
        for case_name, fn in CASES.items():
            torch.manual_seed(0)
            try:
                out = Out()
                fn(out)
                out.save(os.path.join(path, f"{case_name}.safetensors"))
            except Exception:
                with open(os.path.join(path, f"{case_name}.error"), "w") as f:
                    f.write(traceback.format_exc())
        return
    if name not in CASES:
        sys.exit(f"unknown case {name}; known: {sorted(CASES)}")
    out = Out()
    CASES[name](out)
    out.save(path)


if __name__ == "__main__":
    main()
