//! `slm split`: train/validation splits that keep class balance and leak nothing.
//!
//! The file is streamed three times and never held in memory: pass 1 indexes each record (byte span,
//! class, group, duplicate fingerprint, LSH band keys), pass 2 verifies near-duplicate candidates by
//! exact Jaccard similarity, pass 3 copies each kept record's bytes unchanged to `train.*` or `val.*`.
//! Records keep their input order on each side.
//!
//! Planning is a pure function ([`plan`]) of the records' classes, their leakage units and the seed:
//! a unit is a set of records that must stay on one side (same `--group` value, or near-duplicates).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::dedup::{TextFields, UnionFind, band_keys, candidate_pairs, jaccard, shingles};
use crate::error::{DataError, Result};
use crate::progress::Progress;
use crate::records::{AtomicFile, Reader, ensure_distinct};
use crate::text::{canonical, fingerprint};

/// Which side of the split a record lands on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The training set.
    Train,
    /// The validation set.
    Val,
}

/// Options of `slm split`.
#[derive(Debug, Clone)]
pub struct SplitOptions {
    /// Share of records that go to train, in (0, 1).
    pub ratio: f64,
    /// Seed of the shuffle; same input and seed give byte-identical outputs.
    pub seed: u64,
    /// Field whose classes are split in the same ratio each.
    pub stratify: Option<String>,
    /// Field whose equal values never straddle the split.
    pub group: Option<String>,
    /// Remove exact duplicates (canonical text) and keep near-duplicates on one side.
    pub dedup: bool,
    /// Jaccard threshold for near-duplicates; `None` turns near-duplicate detection off.
    pub near_dup: Option<f64>,
    /// Fields that make up the text; `None`: every string field but the stratify and group fields.
    pub text_fields: Option<Vec<String>>,
    /// Directory for `train.*` and `val.*`.
    pub out_dir: PathBuf,
    /// Replace existing outputs.
    pub overwrite: bool,
}

impl Default for SplitOptions {
    fn default() -> Self {
        SplitOptions {
            ratio: 0.8,
            seed: 42,
            stratify: None,
            group: None,
            dedup: true,
            near_dup: Some(0.8),
            text_fields: None,
            out_dir: PathBuf::from("."),
            overwrite: false,
        }
    }
}

/// Counts of one class on each side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassCount {
    /// The class value.
    pub name: String,
    /// Records in train.
    pub train: u64,
    /// Records in validation.
    pub val: u64,
}

/// What a split did.
#[derive(Debug, Clone)]
pub struct SplitSummary {
    /// Records written to train.
    pub train: u64,
    /// Records written to validation.
    pub val: u64,
    /// Per-class counts (stratified splits only), largest class first.
    pub classes: Vec<ClassCount>,
    /// Exact duplicates dropped.
    pub duplicates_removed: u64,
    /// Verified near-duplicate pairs, each kept on one side.
    pub near_duplicate_pairs: u64,
    /// The training file written.
    pub train_path: PathBuf,
    /// The validation file written.
    pub val_path: PathBuf,
}

