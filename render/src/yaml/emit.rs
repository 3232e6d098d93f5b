//! Writing objects as the exact YAML text `kubectl kustomize` prints.
//!
//! kustomize v5.5 prints each object by marshalling it to JSON and handing
//! that to `sigs.k8s.io/yaml`'s `JSONToYAML`, whose encoder is go-yaml v2
//! (a libyaml port). So the text we must reproduce is go-yaml v2's: keys in
//! go-yaml's "natural" order, two-space indent, sequences not indented under
//! their key, scalars plain unless go-yaml's resolver would read them back as
//! something other than a string, literal blocks for multi-line strings,
//! plain and quoted scalars folded past column 80, and numbers as they come
//! out of the JSON round trip (`1.0` prints `1`, `1e20` prints `1e+20`).
//!
//! This module owns that whole encoder. It is a faithful port of the parts of
//! libyaml's emitter that a JSON-shaped value can reach (block collections,
//! empty flow collections, the four scalar styles, complex `?` keys), written
//! straight into one `String` without building events or a node tree.
//!
//! ```
//! use rudder_render::yaml::emit::to_yaml_stream;
//! let docs = vec![
//!     serde_json::json!({"kind": "ConfigMap", "data": {"on": "yes"}}),
//!     serde_json::json!({"kind": "Secret"}),
//! ];
//! let text = to_yaml_stream(&docs).unwrap();
//! assert_eq!(text, "data:\n  \"on\": \"yes\"\nkind: ConfigMap\n---\nkind: Secret\n");
//! ```

use std::fmt::Write as _;

use serde_json::{Map, Number, Value};

use super::resolve;

/// Deepest nesting the encoder follows. Kubernetes objects stay far below
/// it; the limit exists so hostile input fails instead of overflowing the
/// stack.
pub const MAX_DEPTH: usize = 256;

/// libyaml's default line width: plain and quoted scalars fold after it.
const BEST_WIDTH: usize = 80;
/// libyaml's default indentation step.
const BEST_INDENT: isize = 2;
/// libyaml writes keys longer than this (in bytes) as complex `? ` keys.
const MAX_SIMPLE_KEY_LEN: usize = 128;

/// Why a value could not be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmitError {
    /// The value nests deeper than [`MAX_DEPTH`].
    #[error("document {document} nests deeper than {max} levels; refusing to write it as YAML", max = MAX_DEPTH)]
    TooDeep {
        /// Zero-based index of the document in the stream.
        document: usize,
    },
}

/// Writes documents as one YAML stream, separated by `---` lines, exactly as
/// `kubectl kustomize` joins the objects it prints.
///
/// ```
/// use rudder_render::yaml::emit::to_yaml_stream;
/// let doc = serde_json::json!({"b": [1, {"y": "n", "x": "a\nb"}], "a": {}});
/// assert_eq!(
///     to_yaml_stream(&[doc]).unwrap(),
///     "a: {}\nb:\n- 1\n- x: |-\n    a\n    b\n  \"y\": \"n\"\n",
/// );
/// ```
pub fn to_yaml_stream(docs: &[Value]) -> Result<String, EmitError> {
    // Rendered YAML is usually a little larger than a hundred bytes per
    // object; reserving avoids most regrowth for big overlays.
    let mut out = String::with_capacity(docs.len() * 512);
    for (index, doc) in docs.iter().enumerate() {
        if index > 0 {
            out.push_str("---\n");
        }
        write_document(&mut out, doc).map_err(|TooDeep| EmitError::TooDeep { document: index })?;
    }
    Ok(out)
}

/// Writes one document (no `---` line) as `kubectl kustomize` prints it.
///
/// ```
/// use rudder_render::yaml::emit::to_yaml;
/// let doc = serde_json::json!({"metadata": {"name": "web"}, "apiVersion": "v1"});
/// assert_eq!(to_yaml(&doc).unwrap(), "apiVersion: v1\nmetadata:\n  name: web\n");
/// ```
pub fn to_yaml(doc: &Value) -> Result<String, EmitError> {
    let mut out = String::with_capacity(512);
    write_document(&mut out, doc).map_err(|TooDeep| EmitError::TooDeep { document: 0 })?;
    Ok(out)
}

/// Internal marker: the value was too deep (the caller adds the index).
struct TooDeep;

fn write_document(out: &mut String, doc: &Value) -> Result<(), TooDeep> {
    let mut emitter = Emitter {
        out,
        column: 0,
        indent: -1,
        whitespace: true,
        indention: true,
    };
    emitter.node(doc, Context::ROOT, 0)?;
    // Document end (implicit): libyaml finishes the last line.
    emitter.indent = -1;
    emitter.write_indent();
    Ok(())
}

/// Where a node sits, as libyaml's emitter tracks it.
#[derive(Clone, Copy)]
struct Context {
    /// The node is a mapping key or value (decides indentless sequences).
    mapping: bool,
    /// The node is a simple (`key:`) mapping key: no folding, no blocks.
    simple_key: bool,
}

impl Context {
    const ROOT: Context = Context {
        mapping: false,
        simple_key: false,
    };
    const SEQUENCE_ITEM: Context = Context {
        mapping: false,
        simple_key: false,
    };
    const SIMPLE_KEY: Context = Context {
        mapping: true,
        simple_key: true,
    };
    const MAPPING_VALUE: Context = Context {
        mapping: true,
        simple_key: false,
    };
}

/// The subset of libyaml's `yaml_emitter_t` state that decides the text.
struct Emitter<'a> {
    out: &'a mut String,
    /// Current column in characters (libyaml counts characters, not bytes).
    column: usize,
    indent: isize,
    /// The last thing written was whitespace (or nothing on this line).
    whitespace: bool,
    /// Only indentation has been written on this line so far.
    indention: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Style {
    Plain,
    SingleQuoted,
    DoubleQuoted,
    Literal,
}

