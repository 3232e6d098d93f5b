//! The one in-memory record of what the agent is doing: per app, the last
//! attempt and the last success, health, the last error and a short
//! history; for the source, the revision and any fetch error. The loops in
//! `run/` write it; `server/` only reads it (as JSON, HTML and metrics).
//!
//! Every error carries a stable code from [`ErrorCode`], so alerts and
//! runbooks can key on it. Nothing here ever holds Secret data: reports are
//! built from object names, counts and error messages only.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use serde::Serialize;

/// How many attempts an app's `history` keeps.
pub const HISTORY_LEN: usize = 10;

/// Stable error codes. The table is in `README.md` (section "Error codes");
/// never renumber one, only add.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ErrorCode {
    /// The Git server could not be reached.
    #[serde(rename = "RUD1001")]
    SourceUnreachable,
    /// The Git server refused the credentials.
    #[serde(rename = "RUD1002")]
    SourceAuth,
    /// The SSH host key is unknown or does not match known_hosts.
    #[serde(rename = "RUD1003")]
    SourceHostKey,
    /// The branch, tag or commit does not exist.
    #[serde(rename = "RUD1004")]
    SourceRefMissing,
    /// Any other Git failure.
    #[serde(rename = "RUD1005")]
    SourceGit,
    /// A YAML file does not parse.
    #[serde(rename = "RUD2001")]
    RenderYaml,
    /// A file or directory named by the overlay is missing or unreadable.
    #[serde(rename = "RUD2002")]
    RenderMissingFile,
    /// A path escapes the repository or its kustomization's directory.
    #[serde(rename = "RUD2003")]
    RenderPathEscape,
    /// The app's path does not exist or holds no kustomization.
    #[serde(rename = "RUD2004")]
    RenderNoKustomization,
    /// A kustomization is malformed or uses an unsupported field.
    #[serde(rename = "RUD2005")]
    RenderKustomization,
    /// A transformer, generator, patch or duplicate id failed the render.
    #[serde(rename = "RUD2006")]
    RenderTransform,
    /// A `${VAR}` has no value.
    #[serde(rename = "RUD2007")]
    RenderVariable,
    /// A `--vars-from` / `varsFrom` ConfigMap or Secret is missing or
    /// unreadable.
    #[serde(rename = "RUD2008")]
    RenderVarsFrom,
    /// The app's entry in the apps file is invalid (unknown field, bad
    /// name, `dependsOn` on an unknown or invalid app, a cycle).
    #[serde(rename = "RUD2009")]
    ConfigInvalid,
    /// The cluster could not be reached (or failed) during a sync.
    #[serde(rename = "RUD3001")]
    ClusterUnreachable,
    /// The cluster refused rudder's credentials or RBAC forbids the request.
    #[serde(rename = "RUD3002")]
    ClusterForbidden,
    /// The cluster rejected an object as invalid.
    #[serde(rename = "RUD3003")]
    ObjectInvalid,
    /// Another field manager owns a field and force-conflicts is off.
    #[serde(rename = "RUD3004")]
    ObjectConflict,
    /// An immutable field changed and recreation is not allowed.
    #[serde(rename = "RUD3005")]
    ObjectImmutable,
    /// A prune was refused by a guard (empty render, share cap, failed apply).
    #[serde(rename = "RUD3006")]
    PruneRefused,
    /// Watching the members for drift failed (the apiserver went away).
    #[serde(rename = "RUD3007")]
    DriftWatchFailed,
    /// Sync waves did not become healthy, so later waves were not applied.
    #[serde(rename = "RUD3008")]
    WaveHeld,
}

