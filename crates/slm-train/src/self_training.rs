//! Self-training: train on the labeled data; then, each round, pseudo-label the unlabeled data with the
//! best model so far ([`crate::pseudo`]'s selection), and train again from that model on the labeled and
//! the kept pseudo-labeled records. A round is kept only if it raises the validation score (`eval.metric`
//! on the labeled validation split, the same every round), so the result is never worse there than
//! supervised training alone. A round that is rolled back ends the search (the next one would start from
//! the same model and repeat it), and so does a round in which no pseudo-label passes the selection.
//!
//! ```text
//! RUN/round-0/          the supervised run (its split/ holds the labeled train and validation sides)
//! RUN/round-N/          each later run, fine-tuned from the best model so far
//! RUN/data/round-N.jsonl  its training records: the labeled ones and the pseudo-labeled ones
//! RUN/self_training.csv   round, pseudo-labels kept (per class), score, kept or rolled back
//! RUN/final/            the best model of all rounds
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::json;
use slm_data::records::Reader;
use slm_model::classify::Classifier;

use crate::Observer;
use crate::error::{Result, TrainError};
use crate::pseudo::{Pseudo, Selection};
use crate::recipe::{Consistency, Recipe, SelfTrainingSection};
use crate::trainer::{RunOptions, Summary, train};

/// One round of self-training.
#[derive(Debug, Clone, PartialEq)]
pub struct Round {
    /// 0 for the supervised run.
    pub round: usize,
    /// Pseudo-labeled records trained on, per class (empty in round 0).
    pub pseudo_per_class: PerClass,
    /// Best validation score of the round (`eval.metric`, higher is better; the loss is negated).
    pub score: f64,
    /// Whether the round raised the best score (round 0 always counts).
    pub kept: bool,
}

/// Runs supervised training, then `rounds` of self-training; returns the rounds and the best round's summary.
///
/// # Errors
/// A run fails, or the unlabeled file is unreadable or lacks the field.
pub fn self_train(recipe: &Recipe, opts: &RunOptions, obs: &mut dyn Observer) -> Result<(Vec<Round>, Summary)> {
    let st = recipe.self_training.clone().expect("a [self_training] recipe");
    let run = recipe.out.clone();
    if run.exists() && !opts.overwrite {
        return Err(TrainError::Data {
            path: run.clone(),
            problem: "already holds a run; pass --force to replace it".into(),
        });
    }
    let _ = std::fs::remove_dir_all(&run);
    std::fs::create_dir_all(run.join("data")).map_err(|e| TrainError::io(&run, e))?;
    let texts = unlabeled_texts(&st)?;
    let sub = |round: usize| {
        let mut r = recipe.clone();
        r.self_training = None;
        r.out = run.join(format!("round-{round}"));
        r
    };
    let plain = RunOptions { resume: false, overwrite: true, stop_after: None };
    obs.note("self-training round 0: the labeled data alone");
    let first = train(&sub(0), &plain, obs)?;
    let (labeled_train, val) = match &recipe.data.val {
        Some(val) => (recipe.data.train.clone(), val.clone()),
        None => (run.join("round-0/split/train.jsonl"), run.join("round-0/split/val.jsonl")),
    };
    let labeled = Reader::open(&labeled_train)?
        .map(|r| r.map(|r| serde_json::Value::Object(r.fields)))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let mut rounds = vec![Round { round: 0, pseudo_per_class: Vec::new(), score: score_of(&first), kept: true }];
    // The last kept round's run: a round that is not kept ends the search.
    let mut best = first;
    let mut log = csv_log(&run)?;
    write_round(&mut log, &run, &rounds[0])?;
    for round in 1..=st.rounds {
        let best_dir = best_model(&best)?;
        let (records, per_class) = pseudo_records(recipe, &st, &best_dir, &texts, labeled.len(), round)?;
        if records.is_empty() {
            obs.note(&format!(
                "self-training stops: no pseudo-label passes the selection in round {round} (threshold {}{})",
                st.threshold.of_round(round),
                if st.balance { ", balanced: every class needs one" } else { "" }
            ));
            break;
        }
        let data = run.join(format!("data/round-{round}.jsonl"));
        write_training_file(&data, labeled.iter().chain(&records))?;
        let mut r = sub(round);
        r.data.train = data;
        r.data.val = Some(val.clone());
        r.model.from = Some(best_dir);
        let pseudo: usize = per_class.iter().map(|(_, n)| n).sum();
        obs.note(&format!("self-training round {round}: {pseudo} pseudo-labeled records"));
        let summary = train(&r, &plain, obs)?;
        let score = score_of(&summary);
        let kept = score > score_of(&best);
        obs.note(&format!(
            "self-training round {round}: score {score:.4} ({})",
            if kept { "kept" } else { "rolled back: no better than the best round" }
        ));
        rounds.push(Round { round, pseudo_per_class: per_class, score, kept });
        write_round(&mut log, &run, rounds.last().expect("pushed"))?;
        if !kept {
            // The next round would pseudo-label with the same model and train the same run again.
            obs.note("self-training stops: a further round would repeat this one");
            break;
        }
        best = summary;
    }
    let final_dir = run.join("final");
    copy_dir(&best_model(&best)?, &final_dir)?;
    let mut summary = best;
    summary.run = run;
    summary.final_model = Some(final_dir);
    Ok((rounds, summary))
}

