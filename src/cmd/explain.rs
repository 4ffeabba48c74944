//! `sam3c explain CODE`.

use crate::util::*;
use std::process::ExitCode;

pub fn explain(code: Option<&str>) -> ExitCode {
    use sam3c_compiler::Code;
    match code {
        None => {
            for c in Code::ALL {
                println!("{}  {}", c.as_str(), c.title());
            }
            ExitCode::SUCCESS
        }
        Some(s) => match Code::parse(s) {
            Some(c) => {
                print!("{}", c.explanation());
                ExitCode::SUCCESS
            }
            None => {
                let all: Vec<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
                let hint =
                    sam3c_compiler::suggest::did_you_mean(&s.to_uppercase(), all.iter().copied())
                        .map(|h| format!("; {h}"))
                        .unwrap_or_else(|| "; `sam3c explain` lists them".into());
                usage_error(&format!("`{s}` is not a diagnostic code{hint}"))
            }
        },
    }
}