impl ErrorCode {
    /// The codes of the Git source's errors (`RUD1xxx`).
    pub const SOURCE: [ErrorCode; 5] = [
        ErrorCode::SourceUnreachable,
        ErrorCode::SourceAuth,
        ErrorCode::SourceHostKey,
        ErrorCode::SourceRefMissing,
        ErrorCode::SourceGit,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::SourceUnreachable => "RUD1001",
            ErrorCode::SourceAuth => "RUD1002",
            ErrorCode::SourceHostKey => "RUD1003",
            ErrorCode::SourceRefMissing => "RUD1004",
            ErrorCode::SourceGit => "RUD1005",
            ErrorCode::RenderYaml => "RUD2001",
            ErrorCode::RenderMissingFile => "RUD2002",
            ErrorCode::RenderPathEscape => "RUD2003",
            ErrorCode::RenderNoKustomization => "RUD2004",
            ErrorCode::RenderKustomization => "RUD2005",
            ErrorCode::RenderTransform => "RUD2006",
            ErrorCode::RenderVariable => "RUD2007",
            ErrorCode::RenderVarsFrom => "RUD2008",
            ErrorCode::ConfigInvalid => "RUD2009",
            ErrorCode::ClusterUnreachable => "RUD3001",
            ErrorCode::ClusterForbidden => "RUD3002",
            ErrorCode::ObjectInvalid => "RUD3003",
            ErrorCode::ObjectConflict => "RUD3004",
            ErrorCode::ObjectImmutable => "RUD3005",
            ErrorCode::PruneRefused => "RUD3006",
            ErrorCode::DriftWatchFailed => "RUD3007",
            ErrorCode::WaveHeld => "RUD3008",
        }
    }

    /// The code of an apply or prune failure class.
    pub fn of_failure(class: rudder_reconciler::apply::FailureClass) -> Self {
        use rudder_reconciler::apply::FailureClass;
        match class {
            FailureClass::Transport => ErrorCode::ClusterUnreachable,
            FailureClass::Forbidden => ErrorCode::ClusterForbidden,
            FailureClass::Invalid => ErrorCode::ObjectInvalid,
            FailureClass::Conflict => ErrorCode::ObjectConflict,
            FailureClass::Immutable => ErrorCode::ObjectImmutable,
        }
    }

    /// The code of a render error, and the file and line it names.
    pub fn of_render(error: &rudder_render::RenderError) -> (Self, Option<String>, Option<u64>) {
        use rudder_render::RenderError as E;
        match error {
            E::Yaml { file, line, .. } => (ErrorCode::RenderYaml, Some(file.clone()), Some(*line)),
            E::Io { path, .. } => (ErrorCode::RenderMissingFile, Some(path.clone()), None),
            E::Restricted { path, .. } => (ErrorCode::RenderPathEscape, Some(path.clone()), None),
            E::MissingKustomization { dir } => {
                (ErrorCode::RenderNoKustomization, Some(dir.clone()), None)
            }
            E::Kustomization { file, .. } | E::Unsupported { file, .. } => {
                (ErrorCode::RenderKustomization, Some(file.clone()), None)
            }
            E::DuplicateId { file, .. } | E::Transform { file, .. } => {
                (ErrorCode::RenderTransform, Some(file.clone()), None)
            }
            E::UndefinedVariable { .. } => (ErrorCode::RenderVariable, None, None),
        }
    }
}

/// An error as `/status` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorStatus {
    pub code: ErrorCode,
    pub message: String,
    /// The file it is about, relative to the repository root, when known.
    pub file: Option<String>,
    pub line: Option<u64>,
}

impl ErrorStatus {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ErrorStatus {
            code,
            message: message.into(),
            file: None,
            line: None,
        }
    }
}

/// Where the agent's revisions come from.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SourceStatus {
    pub repo: String,
    #[serde(rename = "ref")]
    pub reference: String,
    /// The commit the reference named at the last successful fetch.
    pub revision: Option<String>,
    /// That commit's time (RFC 3339) and first line.
    pub commit_time: Option<String>,
    pub commit_summary: Option<String>,
    pub last_fetch: Option<String>,
    /// Null, or why the last fetch failed.
    pub error: Option<String>,
    pub error_code: Option<ErrorCode>,
}

/// `sync` of an app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum SyncState {
    Synced,
    Failed,
    Pending,
    /// `rudder suspend` (or `--suspend`): neither synced, healed nor pruned.
    Suspended,
    /// A dependency (`dependsOn`) is not yet Synced and Healthy at the
    /// revision; the app keeps healing the one it applied.
    Waiting,
}

/// `health` of an app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum HealthState {
    Healthy,
    Progressing,
    Degraded,
    Unknown,
}

impl SyncState {
    pub fn as_str(self) -> &'static str {
        match self {
            SyncState::Synced => "Synced",
            SyncState::Failed => "Failed",
            SyncState::Pending => "Pending",
            SyncState::Suspended => "Suspended",
            SyncState::Waiting => "Waiting",
        }
    }
}

impl HealthState {
    pub fn as_str(self) -> &'static str {
        match self {
            HealthState::Healthy => "Healthy",
            HealthState::Progressing => "Progressing",
            HealthState::Degraded => "Degraded",
            HealthState::Unknown => "Unknown",
        }
    }
}

impl From<rudder_reconciler::health::AggregateHealth> for HealthState {
    fn from(h: rudder_reconciler::health::AggregateHealth) -> Self {
        use rudder_reconciler::health::AggregateHealth as A;
        match h {
            A::Healthy => HealthState::Healthy,
            A::Progressing => HealthState::Progressing,
            A::Degraded => HealthState::Degraded,
        }
    }
}

