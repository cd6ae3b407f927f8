//! Which flags the user actually typed, as opposed to defaults, so that a command can refuse a flag that
//! does not apply to the mode it runs in instead of silently ignoring it.

use std::collections::BTreeMap;

use clap::parser::ValueSource;
use clap::{ArgMatches, Command};

use crate::CliError;

/// The flags given on the command line, by clap id (the field name, such as `smooth_value`), each with
/// its spelling (`--smooth-value`).
#[derive(Debug, Default)]
pub struct Given(BTreeMap<String, String>);

impl Given {
    /// The flags of `matches` (parsed by `command`) and of its nested subcommands that came from the
    /// command line.
    pub fn of(command: &Command, matches: &ArgMatches) -> Given {
        let mut given = BTreeMap::new();
        let (mut cmd, mut m) = (Some(command), Some(matches));
        while let (Some(c), Some(current)) = (cmd, m) {
            for id in current.ids() {
                if current.value_source(id.as_str()) == Some(ValueSource::CommandLine) {
                    let arg = c.get_arguments().find(|a| a.get_id() == id);
                    let spelling = match arg.and_then(|a| a.get_long()) {
                        Some(long) => format!("--{long}"),
                        None => id.as_str().to_owned(),
                    };
                    given.insert(id.as_str().to_owned(), spelling);
                }
            }
            let sub = current.subcommand();
            cmd = sub.and_then(|(name, _)| c.find_subcommand(name));
            m = sub.map(|(_, sub)| sub);
        }
        Given(given)
    }

    /// An error naming the first of `ids` that was given: it does not apply to `mode`.
    ///
    /// # Errors
    /// One of `ids` was given.
    pub fn refuse(&self, ids: &[&str], mode: &str) -> Result<(), CliError> {
        match ids.iter().find_map(|id| self.0.get(*id)) {
            Some(flag) => Err(CliError::Usage(format!("{flag} does not apply to {mode}"))),
            None => Ok(()),
        }
    }
}
