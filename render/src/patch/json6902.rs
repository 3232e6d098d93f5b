//! JSON 6902 patches (RFC 6902) over plain values, as kustomize applies
//! them: operations `add`, `remove`, `replace`, `move`, `copy` and `test`,
//! applied in order to a copy of the target; RFC 6901 pointers with `~1`
//! (`/`) and `~0` (`~`) escapes and `-` for "after the last element". The
//! first failing operation stops the patch with an error naming its index,
//! operation and path.
//!
//! ```
//! use rudder_render::patch::json6902::apply;
//! use serde_json::json;
//! let target = json!({"metadata": {"annotations": {"a/b": "x"}}, "spec": {"args": ["--v"]}});
//! let ops = json!([
//!     {"op": "replace", "path": "/metadata/annotations/a~1b", "value": "y"},
//!     {"op": "add", "path": "/spec/args/-", "value": "--w"},
//! ]);
//! let patched = apply(&target, &ops).unwrap();
//! assert_eq!(patched, json!({"metadata": {"annotations": {"a/b": "y"}}, "spec": {"args": ["--v", "--w"]}}));
//! ```

use serde_json::Value;

use super::PatchError;

/// Applies a list of JSON 6902 operations to a copy of `target`.
///
/// `ops` is the patch as parsed from YAML or JSON text: a list of maps with
/// `op`, `path` and, depending on the operation, `value` or `from`.
pub fn apply(target: &Value, ops: &Value) -> Result<Value, PatchError> {
    let Some(list) = ops.as_array() else {
        return Err(PatchError::MalformedOps {
            reason: "expected a list of operations".to_owned(),
        });
    };
    let mut doc = target.clone();
    for (index, op) in list.iter().enumerate() {
        apply_one(&mut doc, op).map_err(|failure| failure.into_error(index, op))?;
    }
    Ok(doc)
}

/// An operation's failure before its index is known.
struct Failure(String);

impl Failure {
    fn into_error(self, index: usize, op: &Value) -> PatchError {
        let text = |key: &str| {
            op.get(key)
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_owned()
        };
        PatchError::OperationFailed {
            index,
            op: text("op"),
            path: text("path"),
            reason: self.0,
        }
    }
}

fn field<'a>(op: &'a Value, name: &str) -> Result<&'a Value, Failure> {
    op.get(name)
        .ok_or_else(|| Failure(format!("missing \"{name}\"")))
}

fn pointer_field<'a>(op: &'a Value, name: &str) -> Result<&'a str, Failure> {
    field(op, name)?
        .as_str()
        .ok_or_else(|| Failure(format!("\"{name}\" is not a string")))
}

fn apply_one(doc: &mut Value, op: &Value) -> Result<(), Failure> {
    if !op.is_object() {
        return Err(Failure("operation is not a map".to_owned()));
    }
    let name = pointer_field(op, "op")?;
    let path = parse_pointer(pointer_field(op, "path")?)?;
    match name {
        "add" => add(doc, &path, field(op, "value")?.clone()),
        "remove" => remove(doc, &path).map(drop),
        "replace" => {
            let value = field(op, "value")?.clone();
            let slot = get_mut(doc, &path)?;
            *slot = value;
            Ok(())
        }
        "move" => {
            let from = parse_pointer(pointer_field(op, "from")?)?;
            if path.len() > from.len() && path[..from.len()] == from[..] {
                return Err(Failure(
                    "cannot move a value into one of its own children".to_owned(),
                ));
            }
            let value = remove(doc, &from)?;
            add(doc, &path, value)
        }
        "copy" => {
            let from = parse_pointer(pointer_field(op, "from")?)?;
            let value = get(doc, &from)?.clone();
            add(doc, &path, value)
        }
        "test" => {
            let expected = field(op, "value")?;
            let actual = get(doc, &path)?;
            if actual == expected {
                Ok(())
            } else {
                Err(Failure(format!(
                    "test failed: found {actual}, expected {expected}"
                )))
            }
        }
        other => Err(Failure(format!("unknown operation \"{other}\""))),
    }
}

