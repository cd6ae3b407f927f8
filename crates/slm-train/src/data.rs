//! Training data: records turned into token sequences with a loss mask, the per-epoch order, and batches
//! as tensors.
//!
//! - Text (pretraining): documents are concatenated with EOS after each and cut into blocks of
//!   `max_length + 1` tokens (inputs and shifted targets). Each epoch starts the blocks at another offset
//!   and visits them in another order, both from the seed. Where a block holds several documents,
//!   positions restart at 0 and attention stops at the boundary.
//! - Fine-tuning (prompt/completion, Alpaca): prompt ++ completion ++ EOS; the loss covers the completion
//!   and the EOS (so the model learns to stop), never the padding.
//! - Classification: the text and one label per record.

use std::path::Path;

use burn::prelude::*;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use slm_data::records::{Reader, field_str};
use slm_model::generate::chat::ChatTemplate;
use tokenizers::Tokenizer;

use crate::error::{Result, TrainError};
use crate::recipe::{DataFormat, DataSection};

/// One sequence: `tokens[i + 1]` is the target at position `i` where `weight[i]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    /// Input tokens followed by the last target (length n + 1).
    pub tokens: Vec<u32>,
    /// Whether the target at each of the n positions counts in the loss.
    pub weight: Vec<bool>,
    /// Document of each of the n input positions (packed text only).
    pub docs: Option<Vec<u32>>,
    /// Class of a classification example.
    pub label: Option<u32>,
    /// Masked LM: the target of each of the n positions (not shifted); `None`: next-token targets.
    pub targets: Option<Vec<u32>>,
}

/// A dataset of one split.
pub enum Dataset {
    /// One token stream cut into blocks.
    Stream {
        /// Tokens of all documents, EOS after each.
        tokens: Vec<u32>,
        /// Document index of each token.
        docs: Vec<u32>,
        /// Inputs per block.
        block: usize,
    },
    /// Separate examples.
    Examples(Vec<Example>),
}

impl Dataset {
    /// Items per epoch.
    pub fn len(&self) -> usize {
        match self {
            // As many windows as whole blocks fit in the stream.
            Dataset::Stream { tokens, block, .. } => tokens.len().saturating_sub(*block) / block,
            Dataset::Examples(e) => e.len(),
        }
    }

    /// Whether there is nothing to train on.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Item `item` of an epoch plan: the block starting at token `item` of a stream, or example `item`.
    pub fn get(&self, item: usize) -> Example {
        match self {
            Dataset::Stream { tokens, docs, block } => {
                let d = &docs[item..item + block];
                let packed = d.first() != d.last();
                Example {
                    tokens: tokens[item..=item + block].to_vec(),
                    weight: vec![true; *block],
                    docs: packed.then(|| d.to_vec()),
                    label: None,
                    targets: None,
                }
            }
            Dataset::Examples(e) => e[item].clone(),
        }
    }

    /// The items of epoch `epoch`, a pure function of seed and epoch. Shuffled: a stream yields `len()`
    /// windows at uniformly random starts (nanoGPT's sampling), examples come in a random permutation.
    /// In order: consecutive blocks from token 0, examples in file order.
    pub fn epoch_plan(&self, seed: u64, epoch: u64, shuffle: bool) -> Vec<usize> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        match self {
            Dataset::Stream { tokens, block, .. } if shuffle => {
                (0..self.len()).map(|_| rand::RngExt::random_range(&mut rng, 0..tokens.len() - block)).collect()
            }
            Dataset::Stream { block, .. } => (0..self.len()).map(|i| i * block).collect(),
            Dataset::Examples(e) => {
                let mut order: Vec<usize> = (0..e.len()).collect();
                if shuffle {
                    order.shuffle(&mut rng);
                }
                order
            }
        }
    }
}

/// Token ids the data pipeline needs.
#[derive(Debug, Clone, Copy)]
pub struct Specials {
    /// End of sequence: after every document and completion.
    pub eos: u32,
    /// Padding of inputs (never a target).
    pub pad: u32,
}

impl Specials {
    /// EOS and pad of a tokenizer: `<|endoftext|>`/`</s>`/`<|im_end|>`, and `<|pad|>` or the EOS.
    ///
    /// # Errors
    /// The tokenizer has no end-of-sequence token.
    pub fn of(tokenizer: &Tokenizer, eos_hint: Option<&str>, path: &Path) -> Result<Specials> {
        let eos = eos_hint
            .and_then(|t| tokenizer.token_to_id(t))
            .or_else(|| {
                ["<|endoftext|>", "</s>", "<|im_end|>", "<|eot_id|>"].iter().find_map(|t| tokenizer.token_to_id(t))
            })
            .ok_or_else(|| TrainError::Data {
                path: path.to_owned(),
                problem: "the tokenizer has no end-of-sequence token (<|endoftext|>, </s>, <|im_end|>)".into(),
            })?;
        let pad = tokenizer.token_to_id("<|pad|>").or_else(|| tokenizer.token_to_id("<pad>")).unwrap_or(eos);
        Ok(Specials { eos, pad })
    }
}

