//! `groups::fnmatch` against Python's `fnmatch.fnmatchcase` (what upstream's optimizer uses), live, on random
//! patterns over an alphabet rich in wildcards and brackets.

use sam3c_stdlib::groups::fnmatch;
use std::io::Write;
use std::process::{Command, Stdio};

#[test]
fn fnmatch_agrees_with_python() {
    let Some(py) = sam3c_testkit::oracle_python() else {
        return;
    };
    // A small deterministic generator (xorshift), so the cases are the same on every run.
    let mut state: u64 = 0x9E3779B97F4A7C15;
    let mut next = |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
    };
    let pat_alphabet = b"ab.*?[]!-";
    let name_alphabet = b"ab.]-[!";
    let mut cases = Vec::new();
    for _ in 0..3000 {
        let plen = 1 + next(7) as usize;
        let nlen = next(8) as usize;
        let pat: String = (0..plen)
            .map(|_| pat_alphabet[next(pat_alphabet.len() as u64) as usize] as char)
            .collect();
        let name: String = (0..nlen)
            .map(|_| name_alphabet[next(name_alphabet.len() as u64) as usize] as char)
            .collect();
        cases.push((pat, name));
    }
    let input = serde_json::to_string(&cases).unwrap();
    let mut child = Command::new(py)
        .args(["-c", "import sys, json, fnmatch; print(json.dumps([fnmatch.fnmatchcase(n, p) for p, n in json.load(sys.stdin)]))"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let expected: Vec<bool> = serde_json::from_slice(&out.stdout).unwrap();
    let wrong: Vec<_> = cases
        .iter()
        .zip(&expected)
        .filter(|((p, n), e)| fnmatch(p, n) != **e)
        .take(10)
        .collect();
    assert!(
        wrong.is_empty(),
        "disagreements (pattern, name), python's answer: {wrong:?}"
    );
}
