//! Names and fixed values of Meta's trainer that the catalog does not carry: the wrappers and helpers around
//! catalog components, and the settings every upstream recipe uses. Shared by export (which writes them) and
//! import (which expects them).

pub const TRAINER: &str = "sam3.train.trainer.Trainer";
pub const COMPOSE: &str = "sam3.train.transforms.basic_for_api.ComposeAPI";
pub const TO_TENSOR: &str = "sam3.train.transforms.basic_for_api.ToTensorAPI";
pub const NORMALIZE: &str = "sam3.train.transforms.basic_for_api.NormalizeAPI";
pub const FLEXIBLE_FILTER: &str =
    "sam3.train.transforms.filter_query_transforms.FlexibleFilterFindGetQueries";
pub const RESIZE: &str = "sam3.train.transforms.basic_for_api.RandomResizeAPI";
pub const RESIZE_SCALES: &str = "sam3.train.transforms.basic.get_random_resize_scales";
pub const RESIZE_MAX_SIZE: &str = "sam3.train.transforms.basic.get_random_resize_max_size";
pub const TORCH_DATASET: &str = "sam3.train.data.torch_dataset.TorchDataset";
pub const IMAGE_DATASET: &str = "sam3.train.data.sam3_image_dataset.Sam3ImageDataset";
pub const COCO_LOADER: &str = "sam3.train.data.coco_json_loaders.COCO_FROM_JSON";
pub const REINDEX: &str = "sam3.eval.coco_reindex.reindex_coco_to_temp";
pub const COLLATE: &str = "sam3.train.data.collator.collate_fn_api";
pub const COLLATE_CHUNKED: &str = "sam3.train.data.collator.collate_fn_api_with_chunking";
pub const DUMMY_LOSS: &str = "sam3.train.loss.sam3_loss.DummyLoss";
pub const PREDICTION_DUMPER: &str = "sam3.eval.coco_writer.PredictionDumper";
pub const POSTPROCESS: &str = "sam3.eval.postprocessors.PostProcessImage";
pub const ADAMW: &str = "torch.optim.AdamW";
pub const GRADIENT_CLIPPER: &str = "sam3.train.optim.optimizer.GradientClipper";
pub const CONSTANT_SCHEDULER: &str = "fvcore.common.param_scheduler.ConstantParamScheduler";
pub const COSINE_SCHEDULER: &str = "fvcore.common.param_scheduler.CosineParamScheduler";
pub const TENSORBOARD: &str = "sam3.train.utils.logger.make_tensorboard_logger";
pub const LOAD_INTO_MODEL: &str = "sam3.train.utils.checkpoint_utils.load_state_dict_into_model";
pub const LOAD_CHECKPOINT: &str =
    "sam3.train.utils.checkpoint_utils.load_checkpoint_and_apply_kernels";
pub const IMAGE_MODEL: &str = "sam3.model_builder.build_sam3_image_model";
pub const VIDEO_MODEL: &str = "sam3.model_builder.build_sam3_video_model";

/// `Sam3ImageDataset` caps the recipes set so high that they never apply (annotations per image; queries per
/// datapoint in training). Validation keeps the default query cap (300).
pub const TRAIN_MAX_ANN_PER_IMG: i64 = 500_000;
pub const TRAIN_MAX_QUERIES: i64 = 50_000;
pub const VAL_MAX_ANN_PER_IMG: i64 = 100_000;

/// The master-port range of train.py's launcher (read for local and cluster runs alike).
pub const PORT_RANGE: [i64; 2] = [10_000, 65_000];
/// TensorBoard flush interval and scalar logging cadence of every recipe.
pub const TENSORBOARD_FLUSH_SECS: i64 = 120;
pub const LOG_FREQ: i64 = 10;
/// `PostProcessImage` and `PredictionDumper` settings of every recipe: predictions keep the dataset's own image
/// and category ids and the original image sizes, and are merged across ranks.
pub const GRADIENT_CLIP_NORM_TYPE: i64 = 2;

/// Module kinds that `no_decay` may name, with the class `construct_optimizer` looks for.
pub const MODULE_CLASSES: &[(&str, &str)] = &[
    ("LayerNorm", "torch.nn.LayerNorm"),
    ("GroupNorm", "torch.nn.GroupNorm"),
    ("Embedding", "torch.nn.Embedding"),
    ("Linear", "torch.nn.Linear"),
    ("Conv2d", "torch.nn.Conv2d"),
];

/// Whether a `_target_` is one of the query filters that upstream applies through
/// `FlexibleFilterFindGetQueries(query_filter=...)`.
pub fn is_query_filter(target: &str) -> bool {
    target
        .strip_prefix("sam3.train.transforms.filter_query_transforms.")
        .is_some_and(|class| class.starts_with("Filter"))
}
