//! SAM 2's prompting recipe for training on clips (`SAM2Train.prepare_prompt_inputs`), with the values of SAM 2.1's
//! training config (`sam2.1_hiera_b+_MOSE_finetune.yaml`) as defaults.
//!
//! Per clip: with probability `prob_to_use_pt_input` the conditioning frames get clicks (a noisy box with
//! probability `prob_to_use_box_input`, else one click in the mask) and some frames get correction clicks;
//! otherwise the conditioning frames get the ground-truth masks and nothing is corrected. Frame 0 is always a
//! conditioning frame; up to `num_init_cond_frames` are (a random number of them with `rand_init_cond_frames`).

use crate::data::Rng;
use sam3c_stdlib::components::model::TrackerPrompts;

/// How a clip is prompted in training. Field names are `SAM2Train`'s (without the `_for_train` suffix).
#[derive(Debug, Clone, PartialEq)]
pub struct TrackerTrainingRecipe {
    /// Probability of clicks (instead of masks) on the conditioning frames.
    pub prob_to_use_pt_input: f64,
    /// With clicks: probability that a conditioning frame gets a noisy box instead of one click.
    pub prob_to_use_box_input: f64,
    /// With clicks: how many frames receive correction clicks (the conditioning frames first).
    pub num_frames_to_correct: usize,
    /// Draw that number uniformly between the number of conditioning frames and `num_frames_to_correct`.
    pub rand_frames_to_correct: bool,
    /// Conditioning frames (frame 0 plus random others).
    pub num_init_cond_frames: usize,
    /// Draw that number uniformly in `1..=num_init_cond_frames`.
    pub rand_init_cond_frames: bool,
    /// A frame that receives correction clicks becomes a conditioning frame of the memory.
    pub add_all_frames_to_correct_as_cond: bool,
    /// Correction clicks added one by one on each corrected frame, each followed by a new prediction.
    pub num_correction_pt_per_frame: usize,
    /// Probability that a correction click is sampled from the ground-truth mask instead of the error region.
    pub prob_to_sample_from_gt: f64,
    /// At most this many objects of the first frame are tracked per clip (a random subset; SAM 2's
    /// `max_num_objects`). None: all of them.
    pub max_objects: Option<usize>,
    /// Run the vision backbone without gradients (SAM 2's `freeze_image_encoder`); the optimizer should then
    /// leave it frozen too.
    pub freeze_backbone: bool,
}

impl Default for TrackerTrainingRecipe {
    /// SAM 2.1's MOSE fine-tuning recipe: the catalog's `tracker_prompts()`, the backbone trained.
    fn default() -> Self {
        TrackerTrainingRecipe::from_prompts(&TrackerPrompts::default(), false)
    }
}

impl TrackerTrainingRecipe {
    /// The recipe of a stage: its model's `prompts`, and whether the optimizer freezes the whole vision backbone
    /// (which then runs without gradients).
    pub fn from_prompts(prompts: &TrackerPrompts, freeze_backbone: bool) -> Self {
        TrackerTrainingRecipe {
            prob_to_use_pt_input: prompts.clicks,
            prob_to_use_box_input: prompts.boxes,
            num_frames_to_correct: prompts.corrected_frames as usize,
            rand_frames_to_correct: prompts.random_corrected_frames,
            num_init_cond_frames: prompts.cond_frames as usize,
            rand_init_cond_frames: prompts.random_cond_frames,
            add_all_frames_to_correct_as_cond: prompts.corrected_as_cond,
            num_correction_pt_per_frame: prompts.corrections as usize,
            prob_to_sample_from_gt: prompts.gt_clicks,
            max_objects: prompts.objects.map(|n| n as usize),
            freeze_backbone,
        }
    }
}

/// How one clip is prompted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptPlan {
    /// Clicks (true) or ground-truth masks (false) on the conditioning frames.
    pub use_pt_input: bool,
    /// The initial conditioning frames, frame 0 first (processing order).
    pub init_cond_frames: Vec<usize>,
    /// Per initial conditioning frame (same order), with clicks: a box (true) or one click (false).
    pub box_input: Vec<bool>,
    /// The frames that receive correction clicks.
    pub frames_to_correct: Vec<usize>,
    /// Frames in processing order: the conditioning frames, then the others in time order.
    pub processing_order: Vec<usize>,
}

