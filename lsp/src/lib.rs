//! The sam3c language server. `engine` computes editor features over plain data; `server` is the only code
//! that speaks the Language Server Protocol (JSON-RPC). `sam3c lsp` runs it over stdio.

pub mod engine;
pub mod server;

pub use server::run;
