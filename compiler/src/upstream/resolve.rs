//! OmegaConf's interpolation, as sam3's trainer resolves it.