fn encode(tokenizer: &Tokenizer, path: &Path, line: u64, text: &str) -> Result<Vec<u32>> {
    tokenizer
        .encode(text, false)
        .map(|e| e.get_ids().to_vec())
        .map_err(|e| TrainError::Data { path: path.to_owned(), problem: format!("line {line}: cannot tokenize: {e}") })
}

/// The texts (or prompt/completion pairs, or text/label pairs) of a file, with line numbers.
pub fn read_records(path: &Path, section: &DataSection) -> Result<Vec<(u64, Vec<String>)>> {
    if section.format == DataFormat::Text
        && slm_data::records::Format::from_path(path) == slm_data::records::Format::Text
    {
        let text = std::fs::read_to_string(path).map_err(|e| TrainError::io(path, e))?;
        return Ok(vec![(1, vec![text])]);
    }
    let fields: Vec<&str> = match section.format {
        DataFormat::Text => vec![&section.text_field],
        DataFormat::PromptCompletion => vec![&section.prompt_field, &section.completion_field],
        DataFormat::Alpaca => vec!["instruction", "input", "output"],
        DataFormat::Classification => vec![&section.text_field, &section.label_field],
        DataFormat::Chat => vec![&section.messages_field],
    };
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
        out.push((record.line, values));
    }
    if out.is_empty() {
        return Err(TrainError::Data { path: path.to_owned(), problem: "the file has no records".into() });
    }
    Ok(out)
}

