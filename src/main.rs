//! The `slm` binary: everything lives in the `slm-cli` crate; this file only hands over the process.

fn main() -> std::process::ExitCode {
    slm_cli::run()
}
