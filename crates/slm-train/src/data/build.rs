//! Examples from records: token sequences with the loss mask of each format.

use std::path::Path;

use slm_model::generate::chat::ChatTemplate;
use tokenizers::Tokenizer;

use super::records::parse_messages;
use super::{Dataset, Example, Record, Specials};
use crate::error::{Result, TrainError};
use crate::recipe::{DataFormat, DataSection};

fn encode(tokenizer: &Tokenizer, path: &Path, line: u64, text: &str) -> Result<Vec<u32>> {
    tokenizer
        .encode(text, false)
        .map(|e| e.get_ids().to_vec())
        .map_err(|e| TrainError::Data { path: path.to_owned(), problem: format!("line {line}: cannot tokenize: {e}") })
}

/// A prompt/completion example: `prompt ++ completion ++ [eos]`, at most `max_len + 1` tokens (the prompt
/// is cut from the left first so that the completion and its EOS survive).
pub fn completion_example(prompt: &[u32], completion: &[u32], eos: u32, max_len: usize, mask_prompt: bool) -> Example {
    let mut completion = completion.to_vec();
    completion.push(eos);
    completion.truncate(max_len + 1);
    let keep = (max_len + 1 - completion.len()).min(prompt.len());
    let prompt = &prompt[prompt.len() - keep..];
    let tokens: Vec<u32> = prompt.iter().chain(&completion).copied().collect();
    // Target at position i is tokens[i + 1]; it belongs to the completion when i + 1 >= prompt.len().
    let weight = (0..tokens.len() - 1).map(|i| !mask_prompt || i + 1 >= prompt.len()).collect();
    Example { tokens, weight, docs: None, label: None, targets: None }
}

/// Builds the dataset of records read by [`read_records`].
///
/// # Errors
/// A text the tokenizer rejects, or too little data for one block.
pub fn build(
    records: &[(u64, Record)],
    section: &DataSection,
    tokenizer: &Tokenizer,
    specials: Specials,
    labels: &[String],
    chat: Option<&ChatTemplate>,
    path: &Path,
) -> Result<Dataset> {
    let max = section.max_length;
    match section.format {
        DataFormat::Text => {
            let encoded = records
                .iter()
                .map(|(line, r)| encode(tokenizer, path, *line, r.fields()[0]))
                .collect::<Result<Vec<_>>>()?;
            if !section.packing {
                let examples = encoded
                    .into_iter()
                    .map(|mut ids| {
                        ids.push(specials.eos);
                        ids.truncate(max + 1);
                        let n = ids.len() - 1;
                        Example { tokens: ids, weight: vec![true; n], docs: None, label: None, targets: None }
                    })
                    .filter(|e| e.tokens.len() >= 2)
                    .collect();
                return Ok(Dataset::Examples(examples));
            }
            let (mut tokens, mut docs) = (Vec::new(), Vec::new());
            for (d, ids) in encoded.into_iter().enumerate() {
                docs.extend(std::iter::repeat_n(d as u32, ids.len() + 1));
                tokens.extend(ids);
                tokens.push(specials.eos);
            }
            if tokens.len() < 2 * max + 1 {
                return Err(TrainError::Data {
                    path: path.to_owned(),
                    problem: format!(
                        "{} tokens are too few for blocks of data.max_length = {max} (need {})",
                        tokens.len(),
                        2 * max + 1
                    ),
                });
            }
            Ok(Dataset::Stream { tokens, docs, block: max })
        }
        DataFormat::PromptCompletion | DataFormat::Alpaca => {
            let mut examples = Vec::with_capacity(records.len());
            for (line, r) in records {
                let (prompt, completion) = r.prompt_and_reference().unwrap_or_default();
                let p = encode(tokenizer, path, *line, &prompt)?;
                let c = encode(tokenizer, path, *line, &completion)?;
                examples.push(completion_example(&p, &c, specials.eos, max, section.mask_prompt));
            }
            Ok(Dataset::Examples(examples))
        }
        DataFormat::Chat => {
            let template = chat.ok_or_else(|| TrainError::Data {
                path: path.to_owned(),
                problem: "data.format = \"chat\" needs a model with a chat template (tokenizer_config.json)".into(),
            })?;
            let mut examples = Vec::with_capacity(records.len());
            for (line, r) in records {
                let bad = |problem: String| TrainError::Data {
                    path: path.to_owned(),
                    problem: format!("line {line}: {problem}"),
                };
                let messages = parse_messages(r.fields()[0]).map_err(bad)?;
                let tokens = |text: String| encode(tokenizer, path, *line, &text);
                let render =
                    |upto: usize, open: bool| template.render(&messages[..upto], open).map_err(|e| bad(e.to_string()));
                let ids = tokens(render(messages.len(), false)?)?;
                let mut trained = vec![!section.mask_prompt; ids.len()];
                for (k, (role, _)) in messages.iter().enumerate() {
                    if role == "assistant" {
                        let start = tokens(render(k, true)?)?.len();
                        let end = tokens(render(k + 1, false)?)?.len().min(ids.len());
                        trained[start.min(end)..end].iter_mut().for_each(|t| *t = true);
                    }
                }
                let mut ids = ids;
                ids.truncate(section.max_length + 1);
                if ids.len() >= 2 {
                    // The target at position i is token i + 1.
                    let weight = (0..ids.len() - 1).map(|i| trained[i + 1]).collect();
                    examples.push(Example { tokens: ids, weight, docs: None, label: None, targets: None });
                }
            }
            Ok(Dataset::Examples(examples))
        }
        DataFormat::Classification => {
            let mut examples = Vec::with_capacity(records.len());
            for (line, r) in records {
                let mut ids = encode(tokenizer, path, *line, r.fields()[0])?;
                ids.truncate(max);
                if ids.is_empty() {
                    ids.push(specials.eos);
                }
                let name = r.label().unwrap_or_default();
                let label = labels.iter().position(|l| l == name).ok_or_else(|| TrainError::Data {
                    path: path.to_owned(),
                    problem: format!("line {line}: label `{name}` does not occur in the training data"),
                })?;
                // The last input is repeated as a dummy target so that `tokens` keeps its n + 1 shape.
                let n = ids.len();
                ids.push(ids[n - 1]);
                examples.push(Example {
                    tokens: ids,
                    weight: vec![false; n],
                    docs: None,
                    label: Some(label as u32),
                    targets: None,
                });
            }
            Ok(Dataset::Examples(examples))
        }
    }
}