/// Splits `input` into `train.*` and `val.*` in `opts.out_dir`.
///
/// # Errors
/// Bad options, a malformed or empty input, a record missing the stratify or group field, outputs that
/// exist (without `overwrite`) or name the input. On error no output file is left behind.
pub fn split_file(input: &Path, opts: &SplitOptions, progress: &dyn Progress) -> Result<SplitSummary> {
    check_options(opts)?;
    let ext = input
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_owned)
        .unwrap_or_else(|| crate::records::Format::from_path(input).extension().to_owned());
    let train_path = opts.out_dir.join(format!("train.{ext}"));
    let val_path = opts.out_dir.join(format!("val.{ext}"));
    if opts.out_dir.is_file() {
        return Err(DataError::Output {
            path: opts.out_dir.clone(),
            problem: "is a file, expected an output directory".into(),
        });
    }
    for out in [&train_path, &val_path] {
        ensure_distinct(out, &[input])?;
    }
    let mut train_out = AtomicFile::create(&train_path, opts.overwrite)?;
    let mut val_out = AtomicFile::create(&val_path, opts.overwrite)?;

    let index = index_records(input, opts, progress)?;
    let mut units = UnionFind::new(index.spans.len());
    for members in index.groups.values() {
        for pair in members.windows(2) {
            units.union(pair[0], pair[1]);
        }
    }
    let mut near_duplicate_pairs = 0;
    if let Some(threshold) = opts.near_dup.filter(|_| opts.dedup) {
        let pairs = near_duplicates(input, opts, &index, threshold, progress)?;
        near_duplicate_pairs = pairs.len() as u64;
        for (a, b) in pairs {
            units.union(a, b);
        }
    }
    let unit_of: Vec<u32> = (0..index.spans.len() as u32).map(|i| units.find(i)).collect();
    let plan = plan(&index.classes, &unit_of, index.class_names.len(), opts.ratio, opts.seed);
    if opts.stratify.is_some() {
        let mut sizes = vec![0u64; index.class_names.len()];
        for &c in &index.classes {
            sizes[c as usize] += 1;
        }
        for (name, _) in index.class_names.iter().zip(&sizes).filter(|&(_, &n)| n == 1) {
            progress.warn(&format!("class `{name}` has a single record; it goes to train"));
        }
    }

    progress.stage("writing", Some(index.spans.len() as u64));
    let file = std::fs::File::open(input).map_err(|e| DataError::io(input, e))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut pos = 0u64;
    let mut buf = Vec::new();
    if index.header_end > 0 {
        let mut header = vec![0u8; index.header_end as usize];
        reader.read_exact(&mut header).map_err(|e| DataError::io(input, e))?;
        train_out.write_all(&header)?;
        val_out.write_all(&header)?;
        pos = index.header_end;
    }
    let (mut train, mut val) = (0u64, 0u64);
    for (i, &(start, end)) in index.spans.iter().enumerate() {
        copy_span(input, &mut reader, start - pos, None, &mut buf)?;
        let out = match plan[i] {
            Side::Train => {
                train += 1;
                &mut train_out
            }
            Side::Val => {
                val += 1;
                &mut val_out
            }
        };
        copy_span(input, &mut reader, end - start, Some(out), &mut buf)?;
        pos = end;
        if i % 4096 == 0 {
            progress.advance(4096.min(index.spans.len() - i) as u64);
        }
    }
    train_out.commit()?;
    val_out.commit()?;

    let mut classes: Vec<ClassCount> = Vec::new();
    if opts.stratify.is_some() {
        classes = index.class_names.iter().map(|n| ClassCount { name: n.clone(), train: 0, val: 0 }).collect();
        for (i, &c) in index.classes.iter().enumerate() {
            match plan[i] {
                Side::Train => classes[c as usize].train += 1,
                Side::Val => classes[c as usize].val += 1,
            }
        }
        classes.sort_by(|a, b| (b.train + b.val).cmp(&(a.train + a.val)).then(a.name.cmp(&b.name)));
    }
    Ok(SplitSummary {
        train,
        val,
        classes,
        duplicates_removed: index.duplicates_removed,
        near_duplicate_pairs,
        train_path,
        val_path,
    })
}

/// Reads the next `n` bytes of `reader` and appends them to `out` (with a final newline if they lack
/// one), or drops them when `out` is `None`.
fn copy_span(
    input: &Path,
    reader: &mut impl Read,
    n: u64,
    out: Option<&mut AtomicFile>,
    buf: &mut Vec<u8>,
) -> Result<()> {
    buf.resize(n as usize, 0);
    reader.read_exact(buf).map_err(|e| DataError::io(input, e))?;
    if let Some(out) = out {
        out.write_all(buf)?;
        if buf.last() != Some(&b'\n') {
            out.write_all(b"\n")?;
        }
    }
    Ok(())
}

fn check_options(opts: &SplitOptions) -> Result<()> {
    if !(opts.ratio > 0.0 && opts.ratio < 1.0) {
        return Err(DataError::Usage(format!("--ratio must be between 0 and 1 (exclusive), got {}", opts.ratio)));
    }
    if let Some(t) = opts.near_dup
        && !(t > 0.0 && t <= 1.0)
    {
        return Err(DataError::Usage(format!("--near-dup must be a Jaccard similarity in (0, 1], got {t}")));
    }
    Ok(())
}

/// What pass 1 learns about the kept records (indexed 0..n in file order).
struct Index {
    spans: Vec<(u64, u64)>,
    /// Reader position of each kept record, to find it again in pass 2.
    ordinals: Vec<u64>,
    classes: Vec<u32>,
    class_names: Vec<String>,
    groups: HashMap<String, Vec<u32>>,
    band_entries: Vec<(u64, u32)>,
    duplicates_removed: u64,
    header_end: u64,
}

fn text_fields(opts: &SplitOptions) -> TextFields {
    TextFields {
        include: opts.text_fields.clone(),
        exclude: opts.stratify.iter().chain(opts.group.iter()).cloned().collect(),
    }
}

