"""In-process patches that let the sam3 package (0.1.4) build and train models without CUDA; each one answers a
blocker of the upstream reference notes (§4.3): CUDA allocations, pin_memory, Triton focal loss, GPU memory meter,
gloo and complex buffers."""
import functools
import torch


def _to_cpu(fn):
    @functools.wraps(fn)
    def inner(*a, **k):
        if str(k.get("device", "")).startswith("cuda"):
            k["device"] = "cpu"
        return fn(*a, **k)
    return inner


def apply():
    for name in ["zeros", "arange", "ones", "empty", "tensor", "full"]:
        setattr(torch, name, _to_cpu(getattr(torch, name)))
    if torch.cuda.is_available():
        return
    torch.Tensor.pin_memory = lambda self, *a, **k: self
    import sam3.train.loss.loss_fns as lf  # Triton focal loss -> the torch path already in the code
    lf.sigmoid_focal_loss = functools.partial(lf.sigmoid_focal_loss, triton=False)
    import sam3.train.utils.train_utils as tu  # the GPU memory meter
    import sam3.train.trainer as trm
    tu.MemMeter.update = lambda self, n=1, reset_peak_usage=True: None
    trm.MemMeter.update = tu.MemMeter.update
    orig = trm.Trainer._setup_ddp_distributed_training  # gloo cannot broadcast complex RoPE buffers

    def patched(self, distributed_conf, accelerator):
        ignore = [n for n, b in self.model.named_buffers() if b.is_complex()]
        torch.nn.parallel.DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(self.model, ignore)
        return orig(self, distributed_conf, accelerator)

    trm.Trainer._setup_ddp_distributed_training = patched