/// A conversation field (a JSON array of `{"role", "content"}` objects) as `(role, content)` pairs.
fn parse_messages(raw: &str) -> std::result::Result<Vec<(String, String)>, String> {
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
    records: &[(u64, Vec<String>)],
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
            let encoded =
                records.iter().map(|(line, v)| encode(tokenizer, path, *line, &v[0])).collect::<Result<Vec<_>>>()?;
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
            for (line, v) in records {
                let (prompt, completion) = if section.format == DataFormat::Alpaca {
                    (alpaca_prompt(&v[0], &v[1]), v[2].clone())
                } else {
                    (v[0].clone(), v[1].clone())
                };
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
            for (line, v) in records {
                let bad = |problem: String| TrainError::Data {
                    path: path.to_owned(),
                    problem: format!("line {line}: {problem}"),
                };
                let messages = parse_messages(&v[0]).map_err(bad)?;
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
            for (line, v) in records {
                let mut ids = encode(tokenizer, path, *line, &v[0])?;
                ids.truncate(max);
                if ids.is_empty() {
                    ids.push(specials.eos);
                }
                let label = labels.iter().position(|l| *l == v[1]).ok_or_else(|| TrainError::Data {
                    path: path.to_owned(),
                    problem: format!("line {line}: label `{}` does not occur in the training data", v[1]),
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

/// A batch as tensors.
pub struct Batch {
    /// `[b, n]` inputs.
    pub inputs: Tensor<2, Int>,
    /// The counted positions as indices into the flattened `[b * n]` positions; `None` when every
    /// position counts (packed pretraining), so the loss needs no gather.
    pub counted: Option<Tensor<1, Int>>,
    /// `[n_targets]` the target of every counted position, in order.
    pub targets: Tensor<1, Int>,
    /// Targets that count.
    pub n_targets: usize,
    /// Restarted positions and the block-diagonal mask, when some row packs several documents.
    pub ctx: slm_model::TokenLayout,
    /// `[b]` classes (classification).
    pub labels: Option<Tensor<1, Int>>,
    /// `[b]` index of each row's last real token.
    pub last: Tensor<1, Int>,
}

/// Pads `examples` on the right to the longest and moves them to `device`. With `mask_padding` (models
/// that attend in both directions) padded keys are masked; causal models never see right padding.
pub fn collate(examples: &[Example], pad: u32, mask_padding: bool, device: &Device) -> Batch {
    let b = examples.len();
    let n = examples.iter().map(|e| e.tokens.len() - 1).max().unwrap_or(1).max(1);
    let mut inputs = vec![i64::from(pad); b * n];
    let mut targets = Vec::new();
    let mut counted = Vec::new();
    let mut last = Vec::with_capacity(b);
    for (r, e) in examples.iter().enumerate() {
        let len = e.tokens.len() - 1;
        for i in 0..len {
            inputs[r * n + i] = i64::from(e.tokens[i]);
            if e.weight[i] {
                targets.push(i64::from(e.targets.as_ref().map_or(e.tokens[i + 1], |t| t[i])));
                counted.push((r * n + i) as i64);
            }
        }
        last.push(len.saturating_sub(1) as i64);
    }
    let n_targets = targets.len();
    let padded = examples.iter().any(|e| e.tokens.len() - 1 < n);
    let ctx = if examples.iter().any(|e| e.docs.is_some()) || (mask_padding && padded) {
        packed_context(examples, n, device)
    } else {
        Default::default()
    };
    let labels = examples
        .iter()
        .map(|e| e.label.map(i64::from))
        .collect::<Option<Vec<i64>>>()
        .map(|l| Tensor::from_data(TensorData::new(l, [b]), device));
    Batch {
        inputs: Tensor::from_data(TensorData::new(inputs, [b, n]), device),
        counted: (n_targets < b * n).then(|| Tensor::from_data(TensorData::new(counted, [n_targets]), device)),
        targets: Tensor::from_data(TensorData::new(targets, [n_targets]), device),
        n_targets,
        ctx,
        labels,
        last: Tensor::from_data(TensorData::new(last, [b]), device),
    }
}

/// Positions that restart at each document and a mask that keeps attention inside a document; right
/// padding counts as a document of its own, so real tokens never attend to it.
fn packed_context(examples: &[Example], n: usize, device: &Device) -> slm_model::TokenLayout {
    let b = examples.len();
    let mut positions = vec![0i64; b * n];
    let mut mask = vec![false; b * n * n];
    for (r, e) in examples.iter().enumerate() {
        let mut docs: Vec<u32> = e.docs.clone().unwrap_or_else(|| vec![0; e.tokens.len() - 1]);
        docs.resize(n, u32::MAX);
        let mut pos = 0;
        for i in 0..n {
            if i > 0 && docs[i] != docs[i - 1] {
                pos = 0;
            }
            positions[r * n + i] = pos;
            pos += 1;
            for j in 0..n {
                mask[(r * n + i) * n + j] = docs[i] != docs[j];
            }
        }
    }
    slm_model::TokenLayout {
        positions: Some(Tensor::from_data(TensorData::new(positions, [b, n]), device)),
        mask: Some(Tensor::from_data(TensorData::new(mask, [b, 1, n, n]), device)),
    }
}

#[cfg(test)]
mod tests {
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
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../slm-model/tests/fixtures/hf/gpt2/model/tokenizer.json");
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
        let ds =
            build(&[(1, vec![messages.into()])], &section, &tokenizer, specials, &[], Some(&template), &path).unwrap();
        let e = ds.get(0);
        let trained: String = (0..e.weight.len())
            .filter(|&i| e.weight[i])
            .map(|i| tokenizer.id_to_token(e.tokens[i + 1]).unwrap())
            .collect();
        assert_eq!(trained, "ok\nno\n");
        let bad =
            build(&[(3, vec!["[{\"role\": 1}]".into()])], &section, &tokenizer, specials, &[], Some(&template), &path);
        let Err(err) = bad else { panic!("a malformed message must fail") };
        assert!(err.to_string().contains("line 3: message 1 needs string `role` and `content`"), "{err}");
    }

    #[test]
    fn long_prompts_are_cut_from_the_left() {
        let e = completion_example(&[1, 2, 3, 4, 5], &[6, 7], 0, 4, true);
        assert_eq!(e.tokens, vec![4, 5, 6, 7, 0]);
        assert_eq!(e.weight, vec![false, true, true, true]);
    }

    #[test]
    fn packed_blocks_restart_positions_and_mask_other_documents() {
        let e = Example {
            tokens: vec![1, 2, 3, 4, 5],
            weight: vec![true; 4],
            docs: Some(vec![0, 0, 1, 1]),
            label: None,
            targets: None,
        };
        let ctx = packed_context(&[e], 4, &Device::flex());
        let pos: Vec<i64> = ctx.positions.unwrap().into_data().convert::<i64>().try_to_vec().unwrap();
        assert_eq!(pos, vec![0, 1, 0, 1]);
        let mask: Vec<bool> = ctx.mask.unwrap().into_data().try_to_vec().unwrap();
        assert_eq!(mask[2 * 4..3 * 4], [true, true, false, false]);
    }

    #[test]
    fn epoch_plans_are_seeded_and_stay_inside_the_data() {
        let tokens: Vec<u32> = (0..101).collect();
        let ds = Dataset::Stream { docs: vec![0; tokens.len()], tokens, block: 10 };
        let plan = ds.epoch_plan(7, 0, true);
        assert_eq!(plan.len(), ds.len());
        assert_eq!(ds.epoch_plan(7, 0, true), plan);
        assert_ne!(ds.epoch_plan(7, 1, true), plan);
        // Every window has its 10 inputs and the target after them.
        assert!(plan.iter().all(|&s| ds.get(s).tokens.len() == 11));
        assert_eq!(ds.epoch_plan(7, 0, false), (0..ds.len()).map(|i| i * 10).collect::<Vec<_>>());
        let examples = Dataset::Examples(vec![ds.get(0); 5]);
        let mut order = examples.epoch_plan(7, 0, true);
        order.sort_unstable();
        assert_eq!(order, vec![0, 1, 2, 3, 4]);
    }
}
