//! The Git source against real Git servers on 127.0.0.1: `git daemon`,
//! `git http-backend` behind basic auth, and Debian's `sshd`. Resolving,
//! shallow snapshots, what a poll costs, references of every kind, the
//! error of each failure (with its code), both render modes, path escapes,
//! and whether a new commit can change a render.
//!
//! The source module is compiled into this test crate from the agent's
//! sources (the agent is a binary, with no library to link against).

#[allow(dead_code, unused_imports)]
#[path = "../src/source/mod.rs"]
mod source;

use std::path::Path;

use integration_tests::git_server::{FleetRepo, GitDaemon, GitHttp, GitSsh};
use rudder_render::{RenderError, RenderOptions};
use source::{Auth, GitSource, RenderMode, SourceError, SourceSpec, render_snapshot};

fn cm(name: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  value: \"{value}\"\n"
    )
}

/// The fleet shape of the end-to-end tests: a base, two region overlays and
/// a plain directory of YAML files.
fn fleet() -> (FleetRepo, String) {
    let repo = FleetRepo::new();
    repo.write("base/kustomization.yaml", "resources: [settings.yaml]\n");
    repo.write("base/settings.yaml", &cm("settings", "base"));
    for region in ["us-east-1", "eu-west-1"] {
        repo.write(
            &format!("clusters/{region}/kustomization.yaml"),
            &format!("namePrefix: {region}-\nresources: [../../base]\n"),
        );
    }
    repo.write("plain/one.yaml", &cm("one", "1"));
    repo.write("plain/nested/two.yml", &cm("two", "2"));
    repo.write("plain/README.md", "not YAML, not rendered\n");
    let first = repo.commit("first commit\n\nwith a body");
    (repo, first)
}

fn open(url: &str, reference: &str, cache: &Path, auth: Auth) -> GitSource {
    GitSource::open(SourceSpec {
        repo: url.to_string(),
        reference: reference.to_string(),
        cache_dir: cache.to_path_buf(),
        auth,
    })
    .expect("opening the source")
}

