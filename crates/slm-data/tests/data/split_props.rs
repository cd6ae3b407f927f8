//! Property tests of `split_file` on generated files: train and val are disjoint, their union is the
//! deduplicated input (in input order, bytes unchanged), every class is split within one record of the
//! ratio, the same seed gives the same bytes, and a group never straddles the split.

use std::collections::{HashMap, HashSet};

use proptest::prelude::*;
use slm_data::NoProgress;
use slm_data::split::{SplitOptions, split_file};

/// Records as (class, group, text id); text ids repeat to make exact duplicates.
fn records() -> impl Strategy<Value = Vec<(u8, u8, u16)>> {
    proptest::collection::vec((0u8..4, 0u8..12, 0u16..150), 1..160)
}

fn jsonl(records: &[(u8, u8, u16)]) -> String {
    records
        .iter()
        .enumerate()
        .map(|(i, (c, g, t))| {
            // `id` is not a text field for dedup (it is a number); the text decides duplicates.
            format!(
                "{{\"id\":{i},\"label\":\"c{c}\",\"doc\":\"g{g}\",\"text\":\"sample text number {t} about a topic\"}}\n"
            )
        })
        .collect()
}

fn lines(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path).unwrap().lines().map(str::to_owned).collect()
}

fn field(line: &str, name: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    v[name].to_string()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn split_invariants(recs in records(), ratio in 0.1f64..0.9, seed in any::<u64>(), grouped in any::<bool>()) {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.jsonl");
        std::fs::write(&input, jsonl(&recs)).unwrap();
        let opts = |out: &str| SplitOptions {
            ratio,
            seed,
            stratify: Some("label".into()),
            group: grouped.then(|| "doc".to_owned()),
            near_dup: None,
            text_fields: Some(vec!["text".into()]),
            out_dir: dir.path().join(out),
            ..SplitOptions::default()
        };
        let summary = split_file(&input, &opts("a"), &NoProgress).unwrap();
        let train = lines(&dir.path().join("a/train.jsonl"));
        let val = lines(&dir.path().join("a/val.jsonl"));

        // The deduplicated input: the first record of each text, in input order.
        let mut seen = HashSet::new();
        let dedup: Vec<String> = jsonl(&recs)
            .lines()
            .filter(|l| seen.insert(field(l, "text")))
            .map(str::to_owned)
            .collect();
        prop_assert_eq!(summary.duplicates_removed as usize, recs.len() - dedup.len());

        // Disjoint, and the union is the deduplicated input (each side keeps input order).
        let train_set: HashSet<&String> = train.iter().collect();
        prop_assert!(val.iter().all(|l| !train_set.contains(l)));
        let position: HashMap<&String, usize> = dedup.iter().enumerate().map(|(i, l)| (l, i)).collect();
        for side in [&train, &val] {
            let idx: Vec<usize> = side.iter().map(|l| position[l]).collect();
            prop_assert!(idx.windows(2).all(|w| w[0] < w[1]), "order kept");
        }
        prop_assert_eq!(train.len() + val.len(), dedup.len());

        if grouped {
            let train_groups: HashSet<String> = train.iter().map(|l| field(l, "doc")).collect();
            prop_assert!(val.iter().all(|l| !train_groups.contains(&field(l, "doc"))), "a group straddles");
        } else {
            // Per class, train is within one record of ratio x size (single-record classes go to train).
            let mut sizes: HashMap<String, (usize, usize)> = HashMap::new();
            for l in &train { sizes.entry(field(l, "label")).or_default().0 += 1; }
            for l in &val { sizes.entry(field(l, "label")).or_default().1 += 1; }
            for (class, (t, v)) in sizes {
                let n = t + v;
                if n == 1 {
                    prop_assert_eq!(t, 1);
                } else {
                    prop_assert!((t as f64 - ratio * n as f64).abs() < 1.0, "class {}: {} of {}", class, t, n);
                }
            }
        }

        // Same seed, same bytes.
        split_file(&input, &opts("b"), &NoProgress).unwrap();
        for f in ["train.jsonl", "val.jsonl"] {
            prop_assert_eq!(std::fs::read(dir.path().join("a").join(f)).unwrap(), std::fs::read(dir.path().join("b").join(f)).unwrap());
        }
    }
}
