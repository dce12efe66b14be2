//! The SHAKEN linter against the 75 ZLint SHAKEN test certificates and their expected results
//! (`tests/vectors/shaken-certs`, see its README).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use vouch_shaken::lint::{LintMode, LintReport, LintStatus, lint_pem, rules};

fn dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/vectors/shaken-certs"))
}

fn status_name(s: LintStatus) -> String {
    serde_json::to_value(s).unwrap().as_str().unwrap().to_owned()
}

fn lint_file(path: &Path, mode: LintMode) -> LintReport {
    let pem = std::fs::read(path).unwrap();
    let mut reports = lint_pem(&pem, mode).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(reports.len(), 1, "{}", path.display());
    reports.remove(0)
}

fn all_pem_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_str().unwrap();
            name.starts_with("shaken") && name.ends_with(".pem")
        })
        .collect();
    files.sort();
    files
}

#[test]
fn strict_mode_reproduces_every_expected_pair() {
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir().join("expected.json")).unwrap()).unwrap();
    let lints = expected["lints"].as_object().unwrap();
    let known: BTreeMap<&str, _> = rules().iter().map(|r| (r.name, r)).collect();

    // Every lint of expected.json is a rule, with the same source.
    for (name, about) in lints {
        let rule = known.get(name.as_str()).unwrap_or_else(|| panic!("no rule {name}"));
        assert_eq!(rule.source, about["source"].as_str().unwrap(), "source of {name}");
    }

    let mut mismatches = Vec::new();
    let mut pairs = 0;
    for (file, wants) in expected["certs"].as_object().unwrap() {
        let report = lint_file(&dir().join(file), LintMode::Strict);
        for (rule, want) in wants.as_object().unwrap() {
            if rule == "notes" {
                continue;
            }
            pairs += 1;
            let want = want.as_str().unwrap();
            match report.get(rule) {
                None => mismatches.push(format!("{file} {rule}: expected {want}, rule missing")),
                Some(got) if status_name(got.status) != want => mismatches.push(format!(
                    "{file} {rule}: expected {want}, got {} ({})",
                    status_name(got.status),
                    got.detail.as_deref().unwrap_or("-")
                )),
                Some(_) => {}
            }
        }
    }
    assert_eq!(pairs, 193, "expected.json holds 193 (certificate, lint) pairs");
    assert!(mismatches.is_empty(), "{} of {pairs} pairs differ:\n{}", mismatches.len(), mismatches.join("\n"));
}

#[test]
fn every_file_lints_in_both_modes_and_lenient_keeps_security_errors() {
    let files = all_pem_files();
    assert_eq!(files.len(), 75);
    let security: BTreeMap<&str, bool> = rules().iter().map(|r| (r.name, r.security)).collect();
    let mut problems = Vec::new();
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy();
        let strict = lint_file(path, LintMode::Strict);
        let lenient = lint_file(path, LintMode::Lenient);
        assert_eq!(strict.results.len(), rules().len());
        assert_eq!(strict.kind, lenient.kind);
        for (s, l) in strict.results.iter().zip(&lenient.results) {
            assert_eq!(s.rule, l.rule);
            let is_security = security[s.rule];
            if !is_security && l.status == LintStatus::Error {
                problems.push(format!("{name} {}: cosmetic rule is an error in lenient mode", s.rule));
            }
            if is_security && (s.status == LintStatus::Error) != (l.status == LintStatus::Error) {
                problems.push(format!("{name} {}: security status differs ({:?} / {:?})", s.rule, s.status, l.status));
            }
            if !is_security && s.status == LintStatus::Error && l.status != LintStatus::Warn {
                problems.push(format!("{name} {}: cosmetic error not downgraded to a warning", s.rule));
            }
            if s.status != LintStatus::Error && s.status != l.status {
                problems.push(format!("{name} {}: non-error status changed by the mode", s.rule));
            }
        }
        let strict_sec: Vec<_> = strict.failures().filter(|r| security[r.rule]).map(|r| r.rule).collect();
        let lenient_fail: Vec<_> = lenient.failures().map(|r| r.rule).collect();
        if strict_sec != lenient_fail {
            problems.push(format!("{name}: strict security errors {strict_sec:?} != lenient errors {lenient_fail:?}"));
        }
        // The JSON form the CLI prints.
        let json = serde_json::to_value(&lenient).unwrap();
        assert_eq!(json["passed"], lenient.passed());
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
