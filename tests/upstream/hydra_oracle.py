"""Oracle of the upstream backend: composes the Hydra configs sam3c writes exactly as Meta's trainer does
(`initialize_config_module("sam3.train")` plus sam3c's search-path plugin, then `compose`), resolves them with sam3's
resolvers, compares them with Meta's own configs on the keys the trainer reads, and instantiates every component
group with the sam3 package on CPU.

usage: hydra_oracle.py MANIFEST.json RESULT.json

MANIFEST: {"work": DIR, "plugin": FILE, "bpe_path": FILE, "placeholders": {TEXT: VALUE},
           "configs": [{"name": NAME, "ours": FILE, "upstream": FILE|null, "parent": FILE|null,
                        "tasks": [INT], "instantiate": BOOL}]}

The comparison (what "equal" means):
* placeholders (`<YOUR_DATASET_DIR>`, ...) are replaced by the same values in both files before composing;
* both files are resolved for every listed job-array task;
* compared: `trainer` (the Trainer's arguments), `launcher.{num_nodes, gpus_per_node}` and the `submitit` keys
  train.py reads; `paths`, `scratch` and other namespaces are interpolation sugar and are compared through the values
  they produce;
* left out: keys no code reads (`optim_overrides`, `logging.wandb_writer`, `launcher.multiprocessing_context`,
  `submitit.constraint`, `Sam3ImageDataset(use_caching, is_sharded_annotation_dir, zstd_dict_path, filter_query)`),
  and in `mode: val` what validation never touches (`data.train`, losses other than the validation keys and
  `default`, the optimizer except `amp`, and `max_epochs`, `val_epoch_freq`, `skip_first_val`, `skip_saving_ckpts`,
  `gradient_accumulation_steps`, `empty_gpu_mem_cache_after_eval`: train-loop settings; `max_epochs` only scales the
  RNG seed, which validation does not use);
* output locations (`launcher.experiment_log_dir`, `checkpoint.save_dir`, `logging.log_dir`, the TensorBoard
  `log_dir`, meters' `dump_dir`) are reported, not compared: where outputs go below the experiment directory is
  the exporter's layout (per stage, per task), and the caller checks its own properties;
* every `_target_` call gets the defaults of its signature, dataclass sections (`checkpoint`, `distributed`, ...) the
  defaults of their dataclass, so that an argument left at its default equals the default written out;
* `ComposeAPI` lists are flattened (`ComposeAPI([a, b])` then `c` applies a, b, c, as a list does);
* absolute paths are normalized (`a/b/` = `a/b`); `build_sam3_image_model(device=...)` only tests `== "cuda"`;
  `COCO_FROM_JSON(prompts=...)` is compared as the {id: name} map it evaluates to; numbers compare by value.
"""
import ast
import copy
import inspect
import json
import math
import os
import posixpath
import shutil
import sys
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))

OUTPUT_KEYS = {
    ("launcher", "experiment_log_dir"),
    ("trainer", "checkpoint", "save_dir"),
    ("trainer", "logging", "log_dir"),
    ("trainer", "logging", "tensorboard_writer", "log_dir"),
}
UNREAD_DATASET_ARGS = {"use_caching", "is_sharded_annotation_dir", "zstd_dict_path", "filter_query"}
VAL_UNREAD_TRAINER = {
    "max_epochs",
    "val_epoch_freq",
    "skip_first_val",
    "skip_saving_ckpts",
    "gradient_accumulation_steps",
    "empty_gpu_mem_cache_after_eval",
}
SUBMITIT_READ = {
    "use_cluster": None,
    "partition": None,
    "account": None,
    "qos": None,
    "timeout_hour": None,
    "cpus_per_task": None,
    "port_range": None,
    "exclude_nodes": [],
    "include_nodes": None,
    "mem_gb": None,
    "mem": None,
    "constraints": None,
    "comment": None,
    "srun_args": None,
}


