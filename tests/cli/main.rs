//! The `slm` binary end to end, one test binary for the root package: each module runs the commands of
//! one area on real files and checks what they print and write.

mod architecture;
pub mod classify;
mod compress;
mod crash;
mod data_commands;
mod eval_cli;
mod eval_sandbox;
mod explain;
mod flags;
mod generate;
mod import;
mod robustness;
mod serve;
mod split;
mod train;
mod util;
