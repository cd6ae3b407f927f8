//! Training records by shape: what each line of a data file holds for the recipe's `data.format`.

use std::path::Path;

use slm_data::records::{Reader, field_str};

use crate::error::{Result, TrainError};
use crate::recipe::{DataFormat, DataSection};

/// One training record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// A document (pretraining).
    Text(String),
    /// A prompt and the completion the model learns.
    PromptCompletion {
        /// The prompt.
        prompt: String,
        /// The completion.
        completion: String,
    },
    /// Alpaca's instruction, optional input and output.
    Alpaca {
        /// The instruction.
        instruction: String,
        /// Context for the instruction (may be empty).
        input: String,
        /// The response the model learns.
        output: String,
    },
    /// A text and its class.
    Classification {
        /// The text.
        text: String,
        /// Its label.
        label: String,
    },
    /// A conversation: a JSON array of `{"role", "content"}` messages.
    Chat {
        /// The raw JSON of the messages.
        messages: String,
    },
}

/// Records with the line each came from.
pub type Records = Vec<(u64, Record)>;

impl Record {
    /// Every field of the record, in the order of its format (what a tokenizer trained for the run
    /// learns from).
    pub fn fields(&self) -> Vec<&str> {
        match self {
            Record::Text(text) => vec![text],
            Record::PromptCompletion { prompt, completion } => vec![prompt, completion],
            Record::Alpaca { instruction, input, output } => vec![instruction, input, output],
            Record::Classification { text, label } => vec![text, label],
            Record::Chat { messages } => vec![messages],
        }
    }

    /// The label of a classification record.
    pub fn label(&self) -> Option<&str> {
        match self {
            Record::Classification { label, .. } => Some(label),
            _ => None,
        }
    }

    /// The prompt as the model sees it and the reference completion, for records that have both.
    pub fn prompt_and_reference(&self) -> Option<(String, String)> {
        match self {
            Record::PromptCompletion { prompt, completion } => Some((prompt.clone(), completion.clone())),
            Record::Alpaca { instruction, input, output } => Some((alpaca_prompt(instruction, input), output.clone())),
            _ => None,
        }
    }
}

/// The field names a format reads from each record, in [`Record::fields`] order.
pub(crate) fn field_names(section: &DataSection) -> Vec<&str> {
    match section.format {
        DataFormat::Text => vec![&section.text_field],
        DataFormat::PromptCompletion => vec![&section.prompt_field, &section.completion_field],
        DataFormat::Alpaca => vec!["instruction", "input", "output"],
        DataFormat::Classification => vec![&section.text_field, &section.label_field],
        DataFormat::Chat => vec![&section.messages_field],
    }
}

/// The record of `format` made of `values` (in [`field_names`] order).
fn record(format: DataFormat, values: Vec<String>) -> Record {
    let mut v = values.into_iter();
    let mut next = || v.next().unwrap_or_default();
    match format {
        DataFormat::Text => Record::Text(next()),
        DataFormat::PromptCompletion => Record::PromptCompletion { prompt: next(), completion: next() },
        DataFormat::Alpaca => Record::Alpaca { instruction: next(), input: next(), output: next() },
        DataFormat::Classification => Record::Classification { text: next(), label: next() },
        DataFormat::Chat => Record::Chat { messages: next() },
    }
}

/// The records of a file, with line numbers; a plain-text file of text data is one document.
///
/// # Errors
/// An unreadable file, a record without a field its format needs, or no records.
pub fn read_records(path: &Path, section: &DataSection) -> Result<Records> {
    if section.format == DataFormat::Text
        && slm_data::records::Format::from_path(path) == slm_data::records::Format::Text
    {
        let text = std::fs::read_to_string(path).map_err(|e| TrainError::io(path, e))?;
        return Ok(vec![(1, Record::Text(text))]);
    }
    let fields = field_names(section);
    let mut out = Vec::new();
    for record in Reader::open(path)? {
        let record = record?;
        let mut values = Vec::with_capacity(fields.len());
        for f in &fields {
            match field_str(&record.fields, f) {
                Some(v) => values.push(v.into_owned()),
                None if *f == "input" => values.push(String::new()),
                None => {
                    return Err(TrainError::Data {
                        path: path.to_owned(),
                        problem: format!("line {}: the record has no field `{f}`", record.line),
                    });
                }
            }
        }
        out.push((record.line, self::record(section.format, values)));
    }
    if out.is_empty() {
        return Err(TrainError::Data { path: path.to_owned(), problem: "the file has no records".into() });
    }
    Ok(out)
}

/// A conversation field (a JSON array of `{"role", "content"}` objects) as `(role, content)` pairs.
pub(crate) fn parse_messages(raw: &str) -> std::result::Result<Vec<(String, String)>, String> {
    let value: serde_json::Value =
        serde_json::from_str(raw).map_err(|_| "the messages field is not a JSON array of messages".to_owned())?;
    let list = value.as_array().ok_or("the messages field is not a JSON array of messages")?;
    list.iter()
        .enumerate()
        .map(|(i, m)| match (m["role"].as_str(), m["content"].as_str()) {
            (Some(r), Some(c)) => Ok((r.to_owned(), c.to_owned())),
            _ => Err(format!("message {} needs string `role` and `content`", i + 1)),
        })
        .collect()
}

/// Alpaca's prompt template (with and without an input).
pub fn alpaca_prompt(instruction: &str, input: &str) -> String {
    if input.trim().is_empty() {
        format!(
            "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n### Instruction:\n{instruction}\n\n### Response:\n"
        )
    } else {
        format!(
            "Below is an instruction that describes a task, paired with an input that provides further context. Write a response that appropriately completes the request.\n\n### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n"
        )
    }
}