impl PromptPlan {
    pub fn is_init_cond(&self, frame: usize) -> bool {
        self.init_cond_frames.contains(&frame)
    }

    /// The prompt of conditioning frame `frame`: `None` for other frames.
    pub fn prompt_of(&self, frame: usize) -> Option<FramePrompt> {
        let k = self.init_cond_frames.iter().position(|&t| t == frame)?;
        Some(match (self.use_pt_input, self.box_input[k]) {
            (false, _) => FramePrompt::Mask,
            (true, true) => FramePrompt::Box,
            (true, false) => FramePrompt::Click,
        })
    }
}

/// The prompt a conditioning frame gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FramePrompt {
    Mask,
    Box,
    Click,
}

/// `k` distinct items of `from`, in draw order (numpy's `choice(..., replace=False)`).
fn choose(from: &[usize], k: usize, rng: &mut Rng) -> Vec<usize> {
    let mut pool = from.to_vec();
    let mut out = Vec::with_capacity(k);
    for _ in 0..k.min(pool.len()) {
        let i = rng.below(pool.len() as u64) as usize;
        out.push(pool.swap_remove(i));
    }
    out
}

impl TrackerTrainingRecipe {
    /// Checks what `SAM2Train` asserts; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        for (name, p) in [
            ("prob_to_use_pt_input", self.prob_to_use_pt_input),
            ("prob_to_use_box_input", self.prob_to_use_box_input),
            ("prob_to_sample_from_gt", self.prob_to_sample_from_gt),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return Err(format!("`{name}` is a probability, got {p}"));
            }
        }
        if self.num_init_cond_frames == 0 {
            return Err(
                "`num_init_cond_frames` must be at least 1 (frame 0 is always prompted)".into(),
            );
        }
        if self.prob_to_use_pt_input > 0.0 && self.num_frames_to_correct < self.num_init_cond_frames
        {
            return Err(format!(
                "`num_frames_to_correct` ({}) must be at least `num_init_cond_frames` ({}): every conditioning \
                 frame prompted with clicks is corrected",
                self.num_frames_to_correct, self.num_init_cond_frames
            ));
        }
        if self.max_objects == Some(0) {
            return Err("`max_objects` must be at least 1".into());
        }
        Ok(())
    }

    /// The prompting of a clip of `num_frames` frames, drawn from `rng` in `SAM2Train`'s order. On a single
    /// frame, clicks are forced (SAM 2's image case). Counts larger than the clip allows are capped.
    pub fn plan(&self, num_frames: usize, rng: &mut Rng) -> PromptPlan {
        let (mut prob_pt, mut num_correct, mut num_init) = (
            self.prob_to_use_pt_input,
            self.num_frames_to_correct,
            self.num_init_cond_frames,
        );
        if num_frames == 1 {
            prob_pt = 1.0;
            num_correct = 1;
            num_init = 1;
        }
        let use_pt_input = rng.uniform() < prob_pt;
        if self.rand_init_cond_frames && num_init > 1 {
            num_init = rng.int_inclusive(1, num_init as i64) as usize;
        }
        if use_pt_input && self.rand_frames_to_correct && num_correct > num_init {
            num_correct = rng.int_inclusive(num_init as i64, num_correct as i64) as usize;
        }
        let num_init = num_init.min(num_frames.max(1));
        let later: Vec<usize> = (1..num_frames).collect();
        let mut init_cond_frames = vec![0];
        init_cond_frames.extend(choose(&later, num_init - 1, rng));
        let box_input: Vec<bool> = init_cond_frames
            .iter()
            .map(|_| use_pt_input && rng.uniform() < self.prob_to_use_box_input)
            .collect();
        let rest: Vec<usize> = (0..num_frames)
            .filter(|t| !init_cond_frames.contains(t))
            .collect();
        let frames_to_correct = if !use_pt_input {
            Vec::new()
        } else if num_correct <= num_init {
            init_cond_frames.clone()
        } else {
            let mut frames = init_cond_frames.clone();
            frames.extend(choose(&rest, num_correct - num_init, rng));
            frames
        };
        let mut processing_order = init_cond_frames.clone();
        processing_order.extend(&rest);
        PromptPlan {
            use_pt_input,
            init_cond_frames,
            box_input,
            frames_to_correct,
            processing_order,
        }
    }
}