#[cfg(test)]
mod tests {
    use burn::prelude::Device;

    use super::super::collate;
    use super::*;

    #[test]
    fn completion_masks_the_prompt_and_trains_the_eos() {
        let e = completion_example(&[10, 11, 12], &[20, 21], 2, 16, true);
        assert_eq!(e.tokens, vec![10, 11, 12, 20, 21, 2]);
        // Targets: 11, 12 (prompt: masked), 20, 21, 2 (completion and EOS: trained).
        assert_eq!(e.weight, vec![false, false, true, true, true]);
        let batch = collate(&[e, completion_example(&[10], &[20], 2, 16, true)], 99, false, &Device::flex());
        let counted: Vec<i64> = batch.counted.unwrap().into_data().convert::<i64>().try_to_vec().unwrap();
        assert_eq!(counted, vec![2, 3, 4, 5, 6]);
        let inputs: Vec<i64> = batch.inputs.into_data().convert::<i64>().try_to_vec().unwrap();
        // Padding uses the pad id and is never a target; the EOS (2) is a target in both rows.
        assert_eq!(&inputs[5..], &[10, 20, 99, 99, 99]);
        let targets: Vec<i64> = batch.targets.into_data().convert::<i64>().try_to_vec().unwrap();
        assert_eq!(targets, vec![20, 21, 2, 20, 2]);
        assert_eq!(batch.n_targets, 5);
    }

    #[test]
    fn chat_conversations_train_only_the_assistant_turns() {
        let path = slm_testkit::testdata("hf/gpt2/model/tokenizer.json");
        let tokenizer = Tokenizer::from_file(&path).unwrap();
        let template = ChatTemplate::new(
            "{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}{% if add_generation_prompt %}assistant: {% endif %}",
            "",
            "",
        );
        let section: DataSection = toml::from_str("train = \"x\"\nformat = \"chat\"").unwrap();
        let messages = r#"[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "ok"},
                           {"role": "user", "content": "and"}, {"role": "assistant", "content": "no"}]"#;
        let specials = Specials { eos: 0, pad: 1 };
        let ds = build(
            &[(1, Record::Chat { messages: messages.into() })],
            &section,
            &tokenizer,
            specials,
            &[],
            Some(&template),
            &path,
        )
        .unwrap();
        let e = ds.get(0);
        let trained: String = (0..e.weight.len())
            .filter(|&i| e.weight[i])
            .map(|i| tokenizer.id_to_token(e.tokens[i + 1]).unwrap())
            .collect();
        assert_eq!(trained, "ok\nno\n");
        let bad = build(
            &[(3, Record::Chat { messages: "[{\"role\": 1}]".into() })],
            &section,
            &tokenizer,
            specials,
            &[],
            Some(&template),
            &path,
        );
        let Err(err) = bad else { panic!("a malformed message must fail") };
        assert!(err.to_string().contains("line 3: message 1 needs string `role` and `content`"), "{err}");
    }

    #[test]
    fn long_prompts_are_cut_from_the_left() {
        let e = completion_example(&[1, 2, 3, 4, 5], &[6, 7], 0, 4, true);
        assert_eq!(e.tokens, vec![4, 5, 6, 7, 0]);
        assert_eq!(e.weight, vec![false, true, true, true]);
    }
}
