//! Variables read from a ConfigMap or a Secret in the cluster
//! (`--vars-from configmap/NAME`, `--vars-from secret/NAME`, and `varsFrom`
//! in the apps file), as Flux's `substituteFrom`: each key becomes a
//! `${KEY}` variable, so values such as account ids or hostnames need not
//! sit in argv or in Git. The values never reach a log line or an error
//! message; only the source's name and a key's name do.

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Api;
use rudder_reconciler::target::Target;

/// Where variables come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VarsSource {
    ConfigMap(String),
    Secret(String),
}

impl VarsSource {
    /// Reads `configmap/NAME` or `secret/NAME` (the kind case-insensitive,
    /// as kubectl reads `configmap/x`, `cm/x` and `ConfigMap/x`).
    pub fn parse(text: &str) -> Result<VarsSource, String> {
        let (kind, name) = text
            .split_once('/')
            .ok_or_else(|| format!("`{text}`: expected configmap/NAME or secret/NAME"))?;
        if name.is_empty() || name.contains('/') {
            return Err(format!(
                "`{text}`: expected configmap/NAME or secret/NAME, with a plain object name"
            ));
        }
        match kind.to_ascii_lowercase().as_str() {
            "configmap" | "configmaps" | "cm" => Ok(VarsSource::ConfigMap(name.to_string())),
            "secret" | "secrets" => Ok(VarsSource::Secret(name.to_string())),
            other => Err(format!(
                "`{text}`: unknown kind `{other}` (use configmap/NAME or secret/NAME)"
            )),
        }
    }
}

impl fmt::Display for VarsSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VarsSource::ConfigMap(name) => write!(f, "configmap/{name}"),
            VarsSource::Secret(name) => write!(f, "secret/{name}"),
        }
    }
}

impl<'de> serde::Deserialize<'de> for VarsSource {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        VarsSource::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Reading the variables failed; the message names the source and
/// namespace, never a value.
#[derive(Debug, thiserror::Error)]
#[error("{what}")]
pub struct VarsFromError {
    what: String,
}

/// Reads every source in `namespace`, in order (a later source's key wins).
pub async fn read_all(
    target: &Target,
    namespace: &str,
    sources: &[VarsSource],
) -> Result<BTreeMap<String, String>, VarsFromError> {
    let mut vars = BTreeMap::new();
    for source in sources {
        vars.extend(read(target, namespace, source).await?);
    }
    Ok(vars)
}

async fn read(
    target: &Target,
    namespace: &str,
    source: &VarsSource,
) -> Result<BTreeMap<String, String>, VarsFromError> {
    let failed = |error: kube::Error| VarsFromError {
        what: format!(
            "cluster {}: reading variables from {source} in namespace {namespace}: {error}",
            target.name()
        ),
    };
    let missing = || VarsFromError {
        what: format!(
            "cluster {}: variables from {source}: no such object in namespace {namespace} (create it, or drop it from --vars-from / varsFrom)",
            target.name()
        ),
    };
    match source {
        VarsSource::ConfigMap(name) => {
            let api: Api<ConfigMap> = Api::namespaced(target.client(), namespace);
            let map = api
                .get_opt(name)
                .await
                .map_err(failed)?
                .ok_or_else(missing)?;
            Ok(map.data.unwrap_or_default().into_iter().collect())
        }
        VarsSource::Secret(name) => {
            let api: Api<Secret> = Api::namespaced(target.client(), namespace);
            let secret = api
                .get_opt(name)
                .await
                .map_err(failed)?
                .ok_or_else(missing)?;
            secret_vars(source, secret.data.unwrap_or_default())
        }
    }
}

/// A Secret's data as variables; a value that is not UTF-8 text is an
/// error naming its key only.
fn secret_vars(
    source: &VarsSource,
    data: BTreeMap<String, k8s_openapi::ByteString>,
) -> Result<BTreeMap<String, String>, VarsFromError> {
    data.into_iter()
        .map(|(key, value)| match String::from_utf8(value.0) {
            Ok(text) => Ok((key, text)),
            Err(_) => Err(VarsFromError {
                what: format!(
                    "variables from {source}: the value of key `{key}` is not UTF-8 text, so it cannot stand in a ${{{key}}}"
                ),
            }),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_read_as_kubectl_names_them() {
        assert_eq!(
            VarsSource::parse("configmap/settings"),
            Ok(VarsSource::ConfigMap("settings".into()))
        );
        assert_eq!(
            VarsSource::parse("Secret/db"),
            Ok(VarsSource::Secret("db".into()))
        );
        assert_eq!(
            VarsSource::parse("cm/x").map(|s| s.to_string()),
            Ok("configmap/x".into())
        );
    }

    #[test]
    fn malformed_sources_are_refused_with_the_form_to_use() {
        for bad in ["settings", "deployment/web", "secret/", "secret/a/b"] {
            let error = VarsSource::parse(bad).unwrap_err();
            assert!(error.contains("secret/NAME"), "{bad}: {error}");
        }
    }

    #[test]
    fn a_binary_secret_value_is_an_error_that_shows_no_value() {
        let source = VarsSource::Secret("db".into());
        let mut data = BTreeMap::new();
        data.insert(
            "PASSWORD".to_string(),
            k8s_openapi::ByteString(vec![0xff, 0xfe, 0x41]),
        );
        let error = secret_vars(&source, data).unwrap_err().to_string();
        assert!(
            error.contains("PASSWORD") && error.contains("secret/db"),
            "{error}"
        );
        assert!(!error.contains('\u{fffd}'), "{error}");
    }

    #[test]
    fn secret_text_values_become_variables() {
        let source = VarsSource::Secret("db".into());
        let mut data = BTreeMap::new();
        data.insert(
            "HOST".to_string(),
            k8s_openapi::ByteString(b"db.internal".to_vec()),
        );
        let vars = secret_vars(&source, data).unwrap();
        assert_eq!(vars["HOST"], "db.internal");
    }
}
