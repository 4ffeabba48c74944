//! The tracker (`Sam3TrackerPredictor`, prefix `tracker.` in the video model): memory attention with RoPE,
//! memory encoder, SAM prompt encoder and mask decoder, object pointers. Facts: reference/upstream-sam3.md §5.

use serde::{Deserialize, Serialize};

/// Every size of the tracker. Extend with the remaining upstream constructor arguments as the port needs them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackerConfig {
    pub d_model: i64,
    /// Channels of the mask memory.
    pub mem_dim: i64,
    pub num_maskmem: i64,
    pub memory_attention_layers: i64,
    pub ffn_dim: i64,
}

impl TrackerConfig {
    pub fn full() -> Self {
        TrackerConfig {
            d_model: 256,
            mem_dim: 64,
            num_maskmem: 7,
            memory_attention_layers: 4,
            ffn_dim: 2048,
        }
    }

    pub fn tiny() -> Self {
        TrackerConfig {
            d_model: 64,
            mem_dim: 16,
            num_maskmem: 7,
            memory_attention_layers: 1,
            ffn_dim: 128,
        }
    }
}
