//! Parsing YAML streams into `serde_json::Value` documents (owner: render
//! core): multi-document, empty documents skipped, anchors, aliases and `<<`
//! merge keys expanded, and every error carrying the file and line.
//!
//! Values are built straight from the parser's events, so scalars are typed
//! the way kustomize's Go libraries type them (go-yaml v3: only `true` and
//! `false` are booleans, `010` is octal, `0x1A` hex) rather than by a serde
//! data model that cannot tell `2024-05-06` from `"2024-05-06"`. Two
//! readings differ in one point: resources and strategic merge patches
//! ([`parse_objects`]) are read as kyaml reads them, where a plain timestamp
//! becomes Go's RFC 3339 text on output, and the values of a document's
//! own `metadata.annotations` keep their text whatever they would resolve
//! to (kustomize reads annotations as strings); kustomization files and
//! other configuration ([`parse_documents`]) keep the text. Kustomization
//! files themselves ([`parse_kustomization`]) are read as go-yaml v2 reads
//! them: YAML 1.1 booleans, and a repeated key's last value wins.
//!
//! Budgets keep hostile input bounded: at most [`MAX_DOCUMENTS`] documents
//! and [`MAX_NODES`] nodes (aliases count every node they copy, so an alias
//! bomb fails at once instead of filling memory), nesting at most
//! [`MAX_DEPTH`] deep. Flattening `*List` kinds is the loader's job, not
//! ours.

use std::collections::HashMap;

use granit_parser::{Event, Parser, ScalarStyle, ScanError, Span, Tag};
use serde_json::{Map, Number, Value};

use super::resolve::{Plain, Words, resolve_plain};
use crate::error::RenderError;

/// Most documents one stream may hold.
pub const MAX_DOCUMENTS: usize = 100_000;
/// Most nodes one stream may produce, counting each alias's copy.
pub const MAX_NODES: usize = 5_000_000;
/// Deepest nesting of collections.
pub const MAX_DEPTH: usize = 1_000;

/// Parses every document of `text` (read from `file`, named in errors),
/// keeping plain timestamps as their text: kustomization files and plugin
/// configuration, read by kustomize through go-yaml v2.
///
/// ```
/// let docs = rudder_render::yaml::parse::parse_documents("x.yaml", "a: 1\n---\nb: yes\n").unwrap();
/// assert_eq!(docs[1]["b"], "yes");
/// ```
pub fn parse_documents(file: &str, text: &str) -> Result<Vec<Value>, RenderError> {
    Loader::new(file, Reading::Config).run(text)
}

/// Parses a kustomization file as kustomize does (go-yaml v2 into a map):
/// one document, YAML 1.1 words (`yes`, `on`, `y` are booleans), and a
/// key repeated in a map is no error: the last one wins.
///
/// ```
/// let k = rudder_render::yaml::parse::parse_kustomization("k.yaml", "a: 1\na: 2\nb: yes\n").unwrap();
/// assert_eq!(k["a"], 2);
/// assert_eq!(k["b"], true);
/// ```
pub fn parse_kustomization(file: &str, text: &str) -> Result<Value, RenderError> {
    let mut loader = Loader::new(file, Reading::Config);
    loader.words = Words::Yaml11;
    loader.last_key_wins = true;
    only_document(file, loader.run(text)?)
}

/// Parses resource documents (and strategic merge patches) as kyaml reads
/// them: like [`parse_documents`], except that a plain timestamp becomes
/// the RFC 3339 text Go prints for it.
///
/// ```
/// let docs = rudder_render::yaml::parse::parse_objects("x.yaml", "d: 2024-05-06\nq: '2024-05-06'\n").unwrap();
/// assert_eq!(docs[0]["d"], "2024-05-06T00:00:00Z");
/// assert_eq!(docs[0]["q"], "2024-05-06");
/// ```
pub fn parse_objects(file: &str, text: &str) -> Result<Vec<Value>, RenderError> {
    Loader::new(file, Reading::Objects).run(text)
}

/// Parses `text` as exactly one document (an empty text is `null`).
pub fn parse_one(file: &str, text: &str) -> Result<Value, RenderError> {
    only_document(file, parse_documents(file, text)?)
}

