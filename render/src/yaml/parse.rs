//! Parsing YAML streams into `serde_json::Value` documents (owner: render
//! core): multi-document, empty documents skipped, serde-saphyr's budget
//! limits on (documents raised for big generated files) so alias bombs and
//! huge inputs fail fast with bounded memory, and every error carrying the
//! file and line. Flattening `*List` kinds is the loader's job, not ours.

use serde_json::Value;

use crate::error::RenderError;

/// Most documents one stream may hold.
pub const MAX_DOCUMENTS: usize = 100_000;

fn options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_documents: MAX_DOCUMENTS,
            max_nodes: 20_000_000,
            max_events: 40_000_000,
        },
        // YAML 1.2 booleans only, as go-yaml v3 reads them: `yes`/`on`
        // stay strings.
        strict_booleans: true,
    }
}

/// Parses every document of `text` (read from `file`, named in errors).
///
/// ```
/// let docs = rudder_render::yaml::parse::parse_documents("x.yaml", "a: 1\n---\nb: yes\n").unwrap();
/// assert_eq!(docs[1]["b"], "yes");
/// ```
pub fn parse_documents(file: &str, text: &str) -> Result<Vec<Value>, RenderError> {
    let docs: Vec<Value> = serde_saphyr::from_multiple_with_options(text, options())
        .map_err(|e| yaml_error(file, &e))?;
    Ok(docs.into_iter().filter(|d| !d.is_null()).collect())
}

/// Parses `text` as exactly one document (an empty text is `null`).
pub fn parse_one(file: &str, text: &str) -> Result<Value, RenderError> {
    let mut docs = parse_documents(file, text)?;
    match docs.len() {
        0 => Ok(Value::Null),
        1 => Ok(docs.remove(0)),
        n => Err(RenderError::Yaml {
            file: file.to_string(),
            line: 1,
            message: format!("expected one YAML document, found {n}"),
        }),
    }
}

fn yaml_error(file: &str, e: &serde_saphyr::Error) -> RenderError {
    let line = e.location().map_or(0, |l| l.line());
    let message = e.to_string();
    // serde-saphyr prefixes its own "line N column M" text; keep the message
    // to its first line so the error stays one line on stderr.
    let message = message.lines().next().unwrap_or("").trim().to_string();
    RenderError::Yaml {
        file: file.to_string(),
        line,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_multiple_documents_and_skips_empty_ones() {
        let docs = parse_documents("f.yaml", "---\na: 1\n---\n---\nb: [x]\n").unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1]["b"][0], "x");
    }

    #[test]
    fn yaml11_booleans_stay_strings() {
        let docs = parse_documents("f.yaml", "a: yes\nb: on\nc: true\n").unwrap();
        assert_eq!(docs[0]["a"], "yes");
        assert_eq!(docs[0]["b"], "on");
        assert_eq!(docs[0]["c"], true);
    }

    #[test]
    fn syntax_error_names_file_and_line() {
        let err = parse_documents("dir/bad.yaml", "a: 1\nb: [1, 2\nc: 3\n").unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("dir/bad.yaml:"), "{text}");
        match err {
            RenderError::Yaml { line, .. } => assert!(line >= 2, "line {line}"),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn alias_bomb_fails_fast() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let start = std::time::Instant::now();
        assert!(parse_documents("bomb.yaml", &text).is_err());
        assert!(start.elapsed().as_secs() < 5);
    }

    #[test]
    fn more_than_default_1024_documents_are_accepted() {
        let text = "a: 1\n---\n".repeat(2000);
        assert_eq!(parse_documents("big.yaml", &text).unwrap().len(), 2000);
    }
}
