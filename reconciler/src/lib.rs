//! rudder's reconciler: makes a cluster match a rendered set of objects and
//! keeps it matching (plan, server-side apply, ApplySet inventory, guarded
//! pruning, health, drift). Knows nothing of Git or HTTP.
#![forbid(unsafe_code)]