impl Emitter<'_> {
    fn node(&mut self, value: &Value, ctx: Context, depth: usize) -> Result<(), TooDeep> {
        if depth > MAX_DEPTH {
            return Err(TooDeep);
        }
        match value {
            Value::Null => self.plain_token("null"),
            Value::Bool(true) => self.plain_token("true"),
            Value::Bool(false) => self.plain_token("false"),
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    // Integers are by far the common number: write them
                    // without a temporary String.
                    if !self.whitespace {
                        self.put(' ');
                    }
                    let start = self.out.len();
                    let _ = write!(self.out, "{i}");
                    self.column += self.out.len() - start;
                    self.whitespace = false;
                    self.indention = false;
                } else {
                    let text = format_number(n);
                    self.plain_token(&text);
                }
            }
            Value::String(s) => self.string_scalar(s, ctx),
            Value::Array(items) if items.is_empty() => {
                self.write_indicator("[", true, true, false);
                self.write_indicator("]", false, false, false);
            }
            Value::Object(map) if map.is_empty() => {
                self.write_indicator("{", true, true, false);
                self.write_indicator("}", false, false, false);
            }
            Value::Array(items) => {
                let saved = self.indent;
                // Sequences directly under a key are not indented.
                self.increase_indent(false, ctx.mapping && !self.indention);
                for item in items {
                    self.write_indent();
                    self.write_indicator("-", true, false, true);
                    self.node(item, Context::SEQUENCE_ITEM, depth + 1)?;
                }
                self.indent = saved;
            }
            Value::Object(map) => self.mapping(map, depth)?,
        }
        Ok(())
    }

    fn mapping(&mut self, map: &Map<String, Value>, depth: usize) -> Result<(), TooDeep> {
        let saved = self.indent;
        self.increase_indent(false, false);
        for (key, value) in sorted_entries(map) {
            self.write_indent();
            if key.len() <= MAX_SIMPLE_KEY_LEN && self.plain_word(key) {
                self.write_indicator(":", false, false, false);
                self.node(value, Context::MAPPING_VALUE, depth + 1)?;
                continue;
            }
            let analysis = analyze(key);
            if !analysis.multiline && key.len() <= MAX_SIMPLE_KEY_LEN {
                self.string_scalar_analyzed(key, &analysis, Context::SIMPLE_KEY);
                self.write_indicator(":", false, false, false);
            } else {
                self.write_indicator("?", true, false, true);
                self.string_scalar_analyzed(key, &analysis, Context::MAPPING_VALUE);
                self.write_indent();
                self.write_indicator(":", true, false, true);
            }
            self.node(value, Context::MAPPING_VALUE, depth + 1)?;
        }
        self.indent = saved;
        Ok(())
    }

    /// A non-string scalar (number, bool, null): always plain, never folded
    /// because it holds no spaces.
    fn plain_token(&mut self, text: &str) {
        if !self.whitespace {
            self.put(' ');
        }
        self.out.push_str(text);
        self.column += text.len();
        self.whitespace = false;
        self.indention = false;
    }

    /// Writes `s` plain when it is a [`is_simple_word`] that reads back
    /// as a string, which covers most names, labels and images; returns
    /// false (having written nothing) otherwise. For such words libyaml's
    /// analysis allows every style and there is nothing to fold, so the
    /// full scalar path would write the same bytes, only slower.
    fn plain_word(&mut self, s: &str) -> bool {
        if !is_simple_word(s) || !resolve::resolves_to_string(s) || resolve::is_base60_float(s) {
            return false;
        }
        // Simple words are ASCII: bytes are characters.
        self.plain_token(s);
        true
    }

    fn string_scalar(&mut self, s: &str, ctx: Context) {
        if self.plain_word(s) {
            return;
        }
        let analysis = analyze(s);
        self.string_scalar_analyzed(s, &analysis, ctx);
    }

    fn string_scalar_analyzed(&mut self, s: &str, analysis: &Analysis, ctx: Context) {
        let style = select_style(s, analysis, ctx);
        let saved = self.indent;
        self.increase_indent(true, false);
        let allow_breaks = !ctx.simple_key;
        match style {
            Style::Plain => self.write_plain(s, allow_breaks),
            Style::SingleQuoted => self.write_single_quoted(s, allow_breaks),
            Style::DoubleQuoted => self.write_double_quoted(s, allow_breaks),
            Style::Literal => self.write_literal(s),
        }
        self.indent = saved;
    }

    fn increase_indent(&mut self, flow: bool, indentless: bool) {
        if self.indent < 0 {
            self.indent = if flow { BEST_INDENT } else { 0 };
        } else if !indentless {
            self.indent += BEST_INDENT;
        }
    }

    fn put(&mut self, c: char) {
        self.out.push(c);
        self.column += 1;
    }

    fn put_break(&mut self) {
        self.out.push('\n');
        self.column = 0;
    }

    /// libyaml's `write_break`: a `\n` becomes a newline; other break
    /// characters are copied as they are and still end the line.
    fn write_break(&mut self, c: char) {
        if c == '\n' {
            self.put_break();
        } else {
            self.out.push(c);
            self.column = 0;
        }
    }

    fn write_indent(&mut self) {
        let indent = self.indent.max(0) as usize;
        if !self.indention || self.column > indent || (self.column == indent && !self.whitespace) {
            self.put_break();
        }
        while self.column < indent {
            self.put(' ');
        }
        self.whitespace = true;
        self.indention = true;
    }

    fn write_indicator(
        &mut self,
        indicator: &str,
        need_whitespace: bool,
        is_whitespace: bool,
        is_indention: bool,
    ) {
        if need_whitespace && !self.whitespace {
            self.put(' ');
        }
        self.out.push_str(indicator);
        self.column += indicator.chars().count();
        self.whitespace = is_whitespace;
        self.indention = self.indention && is_indention;
    }

    fn write_plain(&mut self, s: &str, allow_breaks: bool) {
        if !self.whitespace {
            self.put(' ');
        }
        let mut spaces = false;
        let mut breaks = false;
        let mut chars = s.chars().peekable();
        while let Some(c) = chars.next() {
            if c == ' ' {
                let next_is_space = chars.peek() == Some(&' ');
                if allow_breaks && !spaces && self.column > BEST_WIDTH && !next_is_space {
                    self.write_indent();
                } else {
                    self.put(c);
                }
                spaces = true;
            } else if is_break(c) {
                if !breaks && c == '\n' {
                    self.put_break();
                }
                self.write_break(c);
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                self.put(c);
                self.indention = false;
                spaces = false;
                breaks = false;
            }
        }
        self.whitespace = false;
        self.indention = false;
    }

    fn write_single_quoted(&mut self, s: &str, allow_breaks: bool) {
        self.write_indicator("'", true, false, false);
        let mut spaces = false;
        let mut breaks = false;
        let mut chars = s.chars().enumerate().peekable();
        let last = s.chars().count().saturating_sub(1);
        while let Some((i, c)) = chars.next() {
            if c == ' ' {
                let next_is_space = chars.peek().map(|&(_, n)| n) == Some(' ');
                if allow_breaks
                    && !spaces
                    && self.column > BEST_WIDTH
                    && i > 0
                    && i < last
                    && !next_is_space
                {
                    self.write_indent();
                } else {
                    self.put(c);
                }
                spaces = true;
            } else if is_break(c) {
                if !breaks && c == '\n' {
                    self.put_break();
                }
                self.write_break(c);
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                if c == '\'' {
                    self.put('\'');
                }
                self.put(c);
                self.indention = false;
                spaces = false;
                breaks = false;
            }
        }
        self.write_indicator("'", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    fn write_double_quoted(&mut self, s: &str, allow_breaks: bool) {
        self.write_indicator("\"", true, false, false);
        // libyaml's `is_bom(value, i)` looks at the start of the value, not
        // at `i`: a value that starts with a BOM gets every character escaped.
        let starts_with_bom = s.starts_with('\u{feff}');
        let mut spaces = false;
        let mut chars = s.chars().enumerate().peekable();
        let last = s.chars().count().saturating_sub(1);
        while let Some((i, c)) = chars.next() {
            if !is_printable(c) || starts_with_bom || is_break(c) || c == '"' || c == '\\' {
                self.put('\\');
                match c {
                    '\0' => self.put('0'),
                    '\u{7}' => self.put('a'),
                    '\u{8}' => self.put('b'),
                    '\t' => self.put('t'),
                    '\n' => self.put('n'),
                    '\u{b}' => self.put('v'),
                    '\u{c}' => self.put('f'),
                    '\r' => self.put('r'),
                    '\u{1b}' => self.put('e'),
                    '"' => self.put('"'),
                    '\\' => self.put('\\'),
                    '\u{85}' => self.put('N'),
                    '\u{a0}' => self.put('_'),
                    '\u{2028}' => self.put('L'),
                    '\u{2029}' => self.put('P'),
                    other => {
                        let code = other as u32;
                        let (prefix, digits) = if code <= 0xFF {
                            ('x', 2)
                        } else if code <= 0xFFFF {
                            ('u', 4)
                        } else {
                            ('U', 8)
                        };
                        self.put(prefix);
                        let hex = format!("{code:0digits$X}");
                        self.out.push_str(&hex);
                        self.column += hex.len();
                    }
                }
                spaces = false;
            } else if c == ' ' {
                if allow_breaks && !spaces && self.column > BEST_WIDTH && i > 0 && i < last {
                    self.write_indent();
                    if chars.peek().map(|&(_, n)| n) == Some(' ') {
                        self.put('\\');
                    }
                } else {
                    self.put(c);
                }
                spaces = true;
            } else {
                self.put(c);
                spaces = false;
            }
        }
        self.write_indicator("\"", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    fn write_literal(&mut self, s: &str) {
        self.write_indicator("|", true, false, false);
        // Block scalar hints: an explicit indentation indicator when the
        // content starts with a space or a break, a chomping indicator from
        // how the value ends.
        if s.starts_with(|c: char| c == ' ' || is_break(c)) {
            let hint = char::from(b'0' + BEST_INDENT as u8);
            self.write_indicator(hint.encode_utf8(&mut [0; 4]), false, false, false);
        }
        let mut tail = s.chars().rev();
        let chomp = match (tail.next(), tail.next()) {
            (None, _) => Some("-"),
            (Some(last), _) if !is_break(last) => Some("-"),
            (Some(_), None) => Some("+"),
            (Some(_), Some(before)) if is_break(before) => Some("+"),
            _ => None,
        };
        if let Some(chomp) = chomp {
            self.write_indicator(chomp, false, false, false);
        }
        self.put_break();
        self.indention = true;
        self.whitespace = true;
        let mut breaks = true;
        for c in s.chars() {
            if is_break(c) {
                self.write_break(c);
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                self.put(c);
                self.indention = false;
                breaks = false;
            }
        }
    }
}

/// What libyaml's `yaml_emitter_analyze_scalar` learns about a string.
#[derive(Debug)]
struct Analysis {
    multiline: bool,
    block_plain_allowed: bool,
    single_quoted_allowed: bool,
    block_allowed: bool,
}

fn analyze(s: &str) -> Analysis {
    if s.is_empty() {
        return Analysis {
            multiline: false,
            block_plain_allowed: true,
            single_quoted_allowed: true,
            block_allowed: false,
        };
    }
    let mut block_indicators = s.starts_with("---") || s.starts_with("...");
    let mut line_breaks = false;
    let mut special_characters = false;
    let mut leading_space = false;
    let mut leading_break = false;
    let mut trailing_space = false;
    let mut trailing_break = false;
    let mut break_space = false;
    let mut space_break = false;
    let mut preceded_by_whitespace = true;
    let mut previous_space = false;
    let mut previous_break = false;

    let mut chars = s.chars().peekable();
    let mut first = true;
    while let Some(c) = chars.next() {
        let next = chars.peek().copied();
        let followed_by_whitespace = matches!(next, None | Some(' ') | Some('\t'));
        let is_last = next.is_none();
        if first {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"'
                | '%' | '@' | '`' => {
                    block_indicators = true;
                }
                '?' | ':' | '-' if followed_by_whitespace => block_indicators = true,
                _ => {}
            }
        } else {
            match c {
                ':' if followed_by_whitespace => block_indicators = true,
                '#' if preceded_by_whitespace => block_indicators = true,
                _ => {}
            }
        }
        if !is_printable(c) {
            special_characters = true;
        }
        if c == ' ' {
            if first {
                leading_space = true;
            }
            if is_last {
                trailing_space = true;
            }
            if previous_break {
                break_space = true;
            }
            previous_space = true;
            previous_break = false;
        } else if is_break(c) {
            line_breaks = true;
            if first {
                leading_break = true;
            }
            if is_last {
                trailing_break = true;
            }
            if previous_space {
                space_break = true;
            }
            previous_space = false;
            previous_break = true;
        } else {
            previous_space = false;
            previous_break = false;
        }
        preceded_by_whitespace = c == ' ' || c == '\t' || c == '\0' || is_break(c);
        first = false;
    }

    let mut block_plain_allowed = true;
    let mut single_quoted_allowed = true;
    let mut block_allowed = true;
    if leading_space || leading_break || trailing_space || trailing_break {
        block_plain_allowed = false;
    }
    if trailing_space {
        block_allowed = false;
    }
    if break_space {
        block_plain_allowed = false;
        single_quoted_allowed = false;
    }
    if space_break || special_characters {
        block_plain_allowed = false;
        single_quoted_allowed = false;
        block_allowed = false;
    }
    if line_breaks || block_indicators {
        block_plain_allowed = false;
    }
    Analysis {
        multiline: line_breaks,
        block_plain_allowed,
        single_quoted_allowed,
        block_allowed,
    }
}

/// go-yaml v2's `stringv` choice followed by libyaml's
/// `yaml_emitter_select_scalar_style` (block context only: we never write a
/// string inside a flow collection).
fn select_style(s: &str, analysis: &Analysis, ctx: Context) -> Style {
    let mut style = if s.contains('\n') {
        Style::Literal
    } else if resolve::resolves_to_string(s) && !resolve::is_base60_float(s) {
        Style::Plain
    } else {
        Style::DoubleQuoted
    };
    if ctx.simple_key && analysis.multiline {
        style = Style::DoubleQuoted;
    }
    if style == Style::Plain && (!analysis.block_plain_allowed || (s.is_empty() && ctx.simple_key))
    {
        style = Style::SingleQuoted;
    }
    if style == Style::SingleQuoted && !analysis.single_quoted_allowed {
        style = Style::DoubleQuoted;
    }
    if style == Style::Literal && (!analysis.block_allowed || ctx.simple_key) {
        style = Style::DoubleQuoted;
    }
    style
}

/// A non-empty ASCII word of letters, digits and `_ . / -` that does not
/// start with `-` or `.` (which could make a block indicator or `---` /
/// `...`): libyaml's analysis finds nothing in it that forbids plain style
/// (no indicators, spaces, breaks or special characters), so only the
/// resolver decides between plain and double quotes.
fn is_simple_word(s: &str) -> bool {
    let bytes = s.as_bytes();
    match bytes.first() {
        None | Some(b'-' | b'.') => false,
        Some(_) => bytes
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/')),
    }
}

fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// libyaml's `is_printable`, over characters: astral-plane characters
/// (emoji) are *not* printable there and end up `\U` escaped.
fn is_printable(c: char) -> bool {
    matches!(c as u32, 0x0A | 0x20..=0x7E | 0xA0..=0xD7FF | 0xE000..=0xFFFD) && c != '\u{feff}'
}

// ---------------------------------------------------------------------------
// Numbers, as they come out of kustomize's JSON round trip.

/// Formats a number the way it reaches the text in kustomize: Go's
/// `encoding/json` writes an integral float below 1e21 as plain digits,
/// go-yaml reads that back as an integer when it fits 64 bits, and writes any
/// other float with `strconv.FormatFloat(f, 'g', -1, 64)`.
fn format_number(n: &Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    if let Some(u) = n.as_u64() {
        return u.to_string();
    }
    let f = n.as_f64().unwrap_or(0.0);
    if f.fract() == 0.0 && f.abs() < 1e21 {
        // `as` saturates, so the range checks come first.
        if (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&f) {
            return (f as i64).to_string();
        }
        if (0.0..18_446_744_073_709_551_616.0).contains(&f) {
            return (f as u64).to_string();
        }
    }
    go_format_float_g(f)
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)` for finite values: shortest
/// round-trip digits, `%e` form when the exponent is below -4 or at least 6
/// (Go forces precision 6 for that decision in shortest mode).
fn go_format_float_g(f: f64) -> String {
    if !f.is_finite() {
        return if f.is_nan() {
            ".nan".to_owned()
        } else if f > 0.0 {
            ".inf".to_owned()
        } else {
            "-.inf".to_owned()
        };
    }
    // Rust's `{:e}` prints the same shortest round-trip digits as Go.
    let sci = format!("{:e}", f.abs());
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let mut out = String::with_capacity(digits.len() + 8);
    if f.is_sign_negative() {
        out.push('-');
    }
    if !(-4..6).contains(&exponent) {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let sign = if exponent < 0 { '-' } else { '+' };
        let _ = write!(out, "e{sign}{:02}", exponent.unsigned_abs());
    } else {
        let point = exponent + 1; // digits before the decimal point
        if point <= 0 {
            out.push_str("0.");
            for _ in 0..-point {
                out.push('0');
            }
            out.push_str(&digits);
        } else {
            let point = point as usize;
            if point >= digits.len() {
                out.push_str(&digits);
                for _ in digits.len()..point {
                    out.push('0');
                }
            } else {
                out.push_str(&digits[..point]);
                out.push('.');
                out.push_str(&digits[point..]);
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Key order.

/// A map's entries in go-yaml's key order.
///
/// The natural comparison is not transitive on some keys (`1a` < `2b` <
/// `10` < `1a`), so the result then depends on the algorithm: Go's
/// `sort.Sort` uses insertion sort up to 12 elements, which we copy
/// exactly; longer maps use a stable merge sort, which agrees with Go
/// whenever the keys are consistently ordered. Both are hand-written since
/// `slice::sort_by` may panic on a non-total order.
fn sorted_entries(map: &Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    if entries.len() <= 12 {
        for i in 1..entries.len() {
            let mut j = i;
            while j > 0 && go_key_less(entries[j].0, entries[j - 1].0) {
                entries.swap(j, j - 1);
                j -= 1;
            }
        }
        return entries;
    }
    if entries.windows(2).all(|w| !go_key_less(w[1].0, w[0].0)) {
        return entries;
    }
    let mut scratch = entries.clone();
    merge_sort(&mut entries, &mut scratch);
    entries
}

fn merge_sort<'a>(items: &mut [(&'a String, &'a Value)], scratch: &mut [(&'a String, &'a Value)]) {
    let len = items.len();
    if len <= 1 {
        return;
    }
    let mid = len / 2;
    {
        let (left, right) = items.split_at_mut(mid);
        let (sl, sr) = scratch.split_at_mut(mid);
        merge_sort(left, sl);
        merge_sort(right, sr);
    }
    let (mut i, mut j, mut k) = (0, mid, 0);
    while i < mid && j < len {
        // Take from the right only when strictly less: keeps the sort stable.
        if go_key_less(items[j].0, items[i].0) {
            scratch[k] = items[j];
            j += 1;
        } else {
            scratch[k] = items[i];
            i += 1;
        }
        k += 1;
    }
    while i < mid {
        scratch[k] = items[i];
        i += 1;
        k += 1;
    }
    while j < len {
        scratch[k] = items[j];
        j += 1;
        k += 1;
    }
    items.copy_from_slice(&scratch[..len]);
}

/// go-yaml v2's `keyList.Less` for two string keys: letters compare by code
/// point, a letter sorts after any non-letter, and runs of digits compare by
/// numeric value (so `a9` < `a10`). v3 changed the letter rule; kustomize's
/// output goes through v2.
fn go_key_less(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        natural_less(a.as_bytes(), b.as_bytes(), |&c| char::from(c))
    } else {
        let ar: Vec<char> = a.chars().collect();
        let br: Vec<char> = b.chars().collect();
        natural_less(&ar, &br, |&c| c)
    }
}

fn natural_less<T>(ar: &[T], br: &[T], ch: impl Fn(&T) -> char) -> bool {
    let digit = |c: char| c.is_ascii_digit();
    let value = |c: char| i64::from(c as u32) - i64::from(b'0');
    for i in 0..ar.len().min(br.len()) {
        let (a, b) = (ch(&ar[i]), ch(&br[i]));
        if a == b {
            continue;
        }
        let al = a.is_alphabetic();
        let bl = b.is_alphabetic();
        if al && bl {
            return a < b;
        }
        if al || bl {
            return bl;
        }
        let (mut an, mut bn): (i64, i64) = (0, 0);
        if a == '0' || b == '0' {
            let mut j = i;
            while j > 0 && digit(ch(&ar[j - 1])) {
                j -= 1;
                if ch(&ar[j]) != '0' {
                    an = 1;
                    bn = 1;
                    break;
                }
            }
        }
        let mut ai = i;
        while ai < ar.len() && digit(ch(&ar[ai])) {
            an = an.wrapping_mul(10).wrapping_add(value(ch(&ar[ai])));
            ai += 1;
        }
        let mut bi = i;
        while bi < br.len() && digit(ch(&br[bi])) {
            bn = bn.wrapping_mul(10).wrapping_add(value(ch(&br[bi])));
            bi += 1;
        }
        if an != bn {
            return an < bn;
        }
        if ai != bi {
            return ai < bi;
        }
        return a < b;
    }
    ar.len() < br.len()
}

#[cfg(test)]
mod tests {
    //! Every expected text below was copied from `kubectl kustomize DIR`
    //! (kubectl v1.32.4, kustomize v5.5.0) where DIR holds
    //! `kustomization.yaml` = `resources: [cm.yaml]` and `cm.yaml` is a
    //! ConfigMap named `x` whose `data` holds the values under test.

    use super::*;
    use serde_json::json;

    /// Writes `s` as a key and as a value, through the fast path for plain
    /// words or (`full`) through libyaml's analysis alone.
    fn key_and_value(s: &str, full: bool) -> String {
        let mut out = String::new();
        let mut e = Emitter {
            out: &mut out,
            column: 0,
            indent: 0,
            whitespace: true,
            indention: true,
        };
        for ctx in [Context::SIMPLE_KEY, Context::MAPPING_VALUE] {
            if full || !e.plain_word(s) {
                e.string_scalar_analyzed(s, &analyze(s), ctx);
            }
            e.write_indicator(":", false, false, false);
        }
        out
    }

    #[test]
    fn plain_word_fast_path_writes_what_the_analysis_writes() {
        let words = [
            "web",
            "app-0001",
            "a_b/c.d",
            "Deployment",
            "v1",
            "1.0",
            "012",
            "0x1F",
            "123",
            "1e3",
            "true",
            "True",
            "yes",
            "Y",
            "n",
            "on",
            "off",
            "null",
            "Null",
            "NaN",
            "inf",
            "2024-01-01",
            "-x",
            ".x",
            "---",
            "x-",
            "x.",
            "a.b.c",
        ];
        for w in words {
            assert_eq!(key_and_value(w, false), key_and_value(w, true), "{w}");
        }
        assert!(!is_simple_word("-") && !is_simple_word("") && !is_simple_word("a b"));
    }

    /// Wraps `data` the way the oracle's ConfigMap does and returns the text
    /// under `data:` (the lines between `data:` and `kind:`).
    fn data_block(data: Value) -> String {
        let doc = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": data});
        let text = to_yaml(&doc).unwrap();
        let start = text.find("data:").unwrap();
        let end = text.find("\nkind: ConfigMap\n").unwrap();
        text[start..=end].to_owned()
    }

    #[test]
    fn whole_configmap_matches_oracle_byte_for_byte() {
        let doc = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "x", "annotations": {"z": "1", "sq": "single"}},
            "data": {"a": "Y"}});
        assert_eq!(
            to_yaml(&doc).unwrap(),
            "apiVersion: v1\ndata:\n  a: \"Y\"\nkind: ConfigMap\nmetadata:\n  annotations:\n    sq: single\n    z: \"1\"\n  name: x\n"
        );
    }

    #[test]
    fn stream_separates_documents_with_dashes() {
        let docs = [json!({"a": 1}), json!({"b": 2}), json!({})];
        assert_eq!(to_yaml_stream(&docs).unwrap(), "a: 1\n---\nb: 2\n---\n{}\n");
        assert_eq!(to_yaml_stream(&[]).unwrap(), "");
    }

    #[test]
    fn strings_that_would_change_type_are_double_quoted() {
        // oracle: data a..n of t1 (see module comment)
        let got = data_block(json!({
            "a": "Y", "b": "yes", "c": "on", "d": "off", "e": "true", "f": "null", "g": "~",
            "h": "", "i": "1.0", "j": "012", "k": "0o17", "l": "0x1F", "m": ".inf",
            "n": "2024-01-01", "num": "123", "neg": "-1", "fl": "1e3",
        }));
        assert_eq!(
            got,
            "data:\n  a: \"Y\"\n  b: \"yes\"\n  c: \"on\"\n  d: \"off\"\n  e: \"true\"\n  f: \"null\"\n  fl: \"1e3\"\n  g: \"~\"\n  h: \"\"\n  i: \"1.0\"\n  j: \"012\"\n  k: \"0o17\"\n  l: \"0x1F\"\n  m: \".inf\"\n  \"n\": \"2024-01-01\"\n  neg: \"-1\"\n  num: \"123\"\n"
        );
    }

    #[test]
    fn resolver_edge_cases_match_go_yaml_v2() {
        let got = data_block(json!({
            "True": "True", "NO": "NO", "Off": "Off", "nan": ".NaN", "ninf": "-.inf", "inf2": "+.inf",
            "merge": "<<", "tilde_x": "~x", "yesno": "yes no", "e": "e",
            "base60": "1:20", "base60b": "190:20:30.15", "time2": "12:30:45", "neg60": "-1:30", "port": "8080:80",
            "ts": "2001-12-14t21:59:43.10-05:00", "ts2": "2001-12-14 21:59:43.10", "notts": "2001-12-14x",
            "float_us": "1_000", "bin": "0b101", "negbin": "-0b101", "plus": "+1", "dotnum": ".5",
            "dot": ".", "dotdot": "..", "hexlike": "0x1G", "octlike": "0o8", "exp": "1e", "exp2": "1E5",
            "ver": "1.2.3", "ip": "10.0.0.1",
        }));
        assert_eq!(
            got,
            "data:\n  \"NO\": \"NO\"\n  \"Off\": \"Off\"\n  \"True\": \"True\"\n  base60: \"1:20\"\n  base60b: \"190:20:30.15\"\n  bin: \"0b101\"\n  dot: .\n  dotdot: ..\n  dotnum: \".5\"\n  e: e\n  exp: 1e\n  exp2: \"1E5\"\n  float_us: \"1_000\"\n  hexlike: 0x1G\n  inf2: \"+.inf\"\n  ip: 10.0.0.1\n  merge: <<\n  nan: \".NaN\"\n  neg60: \"-1:30\"\n  negbin: \"-0b101\"\n  ninf: \"-.inf\"\n  notts: 2001-12-14x\n  octlike: 0o8\n  plus: \"+1\"\n  port: 8080:80\n  tilde_x: ~x\n  time2: \"12:30:45\"\n  ts: \"2001-12-14t21:59:43.10-05:00\"\n  ts2: \"2001-12-14 21:59:43.10\"\n  ver: 1.2.3\n  yesno: yes no\n"
        );
    }

    #[test]
    fn indicators_force_single_quotes() {
        let got = data_block(json!({
            "o": "a: b", "p": "a #b", "q": " lead", "r": "[a]", "s": "*x", "trail": "trail ",
            "quote": "it's", "dq": "say \"hi\"", "dash3": "---x", "dashsp": "- x", "dash": "-", "dashx": "-x",
            "qm": "? x", "qx": "?x", "colsp": ": x", "colx": ":x", "endcol": "x:", "acolb": "a:b",
            "hash": "#x", "ahashb": "a#b", "pct": "%x", "at": "@x", "bt": "`x", "amp": "&x", "bang": "!x",
            "pipe": "|x", "gt": ">x", "comma": "a,b", "brace": "a{b}", "dots3": "...x",
        }));
        assert_eq!(
            got,
            "data:\n  acolb: a:b\n  ahashb: a#b\n  amp: '&x'\n  at: '@x'\n  bang: '!x'\n  brace: a{b}\n  bt: '`x'\n  colsp: ': x'\n  colx: :x\n  comma: a,b\n  dash: '-'\n  dash3: '---x'\n  dashsp: '- x'\n  dashx: -x\n  dots3: '...x'\n  dq: say \"hi\"\n  endcol: 'x:'\n  gt: '>x'\n  hash: '#x'\n  o: 'a: b'\n  p: 'a #b'\n  pct: '%x'\n  pipe: '|x'\n  q: ' lead'\n  qm: '? x'\n  quote: it's\n  qx: ?x\n  r: '[a]'\n  s: '*x'\n  trail: 'trail '\n"
        );
    }

    #[test]
    fn keys_are_quoted_like_values() {
        let got = data_block(
            json!({"y": "n", "off": "x", "a: b": "colonkey", "": "emptykey", "tab\tkey": "tk"}),
        );
        assert_eq!(
            got,
            "data:\n  \"\": emptykey\n  'a: b': colonkey\n  \"off\": x\n  \"tab\\tkey\": tk\n  \"y\": \"n\"\n"
        );
    }

    #[test]
    fn multi_line_strings_become_literal_blocks() {
        let got = data_block(json!({
            "t": "line1\nline2\n", "u": "line1\nline2", "v": "line1 \nline2",
            "lit_lead_space": " a\nb\n", "lit_trailing_blank": "a\n\n", "lit_lead_nl": "\na\n",
            "lit_only_nl": "\n", "lit_tab": "a\tb\nc\n", "lit_trailing_spaces_end": "a\nb ", "sp_end_lit": "a \n",
        }));
        assert_eq!(
            got,
            "data:\n  lit_lead_nl: |2\n\n    a\n  lit_lead_space: |2\n     a\n    b\n  lit_only_nl: |2+\n\n  lit_tab: \"a\\tb\\nc\\n\"\n  lit_trailing_blank: |+\n    a\n\n  lit_trailing_spaces_end: \"a\\nb \"\n  sp_end_lit: \"a \\n\"\n  t: |\n    line1\n    line2\n  u: |-\n    line1\n    line2\n  v: \"line1 \\nline2\"\n"
        );
    }

    #[test]
    fn special_characters_are_escaped_in_double_quotes() {
        let got = data_block(json!({
            "emoji": "smile \u{1F600}", "bom": "\u{feff}bom", "cr": "a\rb", "crlf": "a\r\nb",
            "ls": "a\u{2028}b", "nbsp": "a\u{a0}b", "tab": "a\tb", "x": "ünïcödé ✓ 日本",
        }));
        assert_eq!(
            got,
            "data:\n  bom: \"\\uFEFF\\x62\\x6F\\x6D\"\n  cr: \"a\\rb\"\n  crlf: \"a\\r\\nb\"\n  emoji: \"smile \\U0001F600\"\n  ls: 'a\u{2028}    b'\n  nbsp: a\u{a0}b\n  tab: \"a\\tb\"\n  x: ünïcödé ✓ 日本\n"
        );
    }

    #[test]
    fn long_strings_fold_past_column_eighty() {
        let words = "word ".repeat(30);
        let got = data_block(json!({
            "w": "this is a very long string that goes on and on and on past eighty columns for sure yes indeed it does",
            "longsq": format!("a: {words}"),
            "longdq": format!("\t{words}"),
            "longdq2": format!("x{}", "  word".repeat(20)),
            "nospace": "x".repeat(120),
            "nested": {"deeper": {"deepest": words}},
        }));
        let expected = [
            "data:",
            "  longdq: \"\\tword word word word word word word word word word word word word word",
            "    word word word word word word word word word word word word word word word word \"",
            "  longdq2: x  word  word  word  word  word  word  word  word  word  word  word  word  word  word  word  word  word  word  word  word",
            "  longsq: 'a: word word word word word word word word word word word word word word",
            "    word word word word word word word word word word word word word word word word '",
            "  nested:",
            "    deeper:",
            "      deepest: 'word word word word word word word word word word word word word word",
            "        word word word word word word word word word word word word word word word",
            "        word '",
            "  nospace: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
            "  w: this is a very long string that goes on and on and on past eighty columns for",
            "    sure yes indeed it does",
            "",
        ];
        assert_eq!(got, expected.join("\n"));
    }

    #[test]
    fn sequences_sit_at_their_keys_column() {
        let words = "word ".repeat(30);
        let got = data_block(json!({
            "inlist": [words, "a\nb", " lead", "Y", ""],
            "seqseq": [[words, ["x"]], {"a": [1, {"b": "c"}]}],
            "lit_in_list": ["a\nb\n", {"k": "a\nb"}],
            "list": ["a", 1, 1.5, true, null, {}, [], [1, 2], {"k": "v"}, ["nested", "list"], {"b": "c", "a": "d"}],
        }));
        let expected = [
            "data:",
            "  inlist:",
            "  - 'word word word word word word word word word word word word word word word word",
            "    word word word word word word word word word word word word word word '",
            "  - |-",
            "    a",
            "    b",
            "  - ' lead'",
            "  - \"Y\"",
            "  - \"\"",
            "  list:",
            "  - a",
            "  - 1",
            "  - 1.5",
            "  - true",
            "  - null",
            "  - {}",
            "  - []",
            "  - - 1",
            "    - 2",
            "  - k: v",
            "  - - nested",
            "    - list",
            "  - a: d",
            "    b: c",
            "  lit_in_list:",
            "  - |",
            "    a",
            "    b",
            "  - k: |-",
            "      a",
            "      b",
            "  seqseq:",
            "  - - 'word word word word word word word word word word word word word word word",
            "      word word word word word word word word word word word word word word word '",
            "    - - x",
            "  - a:",
            "    - 1",
            "    - b: c",
            "",
        ];
        assert_eq!(got, expected.join("\n"));
    }

    #[test]
    fn long_and_multi_line_keys_become_complex_keys() {
        let long_x = "x".repeat(130);
        let long_y = "y".repeat(130);
        let long_z = "z".repeat(130);
        let got = data_block(json!({
            long_x.clone(): "longkey", "multi\nline": "mlkey",
            "longkey_map": {long_y.clone(): {"a": 1}}, "longkey_list": {long_z.clone(): [1, 2]},
        }));
        let expected = format!(
            "data:\n  longkey_list:\n    ? {long_z}\n    : - 1\n      - 2\n  longkey_map:\n    ? {long_y}\n    : a: 1\n  ? |-\n    multi\n    line\n  : mlkey\n  ? {long_x}\n  : longkey\n"
        );
        assert_eq!(got, expected);
    }

    #[test]
    fn numbers_print_as_after_kustomizes_json_round_trip() {
        // oracle input (YAML): [0.1, 1.5e-7, 1e21, 1e20, 12345678901234567890,
        // 9223372036854775807, 9223372036854775808, -0.0, .5, 1234567.5,
        // 123456.5, 1.7976931348623157e308, 3.0e-5, 0.0001, 0.00001, -12,
        // 100000, 1000000, 10000000.0, 2.5e6, 1e-6, 1e-7, 1.0, 1e3]
        let nums = json!([
            0.1,
            1.5e-7,
            1e21,
            1e20,
            12345678901234567890u64,
            9223372036854775807i64,
            9223372036854775808u64,
            -0.0,
            0.5,
            1234567.5,
            123456.5,
            1.7976931348623157e308,
            3.0e-5,
            0.0001,
            0.00001,
            -12,
            100000,
            1000000,
            10000000.0,
            2.5e6,
            1e-6,
            1e-7,
            1.0,
            1e3,
            -9223372036854775807i64
        ]);
        let got = data_block(json!({ "nums": nums }));
        let expected = [
            "data:",
            "  nums:",
            "  - 0.1",
            "  - 1.5e-07",
            "  - 1e+21",
            "  - 1e+20",
            "  - 12345678901234567890",
            "  - 9223372036854775807",
            "  - 9223372036854775808",
            "  - 0",
            "  - 0.5",
            "  - 1.2345675e+06",
            "  - 123456.5",
            "  - 1.7976931348623157e+308",
            "  - 3e-05",
            "  - 0.0001",
            "  - 1e-05",
            "  - -12",
            "  - 100000",
            "  - 1000000",
            "  - 10000000",
            "  - 2500000",
            "  - 1e-06",
            "  - 1e-07",
            "  - 1",
            "  - 1000",
            "  - -9223372036854775807",
            "",
        ];
        assert_eq!(got, expected.join("\n"));
    }

    #[test]
    fn keys_sort_in_go_yaml_natural_order() {
        // Twelve keys or fewer: Go sorts them by insertion sort, which we copy.
        let got = data_block(json!({
            "a10": 1, "a9": 1, "B": 1, "a": 1, "_x": 1, "10": 1, "9": 1, "a-b": 1, "a.b": 1, "aB": 1, "é": 1, "x01y": 1,
        }));
        assert_eq!(
            got,
            "data:\n  _x: 1\n  \"9\": 1\n  \"10\": 1\n  B: 1\n  a: 1\n  a-b: 1\n  a.b: 1\n  a9: 1\n  a10: 1\n  aB: 1\n  x01y: 1\n  é: 1\n"
        );
        // More keys, consistently ordered: from the oracle's 42-key run.
        let got = data_block(json!({
            "A": 1, "Ab": 1, "B": 1, "Z": 1, "a": 1, "a0": 1, "a00": 1, "a1": 1, "a01": 1, "b2c": 1, "b01c": 1,
            "b10c": 1, "x1": 1, "x1y": 1, "x01y": 1, "x001": 1, "é": 1,
        }));
        assert_eq!(
            got,
            "data:\n  A: 1\n  Ab: 1\n  B: 1\n  Z: 1\n  a: 1\n  a0: 1\n  a00: 1\n  a1: 1\n  a01: 1\n  b01c: 1\n  b2c: 1\n  b10c: 1\n  x1: 1\n  x1y: 1\n  x01y: 1\n  x001: 1\n  é: 1\n"
        );
    }

    #[test]
    fn root_scalars_and_empty_collections() {
        // kustomize only prints maps; the rest is libyaml's behaviour.
        assert_eq!(to_yaml(&json!({})).unwrap(), "{}\n");
        assert_eq!(to_yaml(&json!([])).unwrap(), "[]\n");
        assert_eq!(to_yaml(&json!(null)).unwrap(), "null\n");
        assert_eq!(
            to_yaml(&json!({"a": {}, "b": []})).unwrap(),
            "a: {}\nb: []\n"
        );
    }

    #[test]
    fn deep_values_are_refused_not_overflowed() {
        let mut deep = json!("leaf");
        for _ in 0..(MAX_DEPTH + 10) {
            deep = json!([deep]);
        }
        assert_eq!(
            to_yaml_stream(&[json!({}), deep]),
            Err(EmitError::TooDeep { document: 1 })
        );
        // Drop iteratively-built deep values without recursing too far.
        let mut shallow = json!("leaf");
        for _ in 0..MAX_DEPTH - 1 {
            shallow = json!([shallow]);
        }
        assert!(to_yaml(&shallow).is_ok());
    }

    #[test]
    fn go_float_formatting_switches_to_exponent_outside_minus4_to_6() {
        assert_eq!(go_format_float_g(123456.5), "123456.5");
        assert_eq!(go_format_float_g(1234567.5), "1.2345675e+06");
        assert_eq!(go_format_float_g(0.0001), "0.0001");
        assert_eq!(go_format_float_g(0.00001), "1e-05");
        assert_eq!(go_format_float_g(-2.5), "-2.5");
        assert_eq!(go_format_float_g(1e300), "1e+300");
    }

    #[test]
    fn emits_three_thousand_objects_quickly() {
        let docs: Vec<Value> = (0..3000)
            .map(|i| {
                json!({"apiVersion": "apps/v1", "kind": "Deployment",
                    "metadata": {"name": format!("app-{i}"), "namespace": "prod", "labels": {"app": format!("app-{i}"), "tier": "web"}},
                    "spec": {"replicas": 3, "selector": {"matchLabels": {"app": format!("app-{i}")}},
                        "template": {"metadata": {"labels": {"app": format!("app-{i}")}},
                            "spec": {"containers": [{"name": "main", "image": "registry.example/app:1.2.3",
                                "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                                "env": [{"name": "MODE", "value": "on"}, {"name": "LONG", "value": "word ".repeat(25)}],
                                "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}}}]}}}})
            })
            .collect();
        let start = std::time::Instant::now();
        let text = to_yaml_stream(&docs).unwrap();
        let elapsed = start.elapsed();
        assert!(text.len() > 1_000_000, "{}", text.len());
        // Generous bound so a loaded debug build still passes; release is
        // a few milliseconds.
        assert!(elapsed.as_millis() < 2_000, "{elapsed:?}");
    }
}
