//! `sam3c doc [NAME]`.

use crate::util::*;
use std::process::ExitCode;

pub fn doc(name: Option<&str>) -> ExitCode {
    match name {
        None => {
            print!("{}", sam3c_compiler::docs::catalog());
            ExitCode::SUCCESS
        }
        Some(n) => match sam3c_compiler::docs::component(n) {
            Some(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            None => {
                let names: Vec<&str> = sam3c_stdlib::components::all()
                    .iter()
                    .map(|c| c.name)
                    .collect();
                let hint = sam3c_compiler::suggest::did_you_mean(n, names.iter().copied())
                    .map(|h| format!("; {h}"))
                    .unwrap_or_else(|| "; `sam3c doc` lists every component".into());
                usage_error(&format!("no component `{n}`{hint}"))
            }
        },
    }
}