fn names(objects: &[serde_json::Value]) -> Vec<String> {
    let mut n: Vec<String> = objects
        .iter()
        .map(|o| {
            o["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    n.sort();
    n
}

fn basic(dir: &Path, password: &str) -> Auth {
    let file = dir.join("password");
    std::fs::write(&file, format!("{password}\n")).unwrap();
    Auth::Basic {
        username: Some("fleet-bot".into()),
        password_file: file,
    }
}

#[test]
fn git_daemon_resolve_and_snapshot_read_the_tree_and_see_new_commits() {
    let (repo, first) = fleet();
    let daemon = GitDaemon::start(&repo);
    let cache = tempfile::tempdir().unwrap();
    let mut src = open(&daemon.url(), "main", cache.path(), Auth::None);

    assert_eq!(src.resolve().unwrap(), first);
    let snap = src.snapshot(&first).unwrap();
    assert_eq!(snap.revision, first);
    assert_eq!(snap.summary, "first commit");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((now - snap.commit_time).abs() < 600, "{}", snap.commit_time);
    use rudder_render::fs::FileTree as _;
    let tree = snap.tree().unwrap();
    assert_eq!(
        tree.read("base/settings.yaml").unwrap(),
        cm("settings", "base").as_bytes()
    );
    assert_eq!(
        tree.list("plain").unwrap(),
        vec!["README.md", "nested", "one.yaml"]
    );

    repo.write("base/settings.yaml", &cm("settings", "changed"));
    let second = repo.commit("second");
    assert_eq!(src.resolve().unwrap(), second);
    let snap2 = src.snapshot(&second).unwrap();
    assert_eq!(
        snap2.tree().unwrap().read("base/settings.yaml").unwrap(),
        cm("settings", "changed").as_bytes()
    );
    // The first snapshot still reads its own commit.
    assert_eq!(
        tree.read("base/settings.yaml").unwrap(),
        cm("settings", "base").as_bytes()
    );
}

#[test]
fn http_poll_of_the_same_commit_is_one_ref_listing_and_no_pack_fetch() {
    let (repo, first) = fleet();
    let http = GitHttp::start(&repo, "fleet-bot", "s3cret-token");
    let cache = tempfile::tempdir().unwrap();
    let mut src = open(
        &http.url(),
        "main",
        cache.path(),
        basic(cache.path(), "s3cret-token"),
    );

    assert_eq!(src.resolve().unwrap(), first);
    assert_eq!(
        http.requests(),
        vec!["GET /fleet.git/info/refs?service=git-upload-pack".to_string()],
        "resolve must be exactly one ref listing"
    );
    src.snapshot(&first).unwrap();
    let after_first = http.requests().len();
    assert!(http.pack_fetches() >= 1, "{:?}", http.requests());
    let packs = http.pack_fetches();

    // The next poll: same commit. One listing, no pack, and the snapshot
    // comes from the cache without any request.
    assert_eq!(src.resolve().unwrap(), first);
    src.snapshot(&first).unwrap();
    let requests = http.requests();
    assert_eq!(requests.len(), after_first + 1, "{requests:?}");
    assert!(
        requests
            .last()
            .unwrap()
            .starts_with("GET /fleet.git/info/refs")
    );
    assert_eq!(http.pack_fetches(), packs);

    // A fresh source on the same cache finds the commit there too.
    let mut again = open(
        &http.url(),
        "main",
        cache.path(),
        basic(cache.path(), "s3cret-token"),
    );
    again.snapshot(&first).unwrap();
    assert_eq!(http.requests().len(), after_first + 1);

    // A new commit costs a pack fetch.
    repo.write("plain/three.yaml", &cm("three", "3"));
    let second = repo.commit("second");
    assert_eq!(src.resolve().unwrap(), second);
    src.snapshot(&second).unwrap();
    assert!(http.pack_fetches() > packs, "{:?}", http.requests());
}

#[test]
fn http_wrong_password_is_auth_refused_and_never_printed() {
    let (repo, _) = fleet();
    let http = GitHttp::start(&repo, "fleet-bot", "right-password");
    let cache = tempfile::tempdir().unwrap();
    let mut src = open(
        &http.url(),
        "main",
        cache.path(),
        basic(cache.path(), "wrong-password"),
    );
    let e = src.resolve().unwrap_err();
    assert!(matches!(e, SourceError::AuthRefused { .. }), "{e}");
    assert_eq!(e.code(), "RUD1002");
    let text = format!("{e} {e:?}");
    assert!(
        !text.contains("wrong-password") && !text.contains("right-password"),
        "{text}"
    );
    assert!(text.contains(&http.url()), "{text}");

    // No credentials at all: refused too, saying none are configured.
    let mut none = open(&http.url(), "main", cache.path(), Auth::None);
    let e = none.resolve().unwrap_err();
    assert_eq!(e.code(), "RUD1002", "{e}");
    assert!(e.to_string().contains("none are configured"), "{e}");

    // The password file is read at every connection: a rotated Secret
    // works without reopening the source.
    std::fs::write(cache.path().join("password"), "right-password\n").unwrap();
    assert!(src.resolve().is_ok());
}

#[test]
fn tag_and_full_commit_id_as_reference() {
    let (repo, first) = fleet();
    repo.tag("v1.0.0");
    repo.write("base/settings.yaml", &cm("settings", "v2"));
    let second = repo.commit("second");
    let mut daemon = GitDaemon::start(&repo);

    let cache = tempfile::tempdir().unwrap();
    let mut tagged = open(&daemon.url(), "v1.0.0", cache.path(), Auth::None);
    assert_eq!(
        tagged.resolve().unwrap(),
        first,
        "an annotated tag peels to its commit"
    );
    let snap = tagged.snapshot(&first).unwrap();
    assert_eq!(snap.revision, first);

    // A full commit id that no ref names at its tip, in a fresh cache: it
    // resolves with the server down (no network at all), then the snapshot
    // finds it through the fallback fetch.
    let cache2 = tempfile::tempdir().unwrap();
    daemon.stop();
    let mut pinned = open(&daemon.url(), &first, cache2.path(), Auth::None);
    assert_eq!(pinned.resolve().unwrap(), first);
    daemon.restart();
    let snap = pinned.snapshot(&first).unwrap();
    use rudder_render::fs::FileTree as _;
    assert_eq!(
        snap.tree().unwrap().read("base/settings.yaml").unwrap(),
        cm("settings", "base").as_bytes()
    );
    // And the tip commit by id, which the server advertises.
    let cache3 = tempfile::tempdir().unwrap();
    let mut tip = open(&daemon.url(), &second, cache3.path(), Auth::None);
    let id = tip.resolve().unwrap();
    let snap = tip.snapshot(&id).unwrap();
    assert_eq!(snap.revision, second);
    // Shallow: the tip's parent was not fetched.
    let cached = git2::Repository::open_bare(snap.repo_path()).unwrap();
    assert!(cached.is_shallow());
    assert!(
        cached
            .find_commit(git2::Oid::from_str(&first).unwrap())
            .is_err()
    );
}

#[test]
fn missing_ref_and_unreachable_server() {
    let (repo, first) = fleet();
    let mut daemon = GitDaemon::start(&repo);
    let cache = tempfile::tempdir().unwrap();

    let mut missing = open(&daemon.url(), "no-such-branch", cache.path(), Auth::None);
    let e = missing.resolve().unwrap_err();
    assert!(matches!(e, SourceError::RefMissing { .. }), "{e}");
    assert_eq!(e.code(), "RUD1004");
    assert!(e.to_string().contains("no-such-branch"), "{e}");

    let mut src = open(&daemon.url(), "main", cache.path(), Auth::None);
    daemon.stop();
    let e = src.resolve().unwrap_err();
    assert!(matches!(e, SourceError::Unreachable { .. }), "{e}");
    assert_eq!(e.code(), "RUD1001");
    assert!(e.to_string().contains(&daemon.url()), "{e}");
    // A snapshot that needs a fetch fails the same way.
    let e = src.snapshot(&first).unwrap_err();
    assert_eq!(e.code(), "RUD1001", "{e}");

    daemon.restart();
    assert_eq!(src.resolve().unwrap(), first);
    assert_eq!(src.snapshot(&first).unwrap().revision, first);
}

#[test]
fn ssh_with_the_right_known_hosts_works() {
    let (repo, first) = fleet();
    let ssh = GitSsh::start(&repo);
    let cache = tempfile::tempdir().unwrap();
    let auth = Auth::Ssh {
        private_key: ssh.client_key().to_path_buf(),
        known_hosts: ssh.known_hosts().to_path_buf(),
    };
    let mut src = open(&ssh.url(), "main", cache.path(), auth);
    let resolved = src
        .resolve()
        .unwrap_or_else(|e| panic!("{e}\n{}", ssh.log()));
    assert_eq!(resolved, first);
    let snap = src
        .snapshot(&first)
        .unwrap_or_else(|e| panic!("{e}\n{}", ssh.log()));
    // The same host, hashed as `ssh-keygen -H` writes it.
    let hashed = cache.path().join("hashed_known_hosts");
    std::fs::copy(ssh.known_hosts(), &hashed).unwrap();
    let out = std::process::Command::new("ssh-keygen")
        .arg("-H")
        .arg("-f")
        .arg(&hashed)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = std::fs::read_to_string(&hashed).unwrap();
    assert!(text.starts_with("|1|"), "{text}");
    let auth = Auth::Ssh {
        private_key: ssh.client_key().to_path_buf(),
        known_hosts: hashed,
    };
    let cache2 = tempfile::tempdir().unwrap();
    assert_eq!(
        open(&ssh.url(), "main", cache2.path(), auth)
            .resolve()
            .unwrap(),
        first
    );

    let rendered = render_snapshot(&snap, "clusters/us-east-1", &RenderOptions::default()).unwrap();
    assert_eq!(
        names(&rendered.rendered.objects),
        vec!["us-east-1-settings"]
    );
}

#[test]
fn ssh_with_an_unknown_or_wrong_host_key_or_client_key_is_refused() {
    let (repo, _) = fleet();
    let ssh = GitSsh::start(&repo);
    let cache = tempfile::tempdir().unwrap();
    let try_with = |key: &Path, known_hosts: &Path| {
        let auth = Auth::Ssh {
            private_key: key.to_path_buf(),
            known_hosts: known_hosts.to_path_buf(),
        };
        open(&ssh.url(), "main", cache.path(), auth)
            .resolve()
            .unwrap_err()
    };

    let e = try_with(ssh.client_key(), &ssh.wrong_known_hosts());
    assert!(matches!(e, SourceError::HostKeyUnknown { .. }), "{e}");
    assert_eq!(e.code(), "RUD1003");
    assert!(e.to_string().contains("does not match"), "{e}");

    let empty = cache.path().join("empty_known_hosts");
    std::fs::write(&empty, "").unwrap();
    let e = try_with(ssh.client_key(), &empty);
    assert_eq!(e.code(), "RUD1003", "{e}");
    assert!(e.to_string().contains("not in the known_hosts file"), "{e}");

    let e = try_with(&ssh.unauthorized_key(), ssh.known_hosts());
    assert_eq!(e.code(), "RUD1002", "{e}\n{}", ssh.log());

    // SSH without a known_hosts file configured at all.
    let mut none = open(&ssh.url(), "main", cache.path(), Auth::None);
    let e = none.resolve().unwrap_err();
    assert_eq!(e.code(), "RUD1003", "{e}");
}

#[test]
fn render_modes_and_errors_name_file_and_line() {
    let (repo, first) = fleet();
    let daemon = GitDaemon::start(&repo);
    let cache = tempfile::tempdir().unwrap();
    let mut src = open(&daemon.url(), "main", cache.path(), Auth::None);
    let snap = src.snapshot(&first).unwrap();
    let options = RenderOptions::default();

    let k = render_snapshot(&snap, "clusters/us-east-1", &options).unwrap();
    assert_eq!(k.mode, RenderMode::Kustomization);
    assert_eq!(k.mode.to_string(), "kustomization");
    assert_eq!(names(&k.rendered.objects), vec!["us-east-1-settings"]);

    let d = render_snapshot(&snap, "plain", &options).unwrap();
    assert_eq!(d.mode, RenderMode::PlainDirectory);
    assert_eq!(d.mode.to_string(), "directory");
    assert_eq!(names(&d.rendered.objects), vec!["one", "two"]);

    // `rudder render` (kubectl's rule) still refuses a plain directory.
    let disk = rudder_render::render(
        &rudder_render::fs::MemTree::new().with_file("plain/one.yaml", &cm("one", "1")),
        "plain",
        &options,
    );
    assert!(matches!(
        disk,
        Err(RenderError::MissingKustomization { .. })
    ));

    repo.write(
        "plain/nested/broken.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: [unclosed\n",
    );
    let broken = repo.commit("broken");
    let snap = src.snapshot(&broken).unwrap();
    let e = render_snapshot(&snap, "plain", &options).unwrap_err();
    match &e {
        RenderError::Yaml { file, line, .. } => {
            assert_eq!(file, "plain/nested/broken.yaml");
            assert!((3..=4).contains(line), "{e}");
        }
        other => panic!("expected a YAML error naming the file, got {other}"),
    }

    let e = render_snapshot(&snap, "clusters/nowhere", &options).unwrap_err();
    assert!(
        e.to_string().contains("clusters/nowhere") && e.to_string().contains("no such directory"),
        "{e}"
    );
}

#[test]
fn paths_and_symlinks_escaping_the_repository_are_errors() {
    let (repo, _) = fleet();
    repo.symlink("escape", "../../..");
    repo.symlink("evil/passwd.yaml", "/etc/passwd");
    repo.write("evil/ok.yaml", &cm("ok", "1"));
    repo.symlink("inside/link.yaml", "../plain/one.yaml");
    repo.write("inside/kustomization.yaml", "resources: [link.yaml]\n");
    let commit = repo.commit("links");
    let daemon = GitDaemon::start(&repo);
    let cache = tempfile::tempdir().unwrap();
    let mut src = open(&daemon.url(), "main", cache.path(), Auth::None);
    let snap = src.snapshot(&commit).unwrap();
    let options = RenderOptions::default();

    for path in ["../x", "clusters/../../x", "escape", "escape/etc"] {
        let e = render_snapshot(&snap, path, &options).unwrap_err();
        assert!(matches!(e, RenderError::Restricted { .. }), "{path}: {e}");
        assert!(
            e.to_string().contains("outside the repository"),
            "{path}: {e}"
        );
    }
    let e = render_snapshot(&snap, "evil", &options).unwrap_err();
    assert!(
        e.to_string().starts_with("evil/passwd.yaml: security:"),
        "{e}"
    );
    // A link inside the repository but out of the kustomization directory
    // is refused as kustomize refuses it.
    let e = render_snapshot(&snap, "inside", &options).unwrap_err();
    assert!(matches!(e, RenderError::Restricted { .. }), "{e}");
}

#[test]
fn read_set_tells_which_commits_can_change_a_render() {
    let (repo, first) = fleet();
    let daemon = GitDaemon::start(&repo);
    let cache = tempfile::tempdir().unwrap();
    let mut src = open(&daemon.url(), "main", cache.path(), Auth::None);
    let options = RenderOptions::default();
    let s1 = src.snapshot(&first).unwrap();
    let us = render_snapshot(&s1, "clusters/us-east-1", &options).unwrap();
    let plain = render_snapshot(&s1, "plain", &options).unwrap();
    assert!(us.reads.len() >= 3, "{:?}", us.reads);
    assert!(!plain.reads.is_empty());

    let mut next = |edit: &dyn Fn(&FleetRepo), message: &str| {
        edit(&repo);
        let id = repo.commit(message);
        src.snapshot(&id).unwrap()
    };
    // Only another region's overlay: neither render can change.
    let s2 = next(
        &|r| {
            r.write(
                "clusters/eu-west-1/kustomization.yaml",
                "namePrefix: eu-\nresources: [../../base]\n",
            )
        },
        "eu only",
    );
    assert!(us.reads.unchanged_between(&s1, &s2).unwrap());
    assert!(plain.reads.unchanged_between(&s1, &s2).unwrap());
    // The base both regions read.
    let s3 = next(
        &|r| r.write("base/settings.yaml", &cm("settings", "new")),
        "base",
    );
    assert!(!us.reads.unchanged_between(&s1, &s3).unwrap());
    assert!(plain.reads.unchanged_between(&s1, &s3).unwrap());
    // A new file in a directory the plain render listed.
    let s4 = next(
        &|r| r.write("plain/nested/deeper/new.yaml", &cm("new", "n")),
        "new file",
    );
    assert!(!plain.reads.unchanged_between(&s3, &s4).unwrap());
    // A non-YAML file there still changes a listing the render looked at:
    // counted as a change (cheap to re-render, never wrong).
    let s5 = next(&|r| r.write("plain/notes.txt", "x"), "notes");
    assert!(!plain.reads.unchanged_between(&s4, &s5).unwrap());
    // An empty commit (same tree) changes nothing.
    let s6 = next(&|_| {}, "empty");
    assert!(plain.reads.unchanged_between(&s5, &s6).unwrap());
}

#[test]
fn two_sources_on_one_cache_at_once_and_a_local_path() {
    let (repo, first) = fleet();
    let daemon = GitDaemon::start(&repo);
    let cache = tempfile::tempdir().unwrap();
    let url = daemon.url();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..3)
            .map(|_| {
                s.spawn(|| {
                    let mut src = open(&url, "main", cache.path(), Auth::None);
                    let id = src.resolve().unwrap();
                    src.snapshot(&id).unwrap().revision
                })
            })
            .collect();
        for h in handles {
            assert_eq!(h.join().unwrap(), first);
        }
    });

    let local = repo.bare_path().display().to_string();
    let mut src = open(&local, "main", cache.path(), Auth::None);
    assert_eq!(src.resolve().unwrap(), first);
    let snap = src.snapshot(&first).unwrap();
    assert_eq!(
        render_snapshot(&snap, "plain", &RenderOptions::default())
            .unwrap()
            .rendered
            .objects
            .len(),
        2
    );
}