fn only_document(file: &str, mut docs: Vec<Value>) -> Result<Value, RenderError> {
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

#[derive(Clone, Copy, PartialEq, Eq)]
enum Reading {
    Config,
    Objects,
}

/// A collection being built.
enum Frame {
    Seq {
        items: Vec<Value>,
        anchor: usize,
        nodes: usize,
    },
    Map {
        map: Map<String, Value>,
        anchor: usize,
        nodes: usize,
        /// The key read, waiting for its value.
        key: Option<Key>,
        /// Maps from `<<` entries, applied at the end under explicit keys.
        merges: Vec<Map<String, Value>>,
    },
}

enum Key {
    Text(String, u64),
    Merge,
}

struct Loader<'f> {
    file: &'f str,
    reading: Reading,
    /// Which plain words are booleans.
    words: Words,
    /// A repeated map key replaces the earlier value instead of failing.
    last_key_wins: bool,
    stack: Vec<Frame>,
    /// Anchored values of the current document with their node counts.
    anchors: HashMap<usize, (Value, usize)>,
    nodes: usize,
    docs: Vec<Value>,
    root: Option<Value>,
}

impl<'f> Loader<'f> {
    fn new(file: &'f str, reading: Reading) -> Loader<'f> {
        Loader {
            file,
            reading,
            words: Words::Yaml12,
            last_key_wins: false,
            stack: Vec::new(),
            anchors: HashMap::new(),
            nodes: 0,
            docs: Vec::new(),
            root: None,
        }
    }

    fn error(&self, line: usize, message: impl Into<String>) -> RenderError {
        RenderError::Yaml {
            file: self.file.to_string(),
            line: line as u64,
            message: message.into(),
        }
    }

    fn scan_error(&self, e: &ScanError) -> RenderError {
        self.error(e.marker().line(), e.info())
    }

    fn run(mut self, text: &str) -> Result<Vec<Value>, RenderError> {
        let mut parser = Parser::new_from_str(text);
        while let Some(next) = parser.next_event() {
            let (event, span) = next.map_err(|e| self.scan_error(&e))?;
            self.event(event, &span)?;
        }
        Ok(self.docs)
    }

    fn event(&mut self, event: Event<'_>, span: &Span) -> Result<(), RenderError> {
        let line = span.start.line();
        match event {
            Event::DocumentStart(..) => {
                self.anchors.clear();
                self.root = None;
            }
            Event::DocumentEnd => {
                if let Some(doc) = self.root.take().filter(|d| !d.is_null()) {
                    if self.docs.len() == MAX_DOCUMENTS {
                        return Err(self.error(
                            line,
                            format!("more than {MAX_DOCUMENTS} documents in one file"),
                        ));
                    }
                    self.docs.push(doc);
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                if self.wants_key() {
                    let key = if text == "<<" && style == ScalarStyle::Plain {
                        Key::Merge
                    } else {
                        Key::Text(text.into_owned(), line as u64)
                    };
                    if anchor != 0 {
                        let text = match &key {
                            Key::Text(t, _) => t.clone(),
                            Key::Merge => "<<".to_string(),
                        };
                        self.anchors.insert(anchor, (Value::String(text), 1));
                    }
                    self.set_key(key);
                    return self.count(1, line);
                }
                let value = if self.reading == Reading::Objects && self.in_annotations() {
                    // kustomize reads `metadata.annotations` as strings:
                    // the scalar's text, whatever it would resolve to.
                    Value::String(text.into_owned())
                } else {
                    self.scalar(&text, style, tag.as_deref())
                };
                self.count(1, line)?;
                self.complete(value, anchor, 1, line)?;
            }
            Event::Alias(id) => {
                let Some(&(_, nodes)) = self.anchors.get(&id) else {
                    return Err(self.error(line, "alias to an unknown anchor"));
                };
                // Count before copying: an alias bomb must fail here, not
                // after filling memory.
                self.count(nodes, line)?;
                let value = self.anchors[&id].0.clone();
                if self.wants_key() {
                    let text = match &value {
                        Value::String(s) => s.clone(),
                        Value::Number(n) => n.to_string(),
                        Value::Bool(b) => b.to_string(),
                        Value::Null => String::new(),
                        _ => return Err(self.error(line, "a map or list cannot be a map key")),
                    };
                    self.set_key(Key::Text(text, line as u64));
                    return Ok(());
                }
                self.complete(value, 0, nodes, line)?;
            }
            Event::SequenceStart(_, anchor, _) => self.open(
                Frame::Seq {
                    items: Vec::new(),
                    anchor,
                    nodes: 1,
                },
                line,
            )?,
            Event::MappingStart(_, anchor, _) => self.open(
                Frame::Map {
                    map: Map::new(),
                    anchor,
                    nodes: 1,
                    key: None,
                    merges: Vec::new(),
                },
                line,
            )?,
            Event::SequenceEnd => {
                if let Some(Frame::Seq {
                    items,
                    anchor,
                    nodes,
                }) = self.stack.pop()
                {
                    self.complete(Value::Array(items), anchor, nodes, line)?;
                }
            }
            Event::MappingEnd => {
                if let Some(Frame::Map {
                    mut map,
                    anchor,
                    nodes,
                    merges,
                    ..
                }) = self.stack.pop()
                {
                    // go-yaml: explicit keys win over merged ones, and an
                    // earlier merged map over a later one.
                    for merged in merges {
                        for (k, v) in merged {
                            map.entry(k).or_insert(v);
                        }
                    }
                    self.complete(Value::Object(map), anchor, nodes, line)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Whether the node being read is a value in the document's own
    /// `metadata.annotations` map.
    fn in_annotations(&self) -> bool {
        let key_is = |f: &Frame, name: &str| matches!(f, Frame::Map { key: Some(Key::Text(k, _)), .. } if k == name);
        self.stack.len() == 3
            && key_is(&self.stack[0], "metadata")
            && key_is(&self.stack[1], "annotations")
            && matches!(self.stack[2], Frame::Map { key: Some(_), .. })
    }

    /// Whether the next node is a key of the innermost map.
    fn wants_key(&self) -> bool {
        matches!(self.stack.last(), Some(Frame::Map { key: None, .. }))
    }

    fn set_key(&mut self, k: Key) {
        if let Some(Frame::Map { key, .. }) = self.stack.last_mut() {
            *key = Some(k);
        }
    }

    fn count(&mut self, n: usize, line: usize) -> Result<(), RenderError> {
        self.nodes += n;
        if self.nodes > MAX_NODES {
            return Err(self.error(
                line,
                format!(
                    "more than {MAX_NODES} YAML nodes (aliases count every node they repeat); refusing to expand further"
                ),
            ));
        }
        Ok(())
    }

    /// A collection opens: in a map it must be a value, not a key.
    fn open(&mut self, frame: Frame, line: usize) -> Result<(), RenderError> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(self.error(line, format!("nesting deeper than {MAX_DEPTH} levels")));
        }
        if self.wants_key() {
            return Err(self.error(line, "a map or list cannot be a map key"));
        }
        self.stack.push(frame);
        self.count(1, line)
    }

    /// A node is complete: remember it under its anchor and hand it to its
    /// parent (or make it the document).
    fn complete(
        &mut self,
        value: Value,
        anchor: usize,
        nodes: usize,
        line: usize,
    ) -> Result<(), RenderError> {
        if anchor != 0 {
            self.anchors.insert(anchor, (value.clone(), nodes));
        }
        match self.stack.last_mut() {
            None => self.root = Some(value),
            Some(Frame::Seq {
                items,
                nodes: parent,
                ..
            }) => {
                *parent += nodes;
                items.push(value);
            }
            Some(Frame::Map {
                map,
                nodes: parent,
                key,
                merges,
                ..
            }) => {
                *parent += nodes;
                match key.take() {
                    Some(Key::Text(k, at)) => {
                        if map.contains_key(&k) && !self.last_key_wins {
                            let message =
                                format!("mapping key \"{k}\" already defined at line {at}");
                            return Err(self.error(line, message));
                        }
                        map.insert(k, value);
                    }
                    Some(Key::Merge) => match value {
                        Value::Object(m) => merges.push(m),
                        Value::Array(list) if list.iter().all(Value::is_object) => {
                            merges.extend(list.into_iter().filter_map(|v| match v {
                                Value::Object(m) => Some(m),
                                _ => None,
                            }));
                        }
                        _ => {
                            return Err(self
                                .error(line, "map merge (`<<`) requires a map or a list of maps"));
                        }
                    },
                    None => unreachable!("keys are taken before values"),
                }
            }
        }
        Ok(())
    }

    /// Types a scalar as go-yaml does: quoted and block scalars are strings,
    /// plain ones resolved; `!!str` and the other core tags force a reading,
    /// unknown tags leave the text.
    fn scalar(&self, text: &str, style: ScalarStyle, tag: Option<&Tag>) -> Value {
        let core = tag.and_then(|t| (t.handle() == "tag:yaml.org,2002:").then(|| t.suffix()));
        let resolve = match (tag, core) {
            (None, _) => style == ScalarStyle::Plain,
            (Some(_), Some("int" | "float" | "bool" | "null" | "timestamp")) => true,
            (Some(_), _) => false,
        };
        if !resolve {
            return Value::String(text.to_string());
        }
        let number =
            |n: Option<Number>| n.map_or_else(|| Value::String(text.to_string()), Value::Number);
        match resolve_plain(text, self.words) {
            Plain::Null => Value::Null,
            Plain::Bool(b) => Value::Bool(b),
            Plain::Int(i) if core == Some("float") => number(Number::from_f64(i as f64)),
            Plain::Int(i) => Value::Number(i.into()),
            Plain::Uint(u) => Value::Number(u.into()),
            // JSON has no infinities or NaN; keep the text.
            Plain::Float(f) => number(Number::from_f64(f)),
            Plain::Timestamp(t) if self.reading == Reading::Objects => Value::String(t.rfc3339()),
            Plain::Timestamp(_) | Plain::Str => Value::String(text.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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

    // Oracle: case 167 (kubectl kustomize on an untyped custom resource).
    #[test]
    fn numbers_and_timestamps_read_as_go_yaml_v3_reads_them() {
        let text = "a: 010\nb: 0o14\nc: 0x1A\nd: 2.50\ne: 6.02e23\nf: 2024-05-06\ng: \"010\"\nh: !!str 12\ni: !!int '12'\nj: ~\nk:\nl: .inf\n";
        let o = &parse_objects("f.yaml", text).unwrap()[0];
        assert_eq!(
            *o,
            json!({"a": 8, "b": 12, "c": 26, "d": 2.5, "e": 6.02e23, "f": "2024-05-06T00:00:00Z",
                   "g": "010", "h": "12", "i": 12, "j": null, "k": null, "l": ".inf"})
        );
        let c = &parse_documents("f.yaml", text).unwrap()[0];
        assert_eq!(c["f"], "2024-05-06");
    }

    #[test]
    fn anchors_aliases_and_merge_keys_expand() {
        let text = "base: &b {x: 1, y: 2}\nother: &o {z: 3}\nuse:\n  <<: [*b, *o]\n  y: 9\ncopy: *b\nlist: [&s v, *s]\n";
        let o = &parse_documents("f.yaml", text).unwrap()[0];
        assert_eq!(o["use"], json!({"x": 1, "y": 9, "z": 3}));
        assert_eq!(o["copy"], json!({"x": 1, "y": 2}));
        assert_eq!(o["list"], json!(["v", "v"]));
    }

    #[test]
    fn duplicate_keys_and_complex_keys_are_refused() {
        let err = parse_documents("d.yaml", "a: 1\nb: 2\na: 3\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("d.yaml") && err.contains("key \"a\" already defined"),
            "{err}"
        );
        assert!(parse_documents("d.yaml", "? [a]\n: 1\n").is_err());
    }

    #[test]
    fn keys_keep_their_text() {
        let o = &parse_documents("f.yaml", "1: a\n010: b\ntrue: c\n\"q\": d\n").unwrap()[0];
        assert_eq!(o, &json!({"1": "a", "010": "b", "true": "c", "q": "d"}));
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
        // Refused by the node budget, before the expansion (10^12 nodes)
        // is ever built; bench/render.sh times it, not this test.
        match parse_documents("bomb.yaml", &text) {
            Err(RenderError::Yaml { file, message, .. }) => {
                assert_eq!(file, "bomb.yaml");
                assert!(message.contains("YAML nodes"), "{message}");
            }
            other => panic!("the alias bomb was not refused by the budget: {other:?}"),
        }
    }

    #[test]
    fn more_than_default_1024_documents_are_accepted() {
        let text = "a: 1\n---\n".repeat(2000);
        assert_eq!(parse_documents("big.yaml", &text).unwrap().len(), 2000);
    }
}
