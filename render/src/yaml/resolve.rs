//! go-yaml's scalar resolution, shared by reading and writing: what a
//! plain scalar means (null, boolean, Go integer in any base, float,
//! timestamp or string). The parser uses it to type what it reads the way
//! kustomize's Go libraries do; the emitter uses it to decide which strings
//! need quotes so they read back as strings.

/// Port of go-yaml v2 `resolve("", s)` answering only "is it `!!str`?":
/// whether the emitter may write `s` plain.
pub(crate) fn resolves_to_string(s: &str) -> bool {
    matches!(resolve_plain(s, Words::Yaml11), Plain::Str)
}

/// What a plain scalar reads as.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Plain {
    Null,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    Timestamp(Timestamp),
    Str,
}

/// Which words are booleans: go-yaml v2 reads YAML 1.1's `yes`/`on`/`y`...
/// (and so quotes them on the way out); v3, which kyaml reads resources
/// with, only `true` and `false`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Words {
    Yaml11,
    Yaml12,
}

/// go-yaml's `resolve("", s)` for a plain scalar: null, booleans, special
/// floats, then (for text starting with a digit or sign) timestamps, Go
/// integers in any base after dropping `_` (a leading `0` is octal), and
/// floats.
pub(crate) fn resolve_plain(s: &str, words: Words) -> Plain {
    let Some(&first) = s.as_bytes().first() else {
        return Plain::Null;
    };
    let hint = match first {
        b'+' | b'-' => b'S',
        b'0'..=b'9' => b'D',
        b'y' | b'Y' | b'n' | b'N' | b't' | b'T' | b'f' | b'F' | b'o' | b'O' | b'~' => b'M',
        b'.' => b'.',
        _ => return Plain::Str,
    };
    if let Some(p) = reserved_word(s, words) {
        return p;
    }
    match hint {
        b'M' => Plain::Str,
        b'.' => match is_dot_float(s).then(|| s.parse::<f64>()) {
            Some(Ok(f)) => Plain::Float(f),
            _ => Plain::Str,
        },
        _ => {
            if let Some(t) = parse_timestamp(s) {
                return Plain::Timestamp(t);
            }
            let plain: String = s.chars().filter(|&c| c != '_').collect();
            if let Some(i) = go_parse_int(&plain, 0) {
                return Plain::Int(i);
            }
            if let Some(u) = go_parse_uint(&plain, 0) {
                return Plain::Uint(u);
            }
            if is_yaml_style_float(&plain)
                && let Ok(f) = plain.parse::<f64>()
                && f.is_finite()
            {
                return Plain::Float(f);
            }
            if let Some(rest) = plain.strip_prefix("0b") {
                if let Some(i) = go_parse_int(rest, 2) {
                    return Plain::Int(i);
                }
                if let Some(u) = go_parse_uint(rest, 2) {
                    return Plain::Uint(u);
                }
            } else if let Some(rest) = plain.strip_prefix("-0b")
                && let Some(i) = go_parse_int(&format!("-{rest}"), 2)
            {
                return Plain::Int(i);
            }
            Plain::Str
        }
    }
}

/// The words go-yaml resolves to booleans, null or special floats.
fn reserved_word(s: &str, words: Words) -> Option<Plain> {
    Some(match s {
        "true" | "True" | "TRUE" => Plain::Bool(true),
        "false" | "False" | "FALSE" => Plain::Bool(false),
        "~" | "null" | "Null" | "NULL" => Plain::Null,
        ".nan" | ".NaN" | ".NAN" => Plain::Float(f64::NAN),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => Plain::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => Plain::Float(f64::NEG_INFINITY),
        "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" if words == Words::Yaml11 => {
            Plain::Bool(true)
        }
        "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" if words == Words::Yaml11 => {
            Plain::Bool(false)
        }
        _ => return None,
    })
}

/// Go's `strconv.ParseFloat` accepting a string that starts with `.`:
/// `.digits` with an optional exponent, and a finite result.
fn is_dot_float(s: &str) -> bool {
    let Some(rest) = s.strip_prefix('.') else {
        return false;
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return false;
    }
    let exp = &rest[digits..];
    let exp_ok = exp.is_empty() || {
        let e = exp.strip_prefix(['e', 'E']).unwrap_or("");
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit()) && exp.len() > 1
    };
    exp_ok && s.parse::<f64>().is_ok_and(f64::is_finite)
}

