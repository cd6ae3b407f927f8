//! The one progress renderer of the command line, on stderr with indicatif. Bars draw only on a terminal;
//! when stderr is not a terminal (CI logs, pipes) nothing is drawn, and commands print plain lines.

use std::io::IsTerminal;
use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressStyle};

/// A progress bar: library stages ([`slm_data::Progress`]), or a count of items a command works through.
pub struct Bar {
    bar: Mutex<Option<ProgressBar>>,
    tty: bool,
}

impl Bar {
    /// A renderer with nothing drawn yet (library stages start bars).
    pub fn new() -> Self {
        Bar { bar: Mutex::new(None), tty: std::io::stderr().is_terminal() }
    }

    /// A bar counting `total` `unit`s (prompts, samples, steps), drawn at once on a terminal.
    pub fn counting(total: u64, unit: &str) -> Self {
        let b = Bar::new();
        if b.tty {
            let template = format!("{{pos}}/{{len}} {unit} [{{bar:30}}] {{msg}} eta {{eta}}");
            b.show(ProgressBar::new(total).with_style(style(&template)));
        }
        b
    }

    /// Whether bars are drawn (stderr is a terminal).
    pub fn is_drawn(&self) -> bool {
        self.tty
    }

    fn show(&self, bar: ProgressBar) {
        *self.bar.lock().expect("progress lock") = Some(bar);
    }

    fn with(&self, f: impl FnOnce(&ProgressBar)) {
        if let Some(bar) = &*self.bar.lock().expect("progress lock") {
            f(bar);
        }
    }

    /// Moves the bar to `pos`.
    pub fn set_position(&self, pos: u64) {
        self.with(|b| b.set_position(pos));
    }

    /// Advances the bar by `n`.
    pub fn inc(&self, n: u64) {
        self.with(|b| b.inc(n));
    }

    /// The text after the bar (loss, tokens/s, ...).
    pub fn set_message(&self, message: String) {
        self.with(|b| b.set_message(message));
    }

    /// Prints a line on stderr above the bar.
    pub fn line(&self, text: &str) {
        match &*self.bar.lock().expect("progress lock") {
            Some(bar) => bar.suspend(|| eprintln!("{text}")),
            None => eprintln!("{text}"),
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(bar) = self.bar.lock().expect("progress lock").take() {
            bar.finish_and_clear();
        }
    }
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).expect("valid template").progress_chars("=> ")
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
            Some(n) => ProgressBar::new(n)
                .with_style(style("{msg:>12} [{bar:30}] {human_pos}/{human_len} {per_sec} eta {eta}")),
            None => ProgressBar::new_spinner(),
        };
        bar.set_message(name.to_owned());
        self.show(bar);
    }

    fn advance(&self, n: u64) {
        self.inc(n);
    }

    fn warn(&self, message: &str) {
        self.line(&format!("warning: {message}"));
    }
}
