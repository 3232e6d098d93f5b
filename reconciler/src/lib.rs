//! rudder's reconciler: makes a cluster match a rendered set of objects and
//! keeps it matching (plan, server-side apply, ApplySet inventory, guarded
//! pruning, health, drift). Knows nothing of Git or HTTP.
//!
//! `app` is the long-lived handle per app that the agent and `rudder sync
//! --watch` drive. Pure modules (values in, values out): `object`, `applyset`, `inventory`,
//! `stage`, `plan`, `health`, `fingerprint`, `takeover`, `summary`,
//! `redact`, `diff`. Modules that talk to the cluster: `target`, `live`,
//! `apply`, `prune`, `inventory_store`, `sync` (one sync), `preview` (what a
//! sync would change), `wait` (until healthy) and `watch` (the drift
//! watcher).
#![forbid(unsafe_code)]

pub mod app;
pub mod apply;
pub mod applyset;
pub mod diff;
pub mod fingerprint;
pub mod health;
pub mod health_rules;
pub mod inventory;
pub mod inventory_store;
pub mod live;
pub mod object;
pub mod plan;
pub mod preview;
pub mod prune;
pub mod redact;
pub mod stage;
pub mod summary;
pub mod sync;
pub mod takeover;
pub mod target;
pub mod wait;
pub mod watch;
