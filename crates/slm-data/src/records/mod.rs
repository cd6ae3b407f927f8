//! Records: the unit of every dataset slm reads. A record is an ordered map of named fields, read from JSON
//! Lines, CSV/TSV with a header (RFC 4180 quoting) or plain text (one record per line, field `text`), and
//! written back in the format it came in.

mod format;
mod read;
mod write;

pub use format::Format;
pub use read::{Reader, Record, read_all};
pub use write::{AtomicFile, Writer, ensure_distinct};

/// The fields of one record, in the order the input gave them.
pub type Fields = serde_json::Map<String, serde_json::Value>;

/// The field name plain-text records use.
pub const TEXT_FIELD: &str = "text";

/// Returns a field's value as a string: strings as they are, numbers and booleans as JSON prints them,
/// `None` for a missing field or null.
pub fn field_str<'a>(fields: &'a Fields, name: &str) -> Option<std::borrow::Cow<'a, str>> {
    use serde_json::Value;
    match fields.get(name)? {
        Value::String(s) => Some(std::borrow::Cow::Borrowed(s)),
        Value::Null => None,
        other => Some(std::borrow::Cow::Owned(other.to_string())),
    }
}
