//! Everything before the first step: the run directory, the records split 8:2 (or the given validation
//! file), the tokenizer (the model's, the recipe's, or one trained on the training texts), the datasets, the
//! model (fresh, fine-tuned, or resumed with its optimizer state), LoRA adapters and a distillation teacher.

use std::path::{Path, PathBuf};

use slm_model::{Config, Head, Transformer};
use tokenizers::Tokenizer;

use super::{Run, RunOptions, run_dir};
use crate::checkpoint::{self, State};
use crate::data::{self, Records};
use crate::distill::Teacher;
use crate::error::{Result, TrainError};
use crate::observer::Observer;
use crate::optim::AdamW;
use crate::recipe::{DataFormat, Recipe};
use crate::schedule::Schedule;

pub(super) fn prepare(recipe: &Recipe, opts: &RunOptions, obs: &mut dyn Observer) -> Result<Run> {
    let dir = run_dir::open(recipe, opts)?;
    let device = recipe.backend.device()?.autodiff();

    let data::Split { train: train_records, val: val_records, train_path, val_path } = data::split(recipe, &dir)?;
    let (tokenizer, tokenizer_dir) = tokenizer(recipe, &dir, opts.resume, &train_records)?;
    let tok_config = slm_model::io::model_dir::read_json_if_present(&tokenizer_dir, "tokenizer_config.json")?;
    let eos_hint = tok_config.as_ref().and_then(|c| c["eos_token"].as_str()).map(str::to_owned);
    let specials = data::specials(&tokenizer, eos_hint.as_deref(), &tokenizer_dir.join("tokenizer.json"))?;
    let labels = class_labels(recipe, &train_records);
    let val_pairs: Vec<(String, String)> =
        val_records.iter().take(recipe.eval.generate).filter_map(|(_, r)| r.prompt_and_reference()).collect();
    let chat = slm_model::generate::chat::ChatTemplate::load(&tokenizer_dir)?;
    let train = data::build(&train_records, &recipe.data, &tokenizer, specials, &labels, chat.as_ref(), &train_path)?;
    let val = data::build(&val_records, &recipe.data, &tokenizer, specials, &labels, chat.as_ref(), &val_path)?;
    if train.is_empty() || val.is_empty() {
        return Err(TrainError::Data {
            path: recipe.data.train.clone(),
            problem: "no training or validation examples".into(),
        });
    }

    let config = model_config(recipe, &tokenizer, &labels)?;
    let mask_id = if config.head == Head::MaskedLm {
        let id = ["<|mask|>", "[MASK]", "<mask>"].iter().find_map(|t| tokenizer.token_to_id(t));
        Some(id.ok_or_else(|| TrainError::Data {
            path: tokenizer_dir.join("tokenizer.json"),
            problem:
                "the tokenizer has no mask token (<|mask|>, [MASK] or <mask>); masked-LM training needs one".into(),
        })?)
    } else {
        None
    };
    let checkpoints = checkpoint::list(&dir);
    let mut opt = AdamW::new(recipe.optimizer.clone());
    let (mut model, state) = match (opts.resume, checkpoints.last()) {
        (true, Some(last)) => {
            let mut model = match &recipe.model.from {
                // A LoRA checkpoint holds the adapters; the frozen base comes from the recipe.
                Some(from) if recipe.lora.is_some() => {
                    let mut model = Transformer::load_with(from, config, &device)?;
                    model.load_lora(last)?;
                    model
                }
                _ => Transformer::load_with(last, config, &device)?,
            };
            model.set_training(true);
            let state = checkpoint::load(last, &mut opt, &device.clone().without_autodiff())?;
            obs.note(&format!("resuming from {} (step {})", last.display(), state.step));
            (model, state)
        }
        (true, None) => {
            return Err(TrainError::Run { path: dir, problem: "has no checkpoint to resume from".into() });
        }
        (false, _) => {
            let model = match &recipe.model.from {
                Some(from) => Transformer::load_with(from, config, &device)?,
                None => Transformer::init(config, recipe.seed, &device)?,
            };
            (model, State::default())
        }
    };
    if let (Some(lora), false) = (&recipe.lora, opts.resume) {
        attach_lora(&mut model, lora, recipe.seed)?;
    }
    let teacher = match &recipe.distill {
        Some(d) => Teacher::load(d, &tokenizer, model.config.vocab_size, &device.clone().without_autodiff())?,
        None => None,
    };
    let steps_per_epoch = (train.len() as f64 / (recipe.train.batch_size * recipe.train.grad_accum) as f64).max(1.0);
    let total = recipe.train.max_steps.unwrap_or((recipe.train.epochs * steps_per_epoch).ceil() as u64).max(1);
    let schedule = Schedule {
        lr: recipe.optimizer.lr,
        warmup: recipe.schedule.warmup_steps.min(total.saturating_sub(1)),
        decay: recipe.schedule.decay,
        min_lr: recipe.schedule.min_lr,
        total,
        decay_fraction: recipe.schedule.decay_fraction,
    };
    Ok(Run {
        recipe: recipe.clone(),
        dir,
        device,
        model,
        tokenizer_dir,
        train,
        val,
        specials,
        mask_id,
        tokenizer,
        val_pairs,
        opt,
        schedule,
        state,
        plan: (u64::MAX, Vec::new()),
        teacher,
        shards: 1,
    })
}