/// Splits an RFC 6901 pointer into unescaped reference tokens.
fn parse_pointer(pointer: &str) -> Result<Vec<String>, Failure> {
    if pointer.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = pointer.strip_prefix('/') else {
        return Err(Failure(format!(
            "pointer \"{pointer}\" does not start with \"/\""
        )));
    };
    rest.split('/')
        .map(|token| {
            let mut out = String::with_capacity(token.len());
            let mut chars = token.chars();
            while let Some(c) = chars.next() {
                if c == '~' {
                    match chars.next() {
                        Some('0') => out.push('~'),
                        Some('1') => out.push('/'),
                        _ => {
                            return Err(Failure(format!(
                                "bad escape in pointer \"{pointer}\" (only ~0 and ~1)"
                            )));
                        }
                    }
                } else {
                    out.push(c);
                }
            }
            Ok(out)
        })
        .collect()
}

fn render_pointer(tokens: &[String]) -> String {
    tokens
        .iter()
        .map(|t| format!("/{}", t.replace('~', "~0").replace('/', "~1")))
        .collect()
}

/// An array index token: digits without leading zeros, in range when
/// `allow_end` is false, or up to the length when inserting.
fn array_index(token: &str, len: usize, allow_end: bool) -> Result<usize, Failure> {
    if token == "-" {
        return if allow_end {
            Ok(len)
        } else {
            Err(Failure("\"-\" names no existing element".to_owned()))
        };
    }
    let valid = !token.is_empty()
        && token.bytes().all(|b| b.is_ascii_digit())
        && (token == "0" || !token.starts_with('0'));
    let index: usize = if valid { token.parse().ok() } else { None }
        .ok_or_else(|| Failure(format!("\"{token}\" is not an array index")))?;
    let limit = if allow_end {
        len
    } else {
        len.saturating_sub(1)
    };
    if index > limit || (!allow_end && len == 0) {
        return Err(Failure(format!(
            "index {index} is out of range for a list of {len}"
        )));
    }
    Ok(index)
}

fn get<'a>(doc: &'a Value, path: &[String]) -> Result<&'a Value, Failure> {
    let mut current = doc;
    for (depth, token) in path.iter().enumerate() {
        current = match current {
            Value::Object(map) => map.get(token),
            Value::Array(items) => items.get(array_index(token, items.len(), false)?),
            _ => None,
        }
        .ok_or_else(|| Failure(format!("no value at {}", render_pointer(&path[..=depth]))))?;
    }
    Ok(current)
}

fn get_mut<'a>(doc: &'a mut Value, path: &[String]) -> Result<&'a mut Value, Failure> {
    let mut current = doc;
    for (depth, token) in path.iter().enumerate() {
        current = match current {
            Value::Object(map) => map.get_mut(token),
            Value::Array(items) => {
                let index = array_index(token, items.len(), false)?;
                items.get_mut(index)
            }
            _ => None,
        }
        .ok_or_else(|| Failure(format!("no value at {}", render_pointer(&path[..=depth]))))?;
    }
    Ok(current)
}

fn add(doc: &mut Value, path: &[String], value: Value) -> Result<(), Failure> {
    let Some((last, parent_path)) = path.split_last() else {
        *doc = value;
        return Ok(());
    };
    match get_mut(doc, parent_path)? {
        Value::Object(map) => {
            map.insert(last.clone(), value);
            Ok(())
        }
        Value::Array(items) => {
            let index = array_index(last, items.len(), true)?;
            items.insert(index, value);
            Ok(())
        }
        _ => Err(Failure(format!(
            "{} is not a map or a list",
            render_pointer(parent_path)
        ))),
    }
}

fn remove(doc: &mut Value, path: &[String]) -> Result<Value, Failure> {
    let Some((last, parent_path)) = path.split_last() else {
        return Err(Failure("cannot remove the whole document".to_owned()));
    };
    match get_mut(doc, parent_path)? {
        Value::Object(map) => map
            .remove(last)
            .ok_or_else(|| Failure(format!("no value at {}", render_pointer(path)))),
        Value::Array(items) => {
            let index = array_index(last, items.len(), false)?;
            Ok(items.remove(index))
        }
        _ => Err(Failure(format!(
            "{} is not a map or a list",
            render_pointer(parent_path)
        ))),
    }
}