fn index_records(input: &Path, opts: &SplitOptions, progress: &dyn Progress) -> Result<Index> {
    let size = std::fs::metadata(input).map(|m| m.len()).ok();
    progress.stage("indexing", size);
    let mut reader = Reader::open(input)?;
    let text_fields = text_fields(opts);
    let mut seen: HashSet<u128> = HashSet::new();
    let mut class_ids: BTreeMap<String, u32> = BTreeMap::new();
    let mut index = Index {
        spans: Vec::new(),
        ordinals: Vec::new(),
        classes: Vec::new(),
        class_names: Vec::new(),
        groups: HashMap::new(),
        band_entries: Vec::new(),
        duplicates_removed: 0,
        header_end: reader.header_end(),
    };
    let mut last_pos = 0;
    for (ordinal, record) in reader.by_ref().enumerate() {
        let record = record?;
        let required = |field: &String| record.require(input, field).map(|v| v.into_owned());
        let class = opts.stratify.as_ref().map(required).transpose()?;
        let group = opts.group.as_ref().map(required).transpose()?;
        let mut canon = None;
        if opts.dedup {
            let c = canonical(&text_fields.text_of(&record.fields));
            if !seen.insert(fingerprint(c.as_bytes())) {
                index.duplicates_removed += 1;
                continue;
            }
            canon = Some(c);
        }
        let id = index.spans.len() as u32;
        if let (Some(c), Some(_)) = (&canon, opts.near_dup) {
            index.band_entries.extend(band_keys(&shingles(c)).into_iter().map(|k| (k, id)));
        }
        let class = class.unwrap_or_default();
        let next_id = class_ids.len() as u32;
        let class_id = *class_ids.entry(class.clone()).or_insert_with(|| {
            index.class_names.push(class);
            next_id
        });
        index.classes.push(class_id);
        if let Some(g) = group {
            index.groups.entry(g).or_default().push(id);
        }
        index.spans.push(record.span);
        index.ordinals.push(ordinal as u64);
        if record.span.1 - last_pos > 1 << 20 {
            progress.advance(record.span.1 - last_pos);
            last_pos = record.span.1;
        }
    }
    Ok(index)
}

fn near_duplicates(
    input: &Path,
    opts: &SplitOptions,
    index: &Index,
    threshold: f64,
    progress: &dyn Progress,
) -> Result<Vec<(u32, u32)>> {
    let candidates = candidate_pairs(index.band_entries.clone());
    if candidates.is_empty() {
        return Ok(candidates);
    }
    progress.stage("verifying near-duplicates", Some(candidates.len() as u64));
    let needed: HashSet<u32> = candidates.iter().flat_map(|&(a, b)| [a, b]).collect();
    let by_ordinal: HashMap<u64, u32> = needed.iter().map(|&id| (index.ordinals[id as usize], id)).collect();
    let text_fields = text_fields(opts);
    let mut sets: HashMap<u32, Vec<u64>> = HashMap::new();
    for (ordinal, record) in Reader::open(input)?.enumerate() {
        if let Some(&id) = by_ordinal.get(&(ordinal as u64)) {
            let record = record?;
            sets.insert(id, shingles(&canonical(&text_fields.text_of(&record.fields))));
        }
    }
    let verified = candidates.into_iter().filter(|(a, b)| jaccard(&sets[a], &sets[b]) >= threshold).collect();
    Ok(verified)
}

/// Assigns each item to a side.
///
/// `classes[i]` is item i's class (in `0..n_classes`), `units[i]` its leakage unit, given as the index
/// of one of its items (a union-find representative, so `< classes.len()`): items of one unit always
/// land on the same side. Each class gets `round`-to-total, largest-remainder shares of train, so that
/// with singleton units every class's train count is within 1 of `ratio` times its size; a class with
/// one item goes to train. Units are visited in a seeded shuffle, largest first, and go to validation
/// while every class they hold has room there. Memory: a few `u32` per item.
pub fn plan(classes: &[u32], units: &[u32], n_classes: usize, ratio: f64, seed: u64) -> Vec<Side> {
    let n = classes.len();
    let mut sizes = vec![0u64; n_classes];
    for &c in classes {
        sizes[c as usize] += 1;
    }
    let mut room = val_targets(&sizes, ratio);
    // Number units 0..k in order of first appearance and group their items (a counting sort).
    let mut compact = vec![u32::MAX; n];
    let mut unit_of = Vec::with_capacity(n);
    let mut unit_len: Vec<u32> = Vec::new();
    for &u in units {
        let slot = &mut compact[u as usize];
        if *slot == u32::MAX {
            *slot = unit_len.len() as u32;
            unit_len.push(0);
        }
        unit_of.push(*slot);
        unit_len[*slot as usize] += 1;
    }
    let mut start: Vec<u32> = Vec::with_capacity(unit_len.len() + 1);
    start.push(0);
    for &len in &unit_len {
        start.push(start.last().copied().unwrap_or(0) + len);
    }
    let mut fill = start.clone();
    let mut members = vec![0u32; n];
    for (i, &u) in unit_of.iter().enumerate() {
        members[fill[u as usize] as usize] = i as u32;
        fill[u as usize] += 1;
    }
    let mut order: Vec<u32> = (0..unit_len.len() as u32).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    order.sort_by_key(|&u| std::cmp::Reverse(unit_len[u as usize]));
    let mut sides = vec![Side::Train; n];
    let mut need = vec![0u64; n_classes];
    for u in order {
        let unit = &members[start[u as usize] as usize..start[u as usize + 1] as usize];
        for &i in unit {
            need[classes[i as usize] as usize] += 1;
        }
        let fits = unit.iter().all(|&i| {
            let c = classes[i as usize] as usize;
            need[c] <= room[c]
        });
        for &i in unit {
            let c = classes[i as usize] as usize;
            if fits {
                sides[i as usize] = Side::Val;
                room[c] -= 1;
            }
            need[c] = 0;
        }
    }
    sides
}

