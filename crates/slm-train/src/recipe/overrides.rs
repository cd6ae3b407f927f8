//! `--set section.key=value` overrides, and serde's errors as sentences (an unknown key gets the nearest
//! valid one).

pub(super) fn apply_override(table: &mut toml::Table, assignment: &str) -> std::result::Result<(), String> {
    let (key, raw) =
        assignment.split_once('=').ok_or_else(|| format!("--set `{assignment}` is not of the form key=value"))?;
    let value: toml::Value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_owned()));
    let parts: Vec<&str> = key.trim().split('.').collect();
    let (last, sections) = parts.split_last().expect("split yields one part");
    let mut here = table;
    for s in sections {
        here = here
            .entry(s.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .ok_or_else(|| format!("--set {key}: `{s}` is not a section"))?;
    }
    here.insert(last.to_string(), value);
    Ok(())
}

/// serde's error as a sentence; an unknown key gets the nearest valid key.
pub(super) fn explain(e: &toml::de::Error) -> String {
    let msg = e.message().to_owned();
    let Some(rest) = msg.strip_prefix("unknown field `") else { return msg };
    let Some((field, expected)) = rest.split_once('`') else { return msg };
    let names: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    match names.iter().min_by_key(|n| edit_distance(field, n)) {
        Some(best) => format!("unknown key `{field}`; did you mean `{best}`?"),
        None => format!("unknown key `{field}`"),
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}
