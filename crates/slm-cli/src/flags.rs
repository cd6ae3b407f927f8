//! Which flags the user actually typed, as opposed to defaults, so that a command can refuse a flag that
//! does not apply to the mode it runs in instead of silently ignoring it.

use std::collections::BTreeSet;

use clap::ArgMatches;
use clap::parser::ValueSource;

use crate::CliError;

/// The flags given on the command line (clap ids: field names, such as `smooth_value`).
#[derive(Debug, Default)]
pub struct Given(BTreeSet<String>);

impl Given {
    /// The flags of `matches` and of its nested subcommands that came from the command line.
    pub fn of(matches: &ArgMatches) -> Given {
        let mut ids = BTreeSet::new();
        let mut m = Some(matches);
        while let Some(current) = m {
            for id in current.ids() {
                if current.value_source(id.as_str()) == Some(ValueSource::CommandLine) {
                    ids.insert(id.as_str().to_owned());
                }
            }
            m = current.subcommand().map(|(_, sub)| sub);
        }
        Given(ids)
    }

    /// Whether `id` was given.
    pub fn has(&self, id: &str) -> bool {
        self.0.contains(id)
    }

    /// An error naming the first of `ids` that was given: it does not apply to `mode`.
    ///
    /// # Errors
    /// One of `ids` was given.
    pub fn refuse(&self, ids: &[&str], mode: &str) -> Result<(), CliError> {
        match ids.iter().find(|id| self.has(id)) {
            Some(id) => Err(CliError::Usage(format!("{} does not apply to {mode}", flag(id)))),
            None => Ok(()),
        }
    }
}

/// The spelling of the flag of clap id `id` (`smooth_value` → `--smooth-value`, `refs` → `--ref`).
pub fn flag(id: &str) -> String {
    match id {
        "refs" => "--ref".into(),
        _ => format!("--{}", id.replace('_', "-")),
    }
}
