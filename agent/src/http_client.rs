//! The few HTTP requests the CLI makes to an agent (`--url`): `GET
//! /status` and the signed `POST /hooks/reconcile`, over plain HTTP/1.1 as
//! the agent serves them (in a cluster, through `kubectl port-forward` or
//! the Service). Uses hyper, which kube already brings in.

use std::time::Duration;

use anyhow::Context as _;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// An agent's address, e.g. `http://127.0.0.1:8080` (a trailing `/` or
/// `/status` is dropped, so either form of the URL works).
#[derive(Debug, Clone)]
pub struct AgentUrl(String);

impl AgentUrl {
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let base = text.trim_end_matches('/');
        let base = base.strip_suffix("/status").unwrap_or(base);
        if !base.starts_with("http://") {
            anyhow::bail!(
                "--url {text}: give the agent's plain HTTP address, e.g. http://127.0.0.1:8080 (through `kubectl port-forward` or its Service)"
            );
        }
        Ok(AgentUrl(base.to_string()))
    }

    fn join(&self, path: &str) -> String {
        format!("{}{path}", self.0)
    }
}

/// The status code and body of one request to the agent.
pub async fn request(
    agent: &AgentUrl,
    method: http::Method,
    path: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
) -> anyhow::Result<(u16, String)> {
    let url = agent.join(path);
    let mut builder = http::Request::builder().method(method).uri(&url);
    for (name, value) in headers {
        builder = builder.header(*name, value);
    }
    let request = builder
        .body(Full::new(Bytes::from(body)))
        .with_context(|| format!("building the request to {url}"))?;
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let response = tokio::time::timeout(REQUEST_TIMEOUT, client.request(request))
        .await
        .with_context(|| format!("{url}: no answer within {} s", REQUEST_TIMEOUT.as_secs()))?
        .with_context(|| format!("{url}: is the agent running there?"))?;
    let status = response.status().as_u16();
    let body = tokio::time::timeout(REQUEST_TIMEOUT, response.into_body().collect())
        .await
        .with_context(|| format!("{url}: the answer did not finish"))?
        .with_context(|| format!("{url}: reading the answer"))?
        .to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// The agent's `/status` as JSON.
pub async fn status(agent: &AgentUrl) -> anyhow::Result<serde_json::Value> {
    let (code, body) = request(agent, http::Method::GET, "/status", &[], Vec::new()).await?;
    if code != 200 {
        anyhow::bail!(
            "{}: answered {code}: {}",
            agent.join("/status"),
            body.trim()
        );
    }
    serde_json::from_str(&body)
        .with_context(|| format!("{}: the answer is not JSON", agent.join("/status")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_urls_take_either_form() {
        assert_eq!(
            AgentUrl::parse("http://127.0.0.1:8080/status")
                .unwrap()
                .join("/status"),
            "http://127.0.0.1:8080/status"
        );
        assert_eq!(
            AgentUrl::parse("http://a:1/")
                .unwrap()
                .join("/hooks/reconcile"),
            "http://a:1/hooks/reconcile"
        );
        assert!(AgentUrl::parse("https://a:1").is_err());
        assert!(AgentUrl::parse("a:1").is_err());
    }
}
