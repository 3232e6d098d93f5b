//! Conformance suite for `rudder render` against `kubectl kustomize`.
//!
//! Every directory under `render/conformance/cases/` is one case (see
//! `render/conformance/README.md`). The real `rudder` binary is run on each:
//!
//! * good cases (an `expected.yaml`, produced by `regen.sh` from the oracle):
//!   exit 0, and stdout parses into the same documents, in the same order, as
//!   `expected.yaml`; byte-identical outputs are counted but not required;
//! * bad cases (an `expect-error` file): a non-zero exit (or the `exit=N`
//!   given), nothing on stdout, and every listed substring on stderr.
//!
//! `RUDDER_CONFORMANCE_FILTER=substring` restricts the run to matching case
//! names. `RUDDER_CONFORMANCE_BIN=path` runs another program instead of the
//! `rudder` just built (e.g. `render/conformance/oracle-render.sh`, which
//! checks the suite itself against `kubectl kustomize`).

use serde_json::Value;
use std::fmt::Write as _;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A render that takes longer than this is a failure (e.g. an alias bomb that
/// is expanded instead of refused).
const TIMEOUT: Duration = Duration::from_secs(30);

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../render/conformance/cases")
}

struct Outcome {
    code: Option<i32>,
    stdout: Vec<u8>,
    stderr: String,
    timed_out: bool,
}

fn run_rudder(args: &[String]) -> Outcome {
    let bin = std::env::var_os("RUDDER_CONFORMANCE_BIN")
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_rudder").into());
    let mut child = Command::new(bin)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn rudder");
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let out_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let err_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let start = Instant::now();
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait rudder") {
            break status;
        }
        if start.elapsed() > TIMEOUT {
            timed_out = true;
            let _ = child.kill();
            break child.wait().expect("wait rudder");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    if timed_out {
        // A grandchild may still hold the pipes open: leave the readers be.
        return Outcome {
            code: status.code(),
            stdout: Vec::new(),
            stderr: String::new(),
            timed_out,
        };
    }
    Outcome {
        code: status.code(),
        stdout: out_t.join().unwrap_or_default(),
        stderr: String::from_utf8_lossy(&err_t.join().unwrap_or_default()).into_owned(),
        timed_out,
    }
}

fn parse_docs(text: &str) -> Result<Vec<Value>, String> {
    let options = serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_documents: 100_000,
        },
    };
    serde_saphyr::from_multiple_with_options::<Value>(text, options).map_err(|e| e.to_string())
}

/// `kind/namespace/name` of a document, for messages.
fn doc_id(doc: &Value) -> String {
    let s = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("").to_string();
    let meta = doc.get("metadata");
    let ns = s(meta.and_then(|m| m.get("namespace")));
    let name = s(meta.and_then(|m| m.get("name")));
    let kind = s(doc.get("kind"));
    if ns.is_empty() {
        format!("{kind}/{name}")
    } else {
        format!("{kind}/{ns}/{name}")
    }
}

fn short(v: &Value) -> String {
    let mut s = v.to_string();
    if s.len() > 120 {
        let mut cut = 117;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str("...");
    }
    s
}

/// Collects up to `limit` JSON paths where `want` and `got` differ.
fn value_diff(path: &str, want: &Value, got: &Value, out: &mut Vec<String>, limit: usize) {
    if out.len() >= limit || want == got {
        return;
    }
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            for (k, wv) in w {
                let p = format!("{path}.{k}");
                match g.get(k) {
                    Some(gv) => value_diff(&p, wv, gv, out, limit),
                    None => out.push(format!("{p}: missing (expected {})", short(wv))),
                }
                if out.len() >= limit {
                    return;
                }
            }
            for (k, gv) in g {
                if !w.contains_key(k) && out.len() < limit {
                    out.push(format!("{path}.{k}: unexpected {}", short(gv)));
                }
            }
        }
        (Value::Array(w), Value::Array(g)) if w.len() == g.len() => {
            for (i, (wv, gv)) in w.iter().zip(g).enumerate() {
                value_diff(&format!("{path}[{i}]"), wv, gv, out, limit);
            }
        }
        _ => out.push(format!(
            "{path}: expected {}, got {}",
            short(want),
            short(got)
        )),
    }
}

fn compare_docs(want: &[Value], got: &[Value]) -> Option<String> {
    if want == got {
        return None;
    }
    let mut msg = String::new();
    let want_ids: Vec<String> = want.iter().map(doc_id).collect();
    let got_ids: Vec<String> = got.iter().map(doc_id).collect();
    if want_ids != got_ids {
        let _ = writeln!(msg, "    objects differ (count or order):");
        let _ = writeln!(msg, "      expected: {}", want_ids.join(", "));
        let _ = writeln!(msg, "      got:      {}", got_ids.join(", "));
        return Some(msg);
    }
    for (i, (w, g)) in want.iter().zip(got).enumerate() {
        if w != g {
            let mut paths = Vec::new();
            value_diff("", w, g, &mut paths, 6);
            let _ = writeln!(msg, "    document {i} ({}):", want_ids[i]);
            for p in paths {
                let _ = writeln!(msg, "      {p}");
            }
        }
    }
    Some(msg)
}

/// First line where two texts differ, for byte-level reporting.
fn first_text_difference(want: &str, got: &str) -> String {
    for (n, (w, g)) in want.lines().zip(got.lines()).enumerate() {
        if w != g {
            return format!("line {}: expected {w:?}, got {g:?}", n + 1);
        }
    }
    format!(
        "lengths differ: expected {} lines, got {} lines",
        want.lines().count(),
        got.lines().count()
    )
}

fn read_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