/// One attempt in an app's history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryEntry {
    pub revision: String,
    /// Synced, Failed, or Unchanged (a commit that touched no file the
    /// app's render read: recorded without rendering or applying).
    pub result: &'static str,
    /// Seconds.
    pub duration: f64,
    pub at: String,
    pub created: usize,
    pub configured: usize,
    pub pruned: usize,
    pub failed: usize,
}

/// A member that is not Current, for the HTML page.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ObjectNote {
    pub object: String,
    pub status: String,
    pub message: String,
}

/// One app as `/status` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct AppStatus {
    pub name: String,
    pub path: String,
    /// "kustomization", or "directory" (every YAML file under the path,
    /// as Flux renders a path without a kustomization); null before the
    /// first render.
    pub render_mode: Option<&'static str>,
    pub applyset: String,
    pub field_manager: String,
    pub sync: SyncState,
    pub health: HealthState,
    pub applied_revision: Option<String>,
    pub attempted_revision: Option<String>,
    pub last_attempt: Option<String>,
    pub last_success: Option<String>,
    pub error: Option<ErrorStatus>,
    /// Members by kstatus state (Current, InProgress, Failed, ...).
    pub objects: BTreeMap<String, usize>,
    pub drift_corrections: u64,
    /// When the health above was judged, if after the applied revision
    /// was applied (null otherwise), so a gate never passes on stale
    /// health.
    pub health_observed_at: Option<String>,
    pub not_current: Vec<ObjectNote>,
    pub history: VecDeque<HistoryEntry>,
    /// Files the last render read (the change filter's size).
    pub files_read: usize,
    /// The last `rudder reconcile` request the app synced after.
    pub reconcile_handled_at: Option<String>,
    /// While Suspended or Waiting: the fetched revision the app would
    /// apply, when it differs from the applied one.
    pub pending_revision: Option<String>,
    /// While Waiting: what for, e.g. `platform: Progressing at 1a2b3c4`.
    pub waiting_for: Option<String>,
}

impl AppStatus {
    pub fn new(name: &str, path: &str, applyset: &str, field_manager: &str) -> Self {
        AppStatus {
            name: name.to_string(),
            path: path.to_string(),
            render_mode: None,
            applyset: applyset.to_string(),
            field_manager: field_manager.to_string(),
            sync: SyncState::Pending,
            health: HealthState::Unknown,
            applied_revision: None,
            attempted_revision: None,
            last_attempt: None,
            last_success: None,
            error: None,
            objects: BTreeMap::new(),
            drift_corrections: 0,
            health_observed_at: None,
            not_current: Vec::new(),
            history: VecDeque::new(),
            files_read: 0,
            reconcile_handled_at: None,
            pending_revision: None,
            waiting_for: None,
        }
    }

    pub fn push_history(&mut self, entry: HistoryEntry) {
        if self.history.len() == HISTORY_LEN {
            self.history.pop_back();
        }
        self.history.push_front(entry);
    }
}

/// Who leads, with several replicas.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LeaderStatus {
    pub enabled: bool,
    pub leading: bool,
    pub holder: Option<String>,
}

/// The whole record.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub cluster: String,
    pub region: String,
    pub version: &'static str,
    pub source: SourceStatus,
    pub leader: LeaderStatus,
    pub apps: Vec<AppStatus>,
}

/// The shared handle to the record: writers take the lock briefly, readers
/// clone what they show.
#[derive(Clone)]
pub struct Board {
    inner: Arc<RwLock<Status>>,
    ready: Arc<std::sync::atomic::AtomicBool>,
    /// Bumped on every change, for apps that wait on others (`dependsOn`).
    changes: Arc<tokio::sync::watch::Sender<u64>>,
}

impl Board {
    pub fn new(status: Status) -> Self {
        Board {
            inner: Arc::new(RwLock::new(status)),
            ready: Arc::default(),
            changes: Arc::new(tokio::sync::watch::Sender::new(0)),
        }
    }

    /// Resolves `changed()` after each later change of the record.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// One app's record, cloned.
    pub fn app(&self, name: &str) -> Option<AppStatus> {
        self.inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .apps
            .iter()
            .find(|a| a.name == name)
            .cloned()
    }

