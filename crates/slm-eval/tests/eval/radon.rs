//! `--metric complexity` equals radon 6.0.1's cyclomatic complexity (the module total) on every HumanEval
//! solution (prompt + canonical solution), every MBPP solution and edge cases (`for`/`while`/`try`
//! `else`, `match`, `with`, nested functions and classes, lambdas, `except*`); fixture made by
//! `testdata/complexity/make_fixture.py`.

use std::io::Read;

use serde_json::Value;
use slm_eval::complexity::cyclomatic;

fn expected() -> Value {
    serde_json::from_str(&std::fs::read_to_string(slm_testkit::testdata("complexity/expected.json")).unwrap()).unwrap()
}

/// `(task_id, code)` of a JSONL file's records.
fn solutions(text: &str, code: impl Fn(&Value) -> String) -> Vec<(Value, String)> {
    text.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()).map(|p| (p["task_id"].clone(), code(&p))).collect()
}

fn check(name: &str, want: &Value, code: &[(Value, String)]) {
    let want = want.as_array().unwrap();
    assert_eq!(want.len(), code.len(), "{name}: the fixture and the dataset differ in size");
    let wrong: Vec<String> = want
        .iter()
        .zip(code)
        .filter_map(|(w, (id, code))| {
            assert_eq!(&w["task_id"], id);
            let got = cyclomatic(code).unwrap_or_else(|e| panic!("{name} {id}: {e}"));
            (got as u64 != w["radon"].as_u64().unwrap()).then(|| format!("{id}: slm {got}, radon {}", w["radon"]))
        })
        .collect();
    assert!(wrong.is_empty(), "{name}: {} of {} differ: {wrong:?}", wrong.len(), code.len());
}

#[test]
fn complexity_equals_radon_on_humaneval_and_mbpp() {
    let want = expected();
    let mut text = String::new();
    let gz = std::fs::File::open(slm_testkit::dataset("humaneval/HumanEval.jsonl.gz")).unwrap();
    flate2::read::GzDecoder::new(gz).read_to_string(&mut text).unwrap();
    let humaneval =
        solutions(&text, |p| p["prompt"].as_str().unwrap().to_owned() + p["canonical_solution"].as_str().unwrap());
    check("HumanEval", &want["humaneval"], &humaneval);
    let mbpp = std::fs::read_to_string(slm_testkit::dataset("mbpp/mbpp.jsonl")).unwrap();
    check("MBPP", &want["mbpp"], &solutions(&mbpp, |p| p["code"].as_str().unwrap().to_owned()));
}

#[test]
fn complexity_equals_radon_on_edge_cases() {
    let mismatches: Vec<String> = expected()["edge"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|case| {
            let got = cyclomatic(case["code"].as_str().unwrap()).unwrap() as u64;
            let want = case["radon"].as_u64().unwrap();
            (got != want).then(|| format!("{}: slm {got}, radon {want}", case["name"]))
        })
        .collect();
    assert!(mismatches.is_empty(), "{mismatches:?}");
}