enum Verdict {
    Matched { byte_identical: bool },
    Failed(String),
}

fn run_case(dir: &Path) -> Verdict {
    let render_path = match std::fs::read_to_string(dir.join("render-path")) {
        Ok(p) => dir.join(p.trim()),
        Err(_) => dir.to_path_buf(),
    };
    let mut args = vec!["render".to_string(), render_path.display().to_string()];
    for var in read_lines(&dir.join("vars")) {
        args.push("--var".to_string());
        args.push(var);
    }
    let out = run_rudder(&args);
    if out.timed_out {
        return Verdict::Failed(format!("    timed out after {}s\n", TIMEOUT.as_secs()));
    }
    let stderr_excerpt = || {
        let s = out.stderr.trim();
        let s: String = s.chars().take(400).collect();
        format!("    stderr: {s}\n")
    };

    let expect_error = dir.join("expect-error");
    if expect_error.exists() {
        let mut wanted_code = None;
        let mut substrings = Vec::new();
        for line in read_lines(&expect_error) {
            match line.strip_prefix("exit=") {
                Some(n) => wanted_code = n.trim().parse::<i32>().ok(),
                None => substrings.push(line),
            }
        }
        let mut msg = String::new();
        match (out.code, wanted_code) {
            (Some(0), _) => msg.push_str("    exit 0, expected an error\n"),
            (None, _) => msg.push_str("    killed by a signal\n"),
            (Some(c), Some(w)) if c != w => {
                let _ = writeln!(msg, "    exit {c}, expected {w}");
            }
            _ => {}
        }
        if !out.stdout.is_empty() {
            let _ = writeln!(
                msg,
                "    {} bytes on stdout, expected none",
                out.stdout.len()
            );
        }
        for s in &substrings {
            if !out.stderr.contains(s.as_str()) {
                let _ = writeln!(msg, "    stderr lacks {s:?}");
            }
        }
        if msg.is_empty() {
            return Verdict::Matched {
                byte_identical: false,
            };
        }
        msg.push_str(&stderr_excerpt());
        return Verdict::Failed(msg);
    }

    let expected = match std::fs::read_to_string(dir.join("expected.yaml")) {
        Ok(e) => e,
        Err(e) => {
            return Verdict::Failed(format!(
                "    no expected.yaml ({e}); run render/conformance/regen.sh\n"
            ));
        }
    };
    if out.code != Some(0) {
        return Verdict::Failed(format!("    exit {:?}\n{}", out.code, stderr_excerpt()));
    }
    let stdout = match String::from_utf8(out.stdout) {
        Ok(s) => s,
        Err(_) => return Verdict::Failed("    stdout is not UTF-8\n".to_string()),
    };
    let want = match parse_docs(&expected) {
        Ok(d) => d,
        Err(e) => return Verdict::Failed(format!("    expected.yaml does not parse: {e}\n")),
    };
    let got = match parse_docs(&stdout) {
        Ok(d) => d,
        Err(e) => return Verdict::Failed(format!("    output does not parse: {e}\n")),
    };
    match compare_docs(&want, &got) {
        None => Verdict::Matched {
            byte_identical: stdout == expected,
        },
        Some(diff) => Verdict::Failed(format!(
            "{diff}    first text difference: {}\n",
            first_text_difference(&expected, &stdout)
        )),
    }
}

#[test]
fn render_conformance() {
    let filter = std::env::var("RUDDER_CONFORMANCE_FILTER").unwrap_or_default();
    let mut cases: Vec<PathBuf> = std::fs::read_dir(cases_dir())
        .expect("read render/conformance/cases")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.contains(filter.as_str()))
        })
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "no conformance cases found");

    // Cases the renderer does not pass yet. Strict: a listed case that
    // passes is itself a failure, so the list can only shrink.
    let known_failures: Vec<String> = read_lines(&cases_dir().join("../known-failures"))
        .into_iter()
        .map(|l| l.split('#').next().unwrap_or("").trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    let (mut matched, mut identical, mut good, mut bad) = (0, 0, 0, 0);
    let mut not_identical = Vec::new();
    let mut failures = Vec::new();
    let mut still_known = Vec::new();
    for dir in &cases {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        if dir.join("expect-error").exists() {
            bad += 1;
        } else {
            good += 1;
        }
        let known = known_failures.contains(&name);
        match run_case(dir) {
            Verdict::Matched { .. } if known => failures.push((
                name,
                "    passes now: remove it from render/conformance/known-failures\n".to_string(),
            )),
            Verdict::Failed(_) if known => still_known.push(name),
            Verdict::Matched { byte_identical } => {
                matched += 1;
                if byte_identical {
                    identical += 1;
                } else if !dir.join("expect-error").exists() {
                    not_identical.push(name);
                }
            }
            Verdict::Failed(msg) => failures.push((name, msg)),
        }
    }
    if !not_identical.is_empty() {
        println!(
            "matched but not byte-identical: {}",
            not_identical.join(", ")
        );
    }
    let summary = format!(
        "render conformance: {} cases ({good} good, {bad} bad), {matched} matched \
         ({identical} byte-identical), {} known failures, {} failed",
        cases.len(),
        still_known.len(),
        failures.len()
    );
    if !still_known.is_empty() {
        println!(
            "known failures (render/conformance/known-failures): {}",
            still_known.join(", ")
        );
    }
    println!("{summary}");
    if !failures.is_empty() {
        let mut report = String::new();
        for (name, msg) in &failures {
            let _ = write!(report, "  {name}\n{msg}");
        }
        let names: Vec<&str> = failures.iter().map(|(n, _)| n.as_str()).collect();
        panic!("{summary}\nfailing cases: {}\n{report}", names.join(", "));
    }
}