/// Fresh adapters, or those of `lora.from` (whose rank, alpha and dropout must be the recipe's), with
/// dropout on.
fn attach_lora(model: &mut Transformer, lora: &slm_model::nn::LoraConfig, seed: u64) -> Result<()> {
    match &lora.from {
        None => {
            model.attach_lora(lora, seed)?;
        }
        Some(from) => {
            let found = model.load_lora(from)?;
            if (found.rank, found.alpha, found.dropout) != (lora.rank, lora.alpha, lora.dropout) {
                return Err(TrainError::Recipe {
                    path: from.join(slm_model::io::peft::ADAPTER_CONFIG),
                    problem: format!(
                        "the adapter has r = {}, alpha = {}, dropout = {} but the recipe's [lora] says {}, {}, {}",
                        found.rank, found.alpha, found.dropout, lora.rank, lora.alpha, lora.dropout
                    ),
                });
            }
        }
    }
    model.set_training(true);
    Ok(())
}

/// The tokenizer: the fine-tuned model's, the recipe's file, or one trained on the texts of the training
/// records into `RUN/tokenizer/`. Returns it with the directory that holds its files.
fn tokenizer(recipe: &Recipe, run: &Path, resume: bool, records: &Records) -> Result<(Tokenizer, PathBuf)> {
    let dir = if let Some(from) = &recipe.model.from {
        from.clone()
    } else {
        let dir = run.join("tokenizer");
        let path = dir.join("tokenizer.json");
        if !(resume && path.is_file()) {
            std::fs::create_dir_all(&dir).map_err(|e| TrainError::io(&dir, e))?;
            match &recipe.tokenizer.path {
                Some(p) => {
                    std::fs::copy(p, &path).map_err(|e| TrainError::io(p, e))?;
                }
                None => {
                    // Every text the model will see (all fields of every training record), as plain text.
                    let corpus = dir.join("corpus.txt");
                    let text: String =
                        records.iter().flat_map(|(_, r)| r.fields().into_iter().map(|t| t.to_owned() + "\n")).collect();
                    std::fs::write(&corpus, text).map_err(|e| TrainError::io(&corpus, e))?;
                    let opts = slm_data::tokenizer::TrainOptions {
                        kind: recipe.tokenizer.kind,
                        vocab_size: recipe.tokenizer.vocab_size,
                        field: "text".into(),
                        out: path.clone(),
                        overwrite: true,
                    };
                    let trained = slm_data::tokenizer::train(std::slice::from_ref(&corpus), &opts);
                    std::fs::remove_file(&corpus).map_err(|e| TrainError::io(&corpus, e))?;
                    trained?;
                    if recipe.model.head == Head::MaskedLm {
                        let mut tk = slm_data::tokenizer::load(&path)?;
                        let failed = |e: tokenizers::Error| TrainError::Data {
                            path: path.clone(),
                            problem: format!("cannot add the mask token: {e}"),
                        };
                        tk.add_special_tokens([tokenizers::AddedToken::from("<|mask|>", true)]).map_err(failed)?;
                        tk.save(&path, false).map_err(failed)?;
                    }
                }
            }
            let config = serde_json::json!({
                "tokenizer_class": "PreTrainedTokenizerFast",
                "bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "pad_token": "<|pad|>",
                "model_max_length": recipe.model.context.unwrap_or(recipe.data.max_length),
            });
            let cfg_path = dir.join("tokenizer_config.json");
            std::fs::write(&cfg_path, serde_json::to_string_pretty(&config).expect("json") + "\n")
                .map_err(|e| TrainError::io(&cfg_path, e))?;
        }
        dir
    };
    let tokenizer = slm_data::tokenizer::load(&dir.join("tokenizer.json"))?;
    Ok((tokenizer, dir))
}

/// Sorted distinct labels of a classification dataset (empty otherwise).
fn class_labels(recipe: &Recipe, train: &Records) -> Vec<String> {
    if recipe.data.format != DataFormat::Classification {
        return Vec::new();
    }
    let set: std::collections::BTreeSet<&str> = train.iter().filter_map(|(_, r)| r.label()).collect();
    set.into_iter().map(str::to_owned).collect()
}

fn model_config(recipe: &Recipe, tokenizer: &Tokenizer, labels: &[String]) -> Result<Config> {
    let m = &recipe.model;
    let mut config = match &m.from {
        Some(from) => Config::load(from)?,
        None => {
            let context = m.context.unwrap_or(recipe.data.max_length);
            let llama = m.family == slm_model::Family::Llama;
            let intermediate =
                m.intermediate.unwrap_or(if llama { (8 * m.hidden / 3).div_ceil(32) * 32 } else { 4 * m.hidden });
            Config {
                family: m.family,
                head: m.head,
                vocab_size: tokenizer.get_vocab_size(true),
                hidden_size: m.hidden,
                intermediate_size: intermediate,
                num_layers: m.layers,
                num_heads: m.heads,
                num_kv_heads: m.kv_heads.unwrap_or(m.heads),
                max_positions: context,
                norm_eps: 1e-5,
                rope_theta: 10_000.0,
                tie_word_embeddings: m.tie_embeddings,
                attention_bias: !llama,
                fused_projections: false,
                labels: vec!["LABEL_0".into(), "LABEL_1".into()],
            }
        }
    };
    config.head = m.head;
    if !labels.is_empty() {
        config.labels = labels.to_vec();
    }
    config.check().map_err(|problem| TrainError::Recipe { path: PathBuf::from("[model]"), problem })?;
    if recipe.data.max_length > config.max_positions {
        return Err(TrainError::Recipe {
            path: PathBuf::from("recipe"),
            problem: format!(
                "data.max_length ({}) exceeds the model's context ({})",
                recipe.data.max_length, config.max_positions
            ),
        });
    }
    Ok(config)
}