/// The oriented best score of a run (higher is better).
fn score_of(summary: &Summary) -> f64 {
    summary.best_metric.unwrap_or(f64::NEG_INFINITY)
}

/// The best model of a finished run.
fn best_model(summary: &Summary) -> Result<PathBuf> {
    let best = summary.run.join("best");
    if best.join("config.json").exists() {
        Ok(best)
    } else {
        summary
            .final_model
            .clone()
            .ok_or_else(|| TrainError::Data { path: summary.run.clone(), problem: "the run left no model".into() })
    }
}

/// Every text of the unlabeled file.
fn unlabeled_texts(st: &SelfTrainingSection) -> Result<Vec<String>> {
    let path = &st.unlabeled;
    let mut texts = Vec::new();
    for record in Reader::open(path)? {
        let record = record?;
        texts.push(record.require(path, &st.field)?.into_owned());
    }
    Ok(texts)
}

/// A count per class name.
type PerClass = Vec<(String, usize)>;

/// The pseudo-labeled records the model in `dir` makes of `texts`, and how many per class.
fn pseudo_records(
    recipe: &Recipe,
    st: &SelfTrainingSection,
    dir: &Path,
    texts: &[String],
    labeled: usize,
    round: usize,
) -> Result<(Vec<serde_json::Value>, PerClass)> {
    let device =
        recipe.backend.device().map_err(|e| TrainError::Data { path: dir.to_owned(), problem: e.to_string() })?;
    let classifier = Classifier::load(dir, &device)?;
    let mut predictions = Vec::with_capacity(texts.len());
    for chunk in texts.chunks(64) {
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        predictions.extend(
            classifier.predict(&refs)?.into_iter().map(|p| Pseudo { label: p.label, confidence: p.confidence() }),
        );
    }
    let selection = Selection {
        threshold: st.threshold.of_round(round),
        top_k: st.max_ratio.map(|r| (r * labeled as f64).floor() as usize),
        top_k_per_class: st.top_k_per_class,
        balance: st.balance,
    };
    let labels = classifier.labels();
    let selected = selection.select(&predictions, labels.len());
    let (text_field, label_field) = (&recipe.data.text_field, &recipe.data.label_field);
    let mut rng = ChaCha8Rng::seed_from_u64(recipe.seed ^ (round as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let records = selected
        .kept
        .iter()
        .map(|&i| {
            let text = match st.consistency {
                Consistency::None => texts[i].clone(),
                Consistency::Fixmatch => strong_view(&texts[i], &mut rng),
            };
            json!({text_field: text, label_field: labels[predictions[i].label]})
        })
        .collect();
    Ok((records, labels.iter().cloned().zip(selected.per_class).collect()))
}

/// FixMatch's strong view of a text: random deletion, swap and synonym replacement (WordNet), each of 20%
/// of the words, one after the other (an operation that cannot change the text leaves it).
fn strong_view(text: &str, rng: &mut ChaCha8Rng) -> String {
    use slm_data::augment::{Delete, Lexicon, Swap, Synonym, TextOp};
    static LEXICON: std::sync::OnceLock<std::sync::Arc<Lexicon>> = std::sync::OnceLock::new();
    let lexicon = LEXICON.get_or_init(|| std::sync::Arc::new(Lexicon::wordnet())).clone();
    let ops: [Box<dyn TextOp>; 3] =
        [Box::new(Delete { p: 0.2 }), Box::new(Swap { p: 0.2 }), Box::new(Synonym { p: 0.2, lexicon })];
    ops.iter().fold(text.to_owned(), |t, op| op.apply(&t, rng).ok().flatten().unwrap_or(t))
}

/// Training records as JSON Lines.
fn write_training_file<'a>(path: &Path, records: impl Iterator<Item = &'a serde_json::Value>) -> Result<()> {
    let text: String = records.map(|r| format!("{r}\n")).collect();
    std::fs::write(path, text).map_err(|e| TrainError::io(path, e))
}

fn csv_log(run: &Path) -> Result<std::fs::File> {
    let path = run.join("self_training.csv");
    let mut file = std::fs::File::create(&path).map_err(|e| TrainError::io(&path, e))?;
    writeln!(file, "round,pseudo_labeled,per_class,score,kept").map_err(|e| TrainError::io(&path, e))?;
    Ok(file)
}

fn write_round(file: &mut std::fs::File, run: &Path, r: &Round) -> Result<()> {
    let total: usize = r.pseudo_per_class.iter().map(|(_, n)| n).sum();
    let per_class: Vec<String> = r.pseudo_per_class.iter().map(|(l, n)| format!("{l}:{n}")).collect();
    writeln!(file, "{},{total},{},{},{}", r.round, per_class.join(" "), r.score, r.kept)
        .map_err(|e| TrainError::io(run.join("self_training.csv"), e))
}

/// Copies the files of a model directory.
fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).map_err(|e| TrainError::io(to, e))?;
    for entry in std::fs::read_dir(from).map_err(|e| TrainError::io(from, e))? {
        let entry = entry.map_err(|e| TrainError::io(from, e))?;
        if entry.file_type().is_ok_and(|t| t.is_file()) {
            let dest = to.join(entry.file_name());
            std::fs::copy(entry.path(), &dest).map_err(|e| TrainError::io(&dest, e))?;
        }
    }
    Ok(())
}