def main():
    manifest = json.load(open(sys.argv[1]))
    out_path = sys.argv[2]
    work = manifest["work"]
    # The search-path plugin, installed as `sam3c run --backend upstream` installs it.
    plugin_root = os.path.join(work, "plugin")
    os.makedirs(os.path.join(plugin_root, "hydra_plugins"), exist_ok=True)
    shutil.copy(manifest["plugin"], os.path.join(plugin_root, "hydra_plugins", "sam3c_searchpath.py"))
    sys.path.insert(0, plugin_root)
    sys.path.insert(0, HERE)
    config_root = os.path.join(work, "configs")
    for side in ["ours", "upstream"]:
        os.makedirs(os.path.join(config_root, side), exist_ok=True)
    placeholders = manifest.get("placeholders", {})

    def place(src, dst):
        text = open(src).read()
        for k, v in placeholders.items():
            text = text.replace(k, v)
        with open(dst, "w") as f:
            f.write(text)

    for entry in manifest["configs"]:
        place(entry["ours"], os.path.join(config_root, "ours", entry["name"] + ".yaml"))
        if entry.get("upstream"):
            place(entry["upstream"], os.path.join(config_root, "upstream", entry["name"] + ".yaml"))
        if entry.get("parent"):
            # A defaults-list parent is named by its path inside the trainer's config module.
            dst = os.path.join(config_root, "configs", os.path.basename(entry["parent"]))
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            place(entry["parent"], dst)
    os.environ["SAM3C_CONFIG_PATH"] = config_root

    import cpu_patch

    cpu_patch.apply()
    # The data loaders ask for the world size, as under train.py's launcher: one process, gloo, a file store.
    import torch.distributed as dist

    for k, v in {"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "1", "LOCAL_WORLD_SIZE": "1"}.items():
        os.environ.setdefault(k, v)
    if not dist.is_initialized():
        store = os.path.join(work, "dist_store")
        if os.path.exists(store):
            os.remove(store)
        dist.init_process_group("gloo", init_method="file://" + store, rank=0, world_size=1)
    from hydra import compose, initialize_config_module
    from sam3.train.utils.train_utils import register_omegaconf_resolvers

    register_omegaconf_resolvers()
    initialize_config_module("sam3.train", version_base="1.2")

    results = []
    for entry in manifest["configs"]:
        name = entry["name"]
        r = {"name": name, "differences": [], "outputs": {}, "groups": {}}
        try:
            ours = compose(config_name=f"ours/{name}.yaml")
            upstream = compose(config_name=f"upstream/{name}.yaml") if entry.get("upstream") else None
            for task in entry.get("tasks", [0]):
                mine = resolve(ours, task, f"ours/{name}.yaml")
                r["outputs"][str(task)] = outputs(mine)
                if upstream is not None:
                    theirs = resolve(upstream, task, f"upstream/{name}.yaml")
                    for d in compare(view(mine), view(theirs)):
                        r["differences"].append(f"task {task}: {d}")
            if entry.get("instantiate"):
                r["groups"] = instantiate_groups(resolve(ours, 0, name), manifest["bpe_path"], work)
        except Exception:
            r["error"] = traceback.format_exc()
        results.append(r)
    with open(out_path, "w") as f:
        json.dump({"configs": results}, f, indent=1)


# ---- resolution and the compared view ---------------------------------------------------------------------------


def resolve(cfg, task, config_name):
    from omegaconf import OmegaConf, open_dict

    c = copy.deepcopy(cfg)
    if OmegaConf.select(c, "submitit.job_array") is not None:
        with open_dict(c):
            c.submitit.job_array.task_index = task
    d = OmegaConf.to_container(c, resolve=True)
    if d["launcher"].get("experiment_log_dir") is None:
        # train.py's default (train.py:142).
        d["launcher"]["experiment_log_dir"] = os.path.join(os.getcwd(), "sam3_logs", config_name)
    return d


def outputs(d):
    out = {}
    for path in OUTPUT_KEYS:
        node = d
        for k in path:
            node = node.get(k) if isinstance(node, dict) else None
        out[".".join(path)] = node
    for key, meters in ((d.get("trainer", {}).get("meters") or {}).get("val") or {}).items():
        for m, meter in (meters or {}).items():
            out[f"trainer.meters.val.{key}.{m}.dump_dir"] = meter.get("dump_dir")
    return out


def collect_dict_keys(node):
    keys = []
    if isinstance(node, dict):
        if "collate_fn" in str(node.get("_target_", "")):
            keys.append(node.get("dict_key"))
        else:
            for v in node.values():
                keys.extend(collect_dict_keys(v))
    elif isinstance(node, list):
        for v in node:
            keys.extend(collect_dict_keys(v))
    return keys


def view(d):
    """The keys the trainer and train.py read, canonicalized."""
    t = copy.deepcopy(d["trainer"])
    t.pop("optim_overrides", None)
    if isinstance(t.get("logging"), dict):
        t["logging"].pop("wandb_writer", None)
    for path in OUTPUT_KEYS:
        if path[0] == "trainer":
            node = t
            for k in path[1:-1]:
                node = node.get(k) if isinstance(node, dict) else None
            if isinstance(node, dict) and path[-1] in node:
                node[path[-1]] = "<output>"
    for meters in ((t.get("meters") or {}).get("val") or {}).values():
        for meter in (meters or {}).values():
            if isinstance(meter, dict) and "dump_dir" in meter:
                meter["dump_dir"] = "<output>"
    if t.get("mode", "train") == "val":
        for k in VAL_UNREAD_TRAINER:
            t.pop(k, None)
        data = t.get("data") or {}
        data.pop("train", None)
        val_keys = set(collect_dict_keys(data.get("val")))
        t["loss"] = {k: v for k, v in (t.get("loss") or {}).items() if k in val_keys or k == "default"}
        t["optim"] = {"amp": (t.get("optim") or {}).get("amp")}
    submitit = d.get("submitit") or {}
    view_submitit = {k: submitit.get(k, default) for k, default in SUBMITIT_READ.items()}
    view_submitit["job_array.num_tasks"] = (submitit.get("job_array") or {}).get("num_tasks")
    launcher = d.get("launcher") or {}
    return canon(
        {
            "trainer": t,
            "launcher": {k: launcher.get(k) for k in ["num_nodes", "gpus_per_node"]},
            "submitit": view_submitit,
        },
        (),
    )


DATACLASS_SECTIONS = {
    ("trainer", "distributed"): "DistributedConf",
    ("trainer", "cuda"): "CudaConf",
    ("trainer", "checkpoint"): "CheckpointConf",
    ("trainer", "logging"): "LoggingConf",
    ("trainer", "optim"): "OptimConf",
    ("trainer", "optim", "amp"): "OptimAMPConf",
}


def locate(target):
    from hydra.utils import get_object

    return get_object(target)


def signature_defaults(obj):
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return {}
    out = {}
    for p in sig.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.default is p.empty:
            continue
        out[p.name] = p.default
    return out


def default_value(v):
    if inspect.isclass(v) or inspect.isfunction(v):
        return {"_target_": f"{v.__module__}.{v.__qualname__}", "_partial_": True}
    if isinstance(v, tuple):
        return list(v)
    return v


def canon(node, path):
    import dataclasses

    import sam3.train.trainer as trainer_module

    section = DATACLASS_SECTIONS.get(tuple(k for k in path if not isinstance(k, int)))
    if section is not None and path[:1] == ("trainer",):
        node = dict(node or {})
        for f in dataclasses.fields(getattr(trainer_module, section)):
            if f.name not in node:
                if f.default is not dataclasses.MISSING:
                    node[f.name] = default_value(f.default)
                elif f.default_factory is not dataclasses.MISSING:
                    node[f.name] = default_value(f.default_factory())
    if isinstance(node, dict):
        node = dict(node)
        target = node.get("_target_")
        if isinstance(target, str):
            try:
                for k, v in signature_defaults(locate(target)).items():
                    node.setdefault(k, default_value(v))
            except Exception:
                pass
            if target.endswith("Sam3ImageDataset") or target.endswith("VideoGroundingDataset"):
                for k in UNREAD_DATASET_ARGS:
                    node.pop(k, None)
            if target.endswith("build_sam3_image_model") or target.endswith("build_sam3_video_model"):
                node["device"] = "cuda" if node.get("device") == "cuda" else "cpu"
            if target.endswith("COCO_FROM_JSON") and isinstance(node.get("prompts"), str):
                node["prompts"] = sorted(
                    (int(p["id"]), p["name"]) for p in ast.literal_eval(node["prompts"])
                )
        return {k: canon(v, path + (k,)) for k, v in node.items()}
    if isinstance(node, (list, tuple)):
        items = []
        for i, v in enumerate(node):
            if isinstance(v, dict) and str(v.get("_target_", "")).endswith("ComposeAPI"):
                items.extend(canon(v.get("transforms") or [], path + (i,)))
            else:
                items.append(canon(v, path + (i,)))
        return items
    if isinstance(node, str) and node.startswith("/"):
        return posixpath.normpath(node)
    return node


def compare(a, b, where=""):
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in list(a.keys()) + [k for k in b.keys() if k not in a]:
            p = f"{where}.{k}" if where else str(k)
            if k not in a:
                out.append(f"{p}: missing in sam3c's config (upstream: {short(b[k])})")
            elif k not in b:
                out.append(f"{p}: not in upstream's config (sam3c: {short(a[k])})")
            else:
                out.extend(compare(a[k], b[k], p))
        return out
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{where}: {len(a)} items in sam3c's config, {len(b)} upstream ({short(a)} vs {short(b)})"]
        out = []
        for i, (x, y) in enumerate(zip(a, b)):
            out.extend(compare(x, y, f"{where}[{i}]"))
        return out
    if isinstance(a, bool) or isinstance(b, bool):
        return [] if a is b else [f"{where}: {a!r} vs upstream {b!r}"]
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return [] if math.isclose(a, b, rel_tol=1e-12, abs_tol=0.0) else [f"{where}: {a!r} vs upstream {b!r}"]
    return [] if a == b else [f"{where}: {short(a)} vs upstream {short(b)}"]


def short(v):
    s = json.dumps(v, default=str)
    return s if len(s) < 300 else s[:300] + "..."


# ---- instantiation on CPU -----------------------------------------------------------------------------------------


def make_coco(ann_file, img_folder, n_categories, zero_based, n_images=3):
    """A small COCO file with boxes and RLE masks; ids from 0 when the config reindexes (ODinW's numbering)."""
    import numpy as np
    from PIL import Image
    from pycocotools import mask as mask_utils

    os.makedirs(img_folder, exist_ok=True)
    os.makedirs(os.path.dirname(ann_file) or ".", exist_ok=True)
    first = 0 if zero_based else 1
    rng = np.random.RandomState(0)
    images, anns = [], []
    w, h = 64, 48
    for i in range(n_images):
        name = f"img_{i}.jpg"
        Image.fromarray((rng.rand(h, w, 3) * 255).astype("uint8")).save(os.path.join(img_folder, name))
        images.append({"id": first + i, "file_name": name, "width": w, "height": h})
        for k in range(2):
            x, y, bw, bh = 5 + 20 * k, 5 + 10 * k, 16, 12
            m = np.zeros((h, w), dtype=np.uint8)
            m[y : y + bh, x : x + bw] = 1
            rle = mask_utils.encode(np.asfortranarray(m))
            rle["counts"] = rle["counts"].decode()
            anns.append(
                {
                    "id": first + len(anns),
                    "image_id": first + i,
                    "category_id": first + (i + k) % n_categories,
                    "bbox": [x, y, bw, bh],
                    "area": float(bw * bh),
                    "segmentation": rle,
                    "iscrowd": 0,
                }
            )
    cats = [{"id": first + c, "name": f"thing {c}"} for c in range(n_categories)]
    with open(ann_file, "w") as f:
        json.dump({"images": images, "annotations": anns, "categories": cats}, f)


def dataset_nodes(node):
    if isinstance(node, dict):
        if str(node.get("_target_", "")).endswith("Sam3ImageDataset"):
            yield node
        for v in node.values():
            yield from dataset_nodes(v)
    elif isinstance(node, list):
        for v in node:
            yield from dataset_nodes(v)


def make_data(d):
    for ds in dataset_nodes(d.get("trainer", {}).get("data")):
        ann = ds["ann_file"]
        zero_based = isinstance(ann, dict)
        if zero_based:
            ann = ann["input_json_path"]
        prompts = (ds.get("coco_json_loader") or {}).get("prompts")
        n = len(ast.literal_eval(prompts)) if isinstance(prompts, str) else 2
        if not os.path.exists(ann):
            make_coco(ann, ds["img_folder"], n, zero_based)


def instantiate_groups(d, bpe_path, work):
    """Instantiate every component group of a resolved config; report what was built (or the error)."""
    import torch
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    import sam3.train.trainer as trainer_module
    from sam3.train.optim.optimizer import construct_optimizer
    from sam3.train.utils.logger import Logger
    from tiny_builder import build_tiny_sam3_image_model

    report = {}
    t = d["trainer"]
    cfg = OmegaConf.create(d)

    def step(name, fn):
        try:
            report[name] = fn()
        except Exception:
            report[name] = {"error": traceback.format_exc()}

    def trainer_args():
        kwargs = {k: v for k, v in t.items() if k != "_target_"}
        inspect.signature(trainer_module.Trainer).bind(**kwargs)
        trainer_module.CheckpointConf(**t["checkpoint"])
        trainer_module.LoggingConf(**t["logging"])
        trainer_module.DistributedConf(**(t.get("distributed") or {}))
        trainer_module.OptimConf(**(t.get("optim") or {}))
        return {"mode": t.get("mode"), "keys": sorted(kwargs)}

    step("trainer", trainer_args)
    make_data(d)

    def data(phase):
        def build():
            conf = cfg.trainer.data.get(phase)
            ds = instantiate(conf)
            point = ds.dataset[0]
            batch = ds.collate_fn([point] * ds.batch_size)
            chunks = batch if isinstance(batch, list) else [batch]
            keys = sorted({k for c in chunks for k in c.keys()})
            transforms = [type(x).__name__ for x in ds.dataset._transforms]
            return {
                "dataset": type(ds.dataset).__name__,
                "datapoints": len(ds.dataset),
                "transforms": transforms,
                "dict_keys": keys,
                "chunks": len(chunks),
                "image_shape": list(point.images[0].data.shape),
            }

        return build

    if t.get("data", {}).get("train") is not None:
        step("data.train", data("train"))
    if t.get("data", {}).get("val") is not None:
        step("data.val", data("val"))

    def loss():
        losses = instantiate(cfg.trainer.loss, _convert_="all")
        out = {}
        for k, v in losses.items():
            entry = {"class": type(v).__name__}
            if hasattr(v, "loss_fns_find"):
                entry["terms"] = [type(f).__name__ for f in v.loss_fns_find]
                entry["matcher"] = type(v.matcher).__name__ if v.matcher is not None else None
                entry["o2m_matcher"] = type(v.o2m_matcher).__name__ if v.o2m_matcher is not None else None
            out[k] = entry
        return out

    step("loss", loss)

    model_conf = t.get("model") or {}
    model_holder = {}

    def model():
        m = build_tiny_sam3_image_model(
            bpe_path,
            enable_segmentation=bool(model_conf.get("enable_segmentation", True)),
            eval_mode=bool(model_conf.get("eval_mode", False)),
        )
        model_holder["model"] = m
        return {"parameters": sum(p.numel() for p in m.parameters())}

    step("model (reduced size, upstream classes)", model)

    def optimizer():
        optim = cfg.trainer.get("optim")
        if optim is None or optim.get("optimizer") is None:
            return {"groups": 0}
        opt = construct_optimizer(
            model_holder["model"],
            optim.optimizer,
            optim.get("options"),
            optim.get("param_group_modifiers"),
        )
        opt.step_schedulers(where=0.5, step=50)
        groups = opt.optimizer.param_groups
        return {
            "groups": len(groups),
            "lrs": sorted({round(g["lr"], 15) for g in groups}),
            "weight_decays": sorted({g["weight_decay"] for g in groups}),
        }

    if "model" in model_holder:
        step("optimizer", optimizer)
        if t["optim"].get("gradient_clip") is not None:
            step("gradient_clip", lambda: type(instantiate(cfg.trainer.optim.gradient_clip)).__name__)

    def meters():
        ms = instantiate(cfg.trainer.meters, _convert_="all")
        out = {}
        for phase, keyed in ms.items():
            for key, named in keyed.items():
                for name, meter in named.items():
                    out[f"{phase}.{key}.{name}"] = {
                        "class": type(meter).__name__,
                        "iou_type": getattr(meter, "iou_type", None),
                        "postprocessor_iou_type": getattr(getattr(meter, "postprocessor", None), "iou_type", None),
                        "evaluators": [type(e).__name__ for e in (getattr(meter, "pred_file_evaluators", None) or [])],
                    }
        return out

    if t.get("meters"):
        step("meters", meters)

    def initializer():
        init = t["checkpoint"]["model_weight_initializer"]
        path = init["state_dict"]["checkpoint_path"]
        source = model_holder["model"]
        os.makedirs(os.path.dirname(path), exist_ok=True)
        # What the earlier stage's trainer saves: {"model": state_dict, ...}.
        torch.save({"model": source.state_dict(), "epoch": 1}, path)
        target = build_tiny_sam3_image_model(
            bpe_path, enable_segmentation=bool(model_conf.get("enable_segmentation", True))
        )
        loaded = instantiate(cfg.trainer.checkpoint.model_weight_initializer)(model=target)
        same = all(torch.equal(a, b) for a, b in zip(source.state_dict().values(), loaded.state_dict().values()))
        return {"loaded": same}

    if t["checkpoint"].get("model_weight_initializer") is not None and "model" in model_holder:
        step("checkpoint.model_weight_initializer", initializer)

    def logging():
        conf = trainer_module.LoggingConf(**copy.deepcopy(t["logging"]))
        logger = Logger(conf)
        return {"tensorboard": type(logger.tb_logger).__name__}

    step("logging", logging)
    return report


if __name__ == "__main__":
    main()