/// Validation places per class: `size - train`, where train shares are apportioned by largest remainder
/// so that they sum to `round(ratio * total)` over the classes with more than one item (ties: lower class
/// index first). A class of one item gets no validation place.
pub fn val_targets(sizes: &[u64], ratio: f64) -> Vec<u64> {
    let splittable: Vec<usize> = (0..sizes.len()).filter(|&c| sizes[c] > 1).collect();
    let total: u64 = splittable.iter().map(|&c| sizes[c]).sum();
    let want = (ratio * total as f64).round() as u64;
    let mut train: Vec<u64> = sizes.to_vec();
    let mut given = 0;
    let mut remainders = Vec::new();
    for &c in &splittable {
        let exact = ratio * sizes[c] as f64;
        train[c] = exact.floor() as u64;
        given += train[c];
        remainders.push((exact - exact.floor(), c));
    }
    remainders.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    for &(_, c) in remainders.iter().take(want.saturating_sub(given) as usize) {
        train[c] += 1;
    }
    sizes.iter().zip(&train).map(|(s, t)| s - t).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn largest_remainder_targets() {
        // 10 * 0.8 = 8 and 5 * 0.8 = 4 exactly; 3 * 0.8 = 2.4; total round(18 * .8) = 14 = 8 + 4 + 2.
        assert_eq!(val_targets(&[10, 5, 3], 0.8), vec![2, 1, 1]);
        // a class of one item never gets a validation place
        assert_eq!(val_targets(&[1, 4], 0.5), vec![0, 2]);
        // 7 * .8 = 5.6 and 2 * .8 = 1.6: round(7.2) = 7 train, larger remainder (tie) to class 0
        assert_eq!(val_targets(&[7, 2], 0.8), vec![1, 1]);
    }

    fn cases() -> impl Strategy<Value = (Vec<u32>, Vec<u32>, f64, u64)> {
        (1usize..300, 1u32..6, 0.05f64..0.95, any::<u64>()).prop_flat_map(|(n, k, ratio, seed)| {
            (
                proptest::collection::vec(0..k, n),
                proptest::collection::vec(0u32..(n as u32 / 3 + 1), n),
                Just(ratio),
                Just(seed),
            )
        })
    }

    proptest! {
        #[test]
        fn singleton_units_keep_every_class_within_one((classes, _units, ratio, seed) in cases()) {
            let n_classes = *classes.iter().max().unwrap() as usize + 1;
            let units: Vec<u32> = (0..classes.len() as u32).collect();
            let sides = plan(&classes, &units, n_classes, ratio, seed);
            for c in 0..n_classes as u32 {
                let size = classes.iter().filter(|&&x| x == c).count();
                let train = (0..classes.len()).filter(|&i| classes[i] == c && sides[i] == Side::Train).count();
                if size > 1 {
                    prop_assert!((train as f64 - ratio * size as f64).abs() < 1.0,
                        "class {c}: {train} of {size} at {ratio}");
                } else if size == 1 {
                    prop_assert_eq!(train, 1);
                }
            }
            prop_assert_eq!(sides, plan(&classes, &units, n_classes, ratio, seed));
        }

        #[test]
        fn units_never_straddle((classes, units, ratio, seed) in cases()) {
            let n_classes = *classes.iter().max().unwrap() as usize + 1;
            let sides = plan(&classes, &units, n_classes, ratio, seed);
            let mut side_of: HashMap<u32, Side> = HashMap::new();
            for (i, &u) in units.iter().enumerate() {
                let s = *side_of.entry(u).or_insert(sides[i]);
                prop_assert_eq!(s, sides[i], "unit {} straddles", u);
            }
        }
    }
}