    pub fn snapshot(&self) -> Status {
        self.inner.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn update<R>(&self, change: impl FnOnce(&mut Status) -> R) -> R {
        let result = change(&mut self.inner.write().unwrap_or_else(|e| e.into_inner()));
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
        result
    }

    /// Changes app `name`'s record.
    pub fn update_app<R>(&self, name: &str, change: impl FnOnce(&mut AppStatus) -> R) -> Option<R> {
        self.update(|s| s.apps.iter_mut().find(|a| a.name == name).map(change))
    }

    pub fn set_ready(&self) {
        self.ready.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// One sync attempt was completed (and, with leader election, the
    /// leader is known).
    pub fn is_ready(&self) -> bool {
        self.ready.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// `t` as RFC 3339 in UTC with second precision, e.g.
/// `2026-12-02T01:57:36Z`.
pub fn rfc3339(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    rfc3339_unix(secs)
}

/// `t` as RFC 3339 in UTC with microseconds (Kubernetes' MicroTime).
pub fn rfc3339_micros(t: SystemTime) -> String {
    let since = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let seconds = rfc3339_unix(since.as_secs() as i64);
    format!(
        "{}.{:06}Z",
        seconds.trim_end_matches('Z'),
        since.subsec_micros()
    )
}

/// Unix seconds as RFC 3339 in UTC.
pub fn rfc3339_unix(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Reads `YYYY-MM-DDTHH:MM:SS[.frac]Z` (what [`rfc3339`] and
/// [`rfc3339_micros`] write) as Unix seconds; `None` for anything else.
pub fn parse_rfc3339_unix(text: &str) -> Option<i64> {
    let text = text.strip_suffix('Z')?;
    let (date, time) = text.split_once('T')?;
    let mut date = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (year, month, day) = (date.next()??, date.next()??, date.next()??);
    let time = time.split('.').next()?;
    let mut time = time.splitn(3, ':').map(|p| p.parse::<i64>().ok());
    let (hour, minute, second) = (time.next()??, time.next()??, time.next()??);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}

/// (year, month, day) to days since 1970-01-01: the inverse of
/// [`civil_from_days`].
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A duration in seconds as a person reads an age: `45s`, `12m`, `3h`,
/// `4d`.
pub fn brief_age(seconds: i64) -> String {
    let seconds = seconds.max(0);
    match seconds {
        0..60 => format!("{seconds}s"),
        60..3600 => format!("{}m", seconds / 60),
        3600..86_400 => format!("{}h", seconds / 3600),
        _ => format!("{}d", seconds / 86_400),
    }
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian
/// calendar (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_matches_known_instants() {
        assert_eq!(rfc3339_unix(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_unix(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339_unix(1_796_176_656), "2026-12-02T01:57:36Z");
        assert_eq!(rfc3339_unix(-1), "1969-12-31T23:59:59Z");
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_micros(1_500_000);
        assert_eq!(rfc3339_micros(t), "1970-01-01T00:00:01.500000Z");
    }

    #[test]
    fn rfc3339_reads_back_what_it_writes() {
        for secs in [0, 951_782_400, 1_796_176_656, -1, 4_102_444_800] {
            assert_eq!(parse_rfc3339_unix(&rfc3339_unix(secs)), Some(secs));
        }
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_micros(1_796_176_656_250_000);
        assert_eq!(parse_rfc3339_unix(&rfc3339_micros(t)), Some(1_796_176_656));
        assert_eq!(parse_rfc3339_unix("2026-13-01T00:00:00Z"), None);
        assert_eq!(parse_rfc3339_unix("yesterday"), None);
    }

    #[test]
    fn ages_read_briefly() {
        assert_eq!(brief_age(5), "5s");
        assert_eq!(brief_age(600), "10m");
        assert_eq!(brief_age(7200), "2h");
        assert_eq!(brief_age(3 * 86_400), "3d");
        assert_eq!(brief_age(-3), "0s");
    }

    #[test]
    fn error_codes_serialize_as_their_table_entries() {
        for code in [
            ErrorCode::SourceUnreachable,
            ErrorCode::RenderYaml,
            ErrorCode::PruneRefused,
        ] {
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
        }
    }

    #[test]
    fn render_errors_keep_file_and_line() {
        let error = rudder_render::RenderError::Yaml {
            file: "clusters/eu/settings.yaml".into(),
            line: 7,
            message: "bad".into(),
        };
        let (code, file, line) = ErrorCode::of_render(&error);
        assert_eq!(code, ErrorCode::RenderYaml);
        assert_eq!(file.as_deref(), Some("clusters/eu/settings.yaml"));
        assert_eq!(line, Some(7));
    }

    #[test]
    fn history_keeps_the_newest_entries_first() {
        let mut app = AppStatus::new("a", "p", "a", "rudder/a");
        for i in 0..HISTORY_LEN + 3 {
            app.push_history(HistoryEntry {
                revision: i.to_string(),
                result: "Synced",
                duration: 0.0,
                at: String::new(),
                created: 0,
                configured: 0,
                pruned: 0,
                failed: 0,
            });
        }
        assert_eq!(app.history.len(), HISTORY_LEN);
        assert_eq!(app.history[0].revision, (HISTORY_LEN + 2).to_string());
    }
}