/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`
fn is_yaml_style_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            digits(&mut i);
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// Go's `strconv.ParseUint(s, base, 64)` (base 0 detects `0x`, `0o`, `0b`
/// and a leading `0` as octal), without underscore support: the caller has
/// already removed underscores as go-yaml does.
fn go_parse_uint(s: &str, base: u32) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let (base, digits) = if base == 0 {
        let b = s.as_bytes();
        if b[0] == b'0' && b.len() >= 3 && matches!(b[1], b'x' | b'X') {
            (16, &s[2..])
        } else if b[0] == b'0' && b.len() >= 3 && matches!(b[1], b'o' | b'O') {
            (8, &s[2..])
        } else if b[0] == b'0' && b.len() >= 3 && matches!(b[1], b'b' | b'B') {
            (2, &s[2..])
        } else if b[0] == b'0' {
            (8, &s[1..])
        } else {
            (10, s)
        }
    } else {
        (base, s)
    };
    let mut n: u64 = 0;
    for c in digits.chars() {
        let d = c.to_digit(base)?;
        n = n.checked_mul(u64::from(base))?.checked_add(u64::from(d))?;
    }
    Some(n)
}

/// Go's `strconv.ParseInt(s, base, 64)`.
fn go_parse_int(s: &str, base: u32) -> Option<i64> {
    let (negative, rest) = match s.as_bytes().first() {
        Some(b'+') => (false, &s[1..]),
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    let magnitude = go_parse_uint(rest, base)?;
    if negative {
        if magnitude <= 1u64 << 63 {
            Some((magnitude as i64).wrapping_neg())
        } else {
            None
        }
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// go-yaml v2 quotes YAML 1.1 base-60 floats (`12:30`) on the way out.
pub(crate) fn is_base60_float(s: &str) -> bool {
    let b = s.as_bytes();
    let Some(&first) = b.first() else {
        return false;
    };
    if !(first == b'+' || first == b'-' || first.is_ascii_digit()) || !s.contains(':') {
        return false;
    }
    // ^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$
    let mut i = usize::from(first == b'+' || first == b'-');
    if !b.get(i).is_some_and(u8::is_ascii_digit) {
        return false;
    }
    i += 1;
    while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
        i += 1;
    }
    let mut groups = 0;
    while b.get(i) == Some(&b':') {
        i += 1;
        // [0-5]?[0-9]: two digits only when the first is 0-5; regex
        // backtracking would otherwise take a single digit.
        match (b.get(i), b.get(i + 1)) {
            (Some(d1), Some(d2)) if (b'0'..=b'5').contains(d1) && d2.is_ascii_digit() => i += 2,
            (Some(d1), _) if d1.is_ascii_digit() => i += 1,
            _ => return false,
        }
        groups += 1;
    }
    if groups == 0 {
        return false;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
            i += 1;
        }
    }
    // A leftover digit after a two-digit group cannot be rescued by
    // reading the group as one digit: the regex needs `:`, `.` or the end.
    i == b.len()
}

/// A timestamp as go-yaml reads it, kept in the parts Go's
/// `time.Time.MarshalJSON` prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Timestamp {
    year: u32,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    /// Fraction digits, at most nine, trailing zeros dropped.
    fraction: String,
    /// `None` for UTC, else `+hh:mm` / `-hh:mm`.
    offset: Option<String>,
}

impl Timestamp {
    /// RFC 3339 with nanoseconds, as Go's JSON encoding of a `time.Time`:
    /// `2024-05-06` becomes `2024-05-06T00:00:00Z`.
    pub(crate) fn rfc3339(&self) -> String {
        let mut out = format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        );
        if !self.fraction.is_empty() {
            out.push('.');
            out.push_str(&self.fraction);
        }
        out.push_str(self.offset.as_deref().unwrap_or("Z"));
        out
    }
}

/// go-yaml's `parseTimestamp`: `YYYY-` then one of Go's layouts
/// `2006-1-2T15:4:5.999999999Z07:00` (also `t`), `2006-1-2 15:4:5.999999999`
/// or `2006-1-2`.
pub(crate) fn parse_timestamp(s: &str) -> Option<Timestamp> {
    let b = s.as_bytes();
    let year_digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
    if year_digits != 4 || b.get(4) != Some(&b'-') {
        return None;
    }
    let year: u32 = s[..4].parse().ok()?;
    let mut i = 5;
    let month = go_getnum(b, &mut i)?;
    if b.get(i) != Some(&b'-') {
        return None;
    }
    i += 1;
    let day = go_getnum(b, &mut i)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in(month, year) {
        return None;
    }
    let mut t = Timestamp {
        year,
        month,
        day,
        hour: 0,
        minute: 0,
        second: 0,
        fraction: String::new(),
        offset: None,
    };
    if i == b.len() {
        return Some(t);
    }
    let zone = match b[i] {
        b'T' | b't' => true,
        b' ' => false,
        _ => return None,
    };
    i += 1;
    t.hour = go_getnum(b, &mut i)?;
    if b.get(i) != Some(&b':') {
        return None;
    }
    i += 1;
    t.minute = go_getnum(b, &mut i)?;
    if b.get(i) != Some(&b':') {
        return None;
    }
    i += 1;
    t.second = go_getnum(b, &mut i)?;
    if t.hour >= 24 || t.minute >= 60 || t.second >= 60 {
        return None;
    }
    if matches!(b.get(i), Some(b'.' | b',')) && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        let digits = &s[start..i.min(start + 9)];
        t.fraction = digits.trim_end_matches('0').to_string();
    }
    if zone {
        match b.get(i) {
            Some(b'Z') => i += 1,
            Some(b'+' | b'-') => {
                let offset = &b[i..];
                if offset.len() < 6
                    || offset[3] != b':'
                    || !offset[1..3].iter().all(u8::is_ascii_digit)
                    || !offset[4..6].iter().all(u8::is_ascii_digit)
                {
                    return None;
                }
                let text = &s[i..i + 6];
                // Go prints a zero offset as `Z`.
                if &text[1..] != "00:00" {
                    t.offset = Some(text.to_string());
                }
                i += 6;
            }
            _ => return None,
        }
    }
    (i == b.len()).then_some(t)
}

/// Go's `getnum(s, false)`: one or two digits.
fn go_getnum(b: &[u8], i: &mut usize) -> Option<u32> {
    let d1 = *b.get(*i).filter(|c| c.is_ascii_digit())?;
    *i += 1;
    match b.get(*i) {
        Some(d2) if d2.is_ascii_digit() => {
            *i += 1;
            Some(u32::from(d1 - b'0') * 10 + u32::from(d2 - b'0'))
        }
        _ => Some(u32::from(d1 - b'0')),
    }
}

fn days_in(month: u32, year: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_integers_in_every_base_and_legacy_octal() {
        assert_eq!(resolve_plain("010", Words::Yaml12), Plain::Int(8));
        assert_eq!(resolve_plain("0o14", Words::Yaml12), Plain::Int(12));
        assert_eq!(resolve_plain("0x1A", Words::Yaml12), Plain::Int(26));
        assert_eq!(resolve_plain("-0b101", Words::Yaml12), Plain::Int(-5));
        assert_eq!(resolve_plain("1_000", Words::Yaml12), Plain::Int(1000));
        assert_eq!(resolve_plain("08", Words::Yaml12), Plain::Float(8.0));
        assert_eq!(
            resolve_plain("18446744073709551615", Words::Yaml12),
            Plain::Uint(u64::MAX)
        );
        assert_eq!(
            resolve_plain("6.02e23", Words::Yaml12),
            Plain::Float(6.02e23)
        );
        assert_eq!(resolve_plain("1.2.3", Words::Yaml12), Plain::Str);
    }

    #[test]
    fn booleans_depend_on_the_yaml_version() {
        assert_eq!(resolve_plain("yes", Words::Yaml12), Plain::Str);
        assert_eq!(resolve_plain("yes", Words::Yaml11), Plain::Bool(true));
        assert_eq!(resolve_plain("False", Words::Yaml12), Plain::Bool(false));
        assert_eq!(resolve_plain("", Words::Yaml12), Plain::Null);
        assert_eq!(resolve_plain("~", Words::Yaml12), Plain::Null);
    }

    #[test]
    fn timestamps_print_as_go_json_does() {
        let t = |s: &str| parse_timestamp(s).map(|t| t.rfc3339());
        assert_eq!(t("2024-05-06").as_deref(), Some("2024-05-06T00:00:00Z"));
        assert_eq!(t("2024-5-6").as_deref(), Some("2024-05-06T00:00:00Z"));
        assert_eq!(
            t("2001-12-14t21:59:43.10-05:00").as_deref(),
            Some("2001-12-14T21:59:43.1-05:00")
        );
        assert_eq!(
            t("2001-12-14 21:59:43.000").as_deref(),
            Some("2001-12-14T21:59:43Z")
        );
        assert_eq!(
            t("2001-12-14T21:59:43+00:00").as_deref(),
            Some("2001-12-14T21:59:43Z")
        );
        assert_eq!(t("2024-02-30"), None);
        assert_eq!(t("2001-12-14 21:59:43.10 -5"), None);
    }
}
