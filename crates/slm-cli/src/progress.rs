//! Renders library progress reports with indicatif on stderr. Bars draw only on a terminal; when stderr
//! is not a terminal (CI logs, pipes) data commands stay quiet but for warnings.

use std::io::IsTerminal;
use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressStyle};

/// An indicatif-backed [`slm_data::Progress`].
pub struct Bar {
    bar: Mutex<Option<ProgressBar>>,
    tty: bool,
}

impl Bar {
    /// A renderer on stderr.
    pub fn new() -> Self {
        Bar { bar: Mutex::new(None), tty: std::io::stderr().is_terminal() }
    }

    fn finish(&self) {
        if let Some(bar) = self.bar.lock().expect("progress lock").take() {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.finish();
    }
}

impl slm_data::Progress for Bar {
    fn stage(&self, name: &str, total: Option<u64>) {
        self.finish();
        if !self.tty {
            return;
        }
        let bar = match total {
            Some(n) => ProgressBar::new(n).with_style(
                ProgressStyle::with_template("{msg:>12} [{bar:30}] {human_pos}/{human_len} {per_sec} eta {eta}")
                    .expect("valid template")
                    .progress_chars("=> "),
            ),
            None => ProgressBar::new_spinner(),
        };
        bar.set_message(name.to_owned());
        *self.bar.lock().expect("progress lock") = Some(bar);
    }

    fn advance(&self, n: u64) {
        if let Some(bar) = &*self.bar.lock().expect("progress lock") {
            bar.inc(n);
        }
    }

    fn warn(&self, message: &str) {
        match &*self.bar.lock().expect("progress lock") {
            Some(bar) => bar.suspend(|| eprintln!("warning: {message}")),
            None => eprintln!("warning: {message}"),
        }
    }
}
