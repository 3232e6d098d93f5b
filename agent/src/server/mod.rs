//! The agent's HTTP server (axum): `/healthz`, `/readyz`, `/status` (JSON),
//! `/` (the same for a person), `/metrics` (OpenMetrics) and the webhooks
//! `/hooks/github`, `/hooks/gitlab`, `/hooks/generic`, and
//! `/hooks/reconcile` (`rudder reconcile --url`, signed as the generic
//! hook). It only reads the status record and sends triggers; it never
//! calls the reconciler.

pub mod hooks;
pub mod html;
pub mod metrics;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::mpsc;

use crate::status::Board;
use hooks::Provider;
use metrics::Metrics;

/// Why a fetch is wanted.
#[derive(Debug, Clone)]
pub enum Trigger {
    Webhook,
    /// `rudder reconcile`: fetch, then hand `requested_at` to the app's
    /// queue, so it syncs what the fetch found.
    Reconcile {
        app: mpsc::Sender<String>,
        requested_at: String,
    },
}

/// Room for triggers between two fetches: webhooks coalesce into one
/// fetch, but each reconcile request must reach its app.
pub const TRIGGER_QUEUE: usize = 64;

#[derive(Clone)]
pub struct ServerState {
    pub board: Board,
    pub metrics: Arc<Metrics>,
    /// The webhook secret; `None`: webhooks are off.
    pub webhook_secret: Option<Arc<Vec<u8>>>,
    pub triggers: mpsc::Sender<Trigger>,
    /// Each app's queue of reconcile requests.
    pub reconcile: Arc<BTreeMap<String, mpsc::Sender<String>>>,
}

pub fn router(state: ServerState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/status", get(status_json))
        .route("/", get(status_html))
        .route("/metrics", get(metrics_text))
        .route("/hooks/github", post(github))
        .route("/hooks/gitlab", post(gitlab))
        .route("/hooks/generic", post(generic))
        .route("/hooks/reconcile", post(reconcile))
        .layer(DefaultBodyLimit::max(hooks::MAX_BODY_BYTES))
        .with_state(state)
}

/// Binds `addr` and serves until `shutdown` resolves.
pub async fn serve(
    addr: SocketAddr,
    state: ServerState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("listening on {addr}: {e} (pass another --listen address)"))?;
    let bound = listener.local_addr()?;
    let app = router(state);
    let task = tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::error!(%error, "HTTP server failed");
        }
    });
    Ok((bound, task))
}

async fn readyz(State(state): State<ServerState>) -> Response {
    if state.board.is_ready() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: no sync attempt completed yet\n",
        )
            .into_response()
    }
}

async fn status_json(State(state): State<ServerState>) -> Response {
    let status = state.board.snapshot();
    match serde_json::to_string_pretty(&status) {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn status_html(State(state): State<ServerState>) -> Html<String> {
    Html(html::page(&state.board.snapshot()))
}

async fn metrics_text(State(state): State<ServerState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
        .into_response()
}

async fn github(State(state): State<ServerState>, headers: HeaderMap, body: Bytes) -> Response {
    hook(state, Provider::GitHub, &headers, &body)
}

async fn gitlab(State(state): State<ServerState>, headers: HeaderMap, body: Bytes) -> Response {
    hook(state, Provider::GitLab, &headers, &body)
}

async fn generic(State(state): State<ServerState>, headers: HeaderMap, body: Bytes) -> Response {
    hook(state, Provider::Generic, &headers, &body)
}

/// `rudder reconcile --url`: a body `{"app": NAME, "requested_at": T}`
/// signed as the generic hook; queues a sync of the app (after a fetch)
/// that records T as handled in `/status` when done.
async fn reconcile(State(state): State<ServerState>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(refused) = refusal(&state, Provider::Generic, &headers, &body) {
        return refused;
    }
    #[derive(serde::Deserialize)]
    struct Request {
        app: String,
        requested_at: String,
    }
    let request: Request = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("expected {{\"app\": NAME, \"requested_at\": TIME}}: {e}\n"),
            )
                .into_response();
        }
    };
    let Some(queue) = state.reconcile.get(&request.app) else {
        let known: Vec<&str> = state.reconcile.keys().map(String::as_str).collect();
        return (
            StatusCode::NOT_FOUND,
            format!(
                "no app `{}` here (apps: {})\n",
                request.app,
                known.join(", ")
            ),
        )
            .into_response();
    };
    let trigger = Trigger::Reconcile {
        app: queue.clone(),
        requested_at: request.requested_at,
    };
    if state.triggers.try_send(trigger).is_err() {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            "too many reconcile requests are queued already; try again in a moment\n",
        )
            .into_response();
    }
    (StatusCode::ACCEPTED, "accepted: fetching and syncing\n").into_response()
}

/// Checks a delivery's signature: the answer refusing it, or `None` when
/// it is good.
fn refusal(
    state: &ServerState,
    provider: Provider,
    headers: &HeaderMap,
    body: &[u8],
) -> Option<Response> {
    let Some(secret) = &state.webhook_secret else {
        return Some(
            (
                StatusCode::NOT_FOUND,
                "webhooks are off: start rudder with --webhook-secret-file\n",
            )
                .into_response(),
        );
    };
    let header = headers.get(provider.header()).map(|v| v.as_bytes());
    if !hooks::verify(provider, secret, header, body) {
        tracing::warn!(
            header = provider.header(),
            "webhook refused: bad or missing signature"
        );
        return Some((StatusCode::UNAUTHORIZED, "bad or missing signature\n").into_response());
    }
    None
}

/// Verifies a delivery and, when good, asks for a fetch and answers 202
/// at once (the fetch runs after the answer). A bad or missing signature
/// answers 401 and causes nothing.
fn hook(state: ServerState, provider: Provider, headers: &HeaderMap, body: &[u8]) -> Response {
    if let Some(refused) = refusal(&state, provider, headers, body) {
        return refused;
    }
    // A full channel already holds a pending fetch: this one coalesces.
    let _ = state.triggers.try_send(Trigger::Webhook);
    (StatusCode::ACCEPTED, "accepted: fetching\n").into_response()
}
