//! Post-render variable substitution: `${NAME}` and `${NAME:=default}` in
//! every string of every object, from the `--var` values. An undefined
//! variable without a default is an error naming it and the object.
//! `$${NAME}` is left as the literal text `${NAME}`. It runs only when
//! variables are given, and never inside an object annotated
//! `rudder.io/substitute: disabled`.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::error::RenderError;
use crate::resid::ResId;

/// Substitutes variables in one string. `Err(name)` for an undefined one.
///
/// ```
/// use std::collections::BTreeMap;
/// let vars: BTreeMap<String, String> = [("R".to_string(), "eu".to_string())].into();
/// assert_eq!(rudder_render::substitute::expand("x-${R}-${Z:=1}", &vars).unwrap(), "x-eu-1");
/// ```
pub fn expand(s: &str, vars: &BTreeMap<String, String>) -> Result<String, String> {
    if !s.contains("${") {
        return Ok(s.to_string());
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("${") {
        if rest[..i].ends_with('$') {
            out.push_str(&rest[..i - 1]);
            out.push_str("${");
            rest = &rest[i + 2..];
            continue;
        }
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[i..]);
            return Ok(out);
        };
        let inner = &after[..end];
        let (name, default) = match inner.split_once(":=") {
            Some((n, d)) => (n, Some(d)),
            None => (inner, None),
        };
        let valid = !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !name.starts_with(|c: char| c.is_ascii_digit());
        if !valid {
            out.push_str("${");
            rest = after;
            continue;
        }
        match (vars.get(name), default) {
            (Some(v), _) => out.push_str(v),
            (None, Some(d)) => out.push_str(d),
            (None, None) => return Err(name.to_string()),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn walk(v: &mut Value, vars: &BTreeMap<String, String>) -> Result<(), String> {
    match v {
        Value::String(s) if s.contains("${") => *s = expand(s, vars)?,
        Value::Array(items) => items.iter_mut().try_for_each(|i| walk(i, vars))?,
        Value::Object(map) => map.values_mut().try_for_each(|i| walk(i, vars))?,
        _ => {}
    }
    Ok(())
}

/// The annotation that turns substitution off for one object.
pub const DISABLE_ANNOTATION: &str = "rudder.io/substitute";

/// Whether `obj` is annotated `rudder.io/substitute: disabled`.
fn disabled(obj: &Value) -> bool {
    obj.pointer("/metadata/annotations")
        .and_then(|a| a.get(DISABLE_ANNOTATION))
        .and_then(Value::as_str)
        == Some("disabled")
}

/// Substitutes variables in every string value of `objects`, except in
/// objects annotated `rudder.io/substitute: disabled`.
pub fn substitute_all(
    objects: &mut [Value],
    vars: &BTreeMap<String, String>,
) -> Result<(), RenderError> {
    for obj in objects.iter_mut().filter(|o| !disabled(o)) {
        if let Err(name) = walk(obj, vars) {
            return Err(RenderError::UndefinedVariable {
                name,
                object: ResId::of(obj).to_string(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn undefined_variable_is_an_error_naming_it() {
        let mut objs = vec![
            json!({"kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "${REGION}"}}),
        ];
        let err = substitute_all(&mut objs, &BTreeMap::new())
            .unwrap_err()
            .to_string();
        assert!(err.contains("${REGION}"), "{err}");
    }

    #[test]
    fn annotated_object_is_left_alone() {
        let mut objs = vec![json!({"kind": "ConfigMap", "metadata": {"name": "c",
            "annotations": {"rudder.io/substitute": "disabled"}}, "data": {"a": "${REGION}"}})];
        substitute_all(&mut objs, &BTreeMap::new()).unwrap();
        assert_eq!(objs[0]["data"]["a"], "${REGION}");
    }

    #[test]
    fn default_applies_only_when_undefined() {
        let vars: BTreeMap<String, String> = [("A".to_string(), "set".to_string())].into();
        assert_eq!(expand("${A:=d} ${B:=d}", &vars).unwrap(), "set d");
    }

    #[test]
    fn double_dollar_escapes() {
        assert_eq!(expand("$${A}", &BTreeMap::new()).unwrap(), "${A}");
    }
}