#[cfg(test)]
mod tests {
    //! Expected values from `kubectl kustomize` (kustomize v5.5.0) with
    //! the operations under `patches: [{target: {kind: Service}, patch: …}]`.

    use super::*;
    use serde_json::json;

    #[test]
    fn every_operation_in_order_matches_kustomize() {
        // The first op is ours: kustomize keeps internal annotations on
        // every object while patching, so its `add .../a~1b` found a map.
        let target = json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "svc", "labels": {"m": "1"}},
            "spec": {"type": "ClusterIP", "selector": {"x~y": "a", "keep": "b"}, "ports": [{"port": 80, "name": "http"}]}});
        let ops = json!([
            {"op": "add", "path": "/metadata/annotations", "value": {}},
            {"op": "add", "path": "/metadata/annotations/a~1b", "value": "x"},
            {"op": "replace", "path": "/spec/ports/0/port", "value": 8080},
            {"op": "add", "path": "/spec/ports/-", "value": {"port": 9, "name": "nine"}},
            {"op": "copy", "from": "/spec/ports/0", "path": "/spec/ports/1"},
            {"op": "move", "from": "/metadata/labels/m", "path": "/metadata/labels/n"},
            {"op": "remove", "path": "/spec/selector/x~0y"},
            {"op": "test", "path": "/spec/type", "value": "ClusterIP"}
        ]);
        assert_eq!(
            apply(&target, &ops).unwrap(),
            json!({"apiVersion": "v1", "kind": "Service",
                "metadata": {"name": "svc", "labels": {"n": "1"}, "annotations": {"a/b": "x"}},
                "spec": {"type": "ClusterIP", "selector": {"keep": "b"},
                    "ports": [{"port": 8080, "name": "http"}, {"port": 8080, "name": "http"}, {"port": 9, "name": "nine"}]}})
        );
    }

    #[test]
    fn failures_name_the_operation_index_and_path() {
        let target = json!({"spec": {"type": "ClusterIP", "ports": []}});
        let err = apply(
            &target,
            &json!([
                {"op": "test", "path": "/spec/type", "value": "ClusterIP"},
                {"op": "remove", "path": "/spec/missing"}
            ]),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "JSON 6902 operation 1 (remove /spec/missing): no value at /spec/missing"
        );
        let err = apply(
            &target,
            &json!([{"op": "test", "path": "/spec/type", "value": "NodePort"}]),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("JSON 6902 operation 0 (test /spec/type): test failed"),
            "{err}"
        );
        let err = apply(
            &target,
            &json!([{"op": "replace", "path": "/spec/ports/0", "value": 1}]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("out of range"), "{err}");
        let err = apply(&target, &json!([{"op": "frobnicate", "path": "/x"}])).unwrap_err();
        assert!(err.to_string().contains("unknown operation"), "{err}");
        assert!(matches!(
            apply(&target, &json!({"op": "add"})),
            Err(PatchError::MalformedOps { .. })
        ));
    }

    #[test]
    fn pointers_reject_bad_escapes_and_leading_zero_indexes() {
        let target = json!({"a": [1, 2]});
        assert!(apply(&target, &json!([{"op": "remove", "path": "/a/01"}])).is_err());
        assert!(apply(&target, &json!([{"op": "remove", "path": "/a~2"}])).is_err());
        assert!(apply(&target, &json!([{"op": "add", "path": "a", "value": 1}])).is_err());
        assert_eq!(
            apply(&target, &json!([{"op": "add", "path": "/a/0", "value": 0}])).unwrap(),
            json!({"a": [0, 1, 2]})
        );
    }

    #[test]
    fn move_into_own_child_is_refused() {
        let target = json!({"a": {"b": 1}});
        assert!(
            apply(
                &target,
                &json!([{"op": "move", "from": "/a", "path": "/a/c"}])
            )
            .is_err()
        );
    }
}
