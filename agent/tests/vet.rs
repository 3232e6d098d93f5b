//! `rudder vet` as CI runs it: the real binary on real Git repositories made
//! in a temporary directory, no cluster. A good three-region fleet passes
//! with each region's object counts (as `kubectl kustomize` counts them); a
//! commit that breaks one region (bad YAML, a missing file, an unknown field,
//! a wrong type) names that region, the file and line or the object and
//! field, and exits 1; with `--base`, a commit that would prune most of a
//! region says the agent would refuse and names the guard; Secret values
//! never reach the change report; `-o json` carries the same verdicts.

use std::path::Path;
use std::process::Command;

use integration_tests::git_server::FleetRepo;
use serde_json::Value;

const RUDDER: &str = env!("CARGO_BIN_EXE_rudder");
const REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "ap-southeast-1"];
/// A Secret value that must never be printed, and its base64.
const SECRET: &str = "hunter2-do-not-print";
const SECRET_B64: &str = "aHVudGVyMi1kby1ub3QtcHJpbnQ=";

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn vet(dir: &Path, args: &[&str]) -> Run {
    let out = Command::new(RUDDER)
        .arg("vet")
        .arg(dir)
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("rudder runs");
    Run {
        code: out.status.code().expect("rudder exited"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn vet_json(dir: &Path, args: &[&str]) -> (i32, Value) {
    let mut all = args.to_vec();
    all.extend(["-o", "json"]);
    let run = vet(dir, &all);
    let report = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("vet -o json printed no JSON ({e}): {}", run.stdout));
    (run.code, report)
}

fn region<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["regions"]
        .as_array()
        .expect("regions")
        .iter()
        .find(|r| r["region"] == name)
        .unwrap_or_else(|| panic!("no region {name} in {report:#}"))
}

/// The paragraph of the text report about one region.
fn paragraph<'a>(text: &'a str, name: &str) -> &'a str {
    let start = text
        .find(&format!("region {name} ("))
        .unwrap_or_else(|| panic!("no paragraph for {name} in:\n{text}"));
    let rest = &text[start..];
    let end = rest.find("\n\n").unwrap_or(rest.len());
    &rest[..end]
}

fn deployment(replicas: &str) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: web}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        ports:
        - containerPort: 80
        resources:
          requests: {{cpu: 100m, memory: 64Mi}}
          limits: {{cpu: 1, memory: 128Mi}}
"
    )
}

/// A fleet in the seeds' shape: a base with a Namespace, a Deployment, a
/// Service, a ConfigMap carrying `${RUDDER_REGION}` and a Secret from a
/// generator; one overlay per region, ap-southeast-1 with two extra
/// objects (one of them a custom resource).
fn fleet() -> FleetRepo {
    let repo = FleetRepo::new();
    repo.write(
        "base/kustomization.yaml",
        "resources: [namespace.yaml, deployment.yaml, service.yaml, settings.yaml]
generatorOptions: {disableNameSuffixHash: true}
secretGenerator:
- name: creds
  namespace: shop
  literals: [password=first-value]
",
    );
    repo.write(
        "base/namespace.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n",
    );
    repo.write("base/deployment.yaml", &deployment("2"));
    repo.write(
        "base/service.yaml",
        "apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  ports:
  - port: 80
    targetPort: http
",
    );
    repo.write(
        "base/settings.yaml",
        "apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: shop}
data:
  region: \"${RUDDER_REGION}\"
  cluster: \"${RUDDER_CLUSTER}\"
",
    );
    for name in REGIONS {
        repo.write(
            &format!("clusters/{name}/kustomization.yaml"),
            "resources: [../../base]\n",
        );
    }
    repo.write(
        "clusters/ap-southeast-1/kustomization.yaml",
        "resources: [../../base, extra.yaml, widget.yaml]\n",
    );
    repo.write(
        "clusters/ap-southeast-1/extra.yaml",
        "apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web, namespace: shop}
spec:
  minAvailable: 1
  selector:
    matchLabels: {app: web}
",
    );
    repo.write(
        "clusters/ap-southeast-1/widget.yaml",
        "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w, namespace: shop}\nspec: {size: 3}\n",
    );
    repo.commit("a good fleet");
    repo
}

/// What `kubectl kustomize` renders for a region: the kind of each object.
fn kustomize_kinds(repo: &FleetRepo, name: &str) -> Vec<String> {
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(repo.work_path().join("clusters").join(name))
        .output()
        .expect("kubectl runs (the test script installs it)");
    assert!(
        out.status.success(),
        "kubectl kustomize: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("kind: "))
        .map(str::to_string)
        .collect()
}

#[test]
fn vet_passes_a_good_fleet_and_counts_each_regions_objects() {
    let repo = fleet();
    // vet reads the commit, never the work tree: an uncommitted break is not
    // what the agents will see.
    repo.write("clusters/eu-west-1/kustomization.yaml", "resources: [\n");
    let run = vet(repo.work_path(), &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let (code, report) = vet_json(repo.work_path(), &[]);
    assert_eq!(code, 0);
    assert_eq!(report["ok"], true);
    repo.remove("clusters/eu-west-1/kustomization.yaml");
    repo.write(
        "clusters/eu-west-1/kustomization.yaml",
        "resources: [../../base]\n",
    );
    for name in REGIONS {
        let kinds = kustomize_kinds(&repo, name);
        let text = paragraph(&run.stdout, name);
        assert!(
            text.contains(&format!(": ok: {} objects (kustomization", kinds.len())),
            "{text}"
        );
        let r = region(&report, name);
        assert_eq!(r["ok"], true, "{r:#}");
        assert_eq!(r["objects"], kinds.len(), "{r:#}");
        assert_eq!(r["path"], format!("clusters/{name}"));
        for kind in &kinds {
            let want = kinds.iter().filter(|k| *k == kind).count();
            assert_eq!(r["kinds"][kind], want, "{kind} in {r:#}");
        }
        let custom = kinds.iter().filter(|k| *k == "Widget").count();
        assert_eq!(r["schema"]["skipped"], custom);
        assert_eq!(r["schema"]["checked"], kinds.len() - custom);
        assert!(r["errors"].as_array().unwrap().is_empty());
        assert!(r["change"].is_null(), "no --base, no change report");
    }
    let note = paragraph(&run.stdout, "ap-southeast-1");
    assert!(
        note.contains("note: 1 object(s) of example.com/v1 Widget: no built-in schema"),
        "{note}"
    );
    assert!(
        run.stdout
            .contains("3 region overlay(s) vetted: 3 ok, 0 failed")
    );
}

/// Commits `files` over the good fleet and vets it: the break must fail
/// `broken` alone, in the text and the JSON report alike. Returns the text,
/// and the JSON findings of the broken region.
fn broken_region(files: &[(&str, &str)], broken: &str) -> (String, Vec<Value>) {
    let repo = fleet();
    for (path, content) in files {
        repo.write(path, content);
    }
    repo.commit("break one region");
    let run = vet(repo.work_path(), &[]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let (code, report) = vet_json(repo.work_path(), &[]);
    assert_eq!(code, 1);
    assert_eq!(report["ok"], false);
    for name in REGIONS {
        let ok = name != broken;
        assert!(
            paragraph(&run.stdout, name).contains(if ok { "): ok" } else { "): FAILED" }),
            "{}",
            run.stdout
        );
        assert_eq!(region(&report, name)["ok"], ok, "{name}");
    }
    assert!(
        run.stdout
            .contains("3 region overlay(s) vetted: 2 ok, 1 failed")
    );
    let findings = region(&report, broken)["errors"]
        .as_array()
        .unwrap()
        .clone();
    assert!(!findings.is_empty());
    (paragraph(&run.stdout, broken).to_string(), findings)
}

#[test]
fn vet_names_the_region_file_and_line_of_bad_yaml() {
    let bad = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [unclosed\n";
    let (text, findings) = broken_region(
        &[
            (
                "clusters/eu-west-1/kustomization.yaml",
                "resources: [../../base, bad.yaml]\n",
            ),
            ("clusters/eu-west-1/bad.yaml", bad),
        ],
        "eu-west-1",
    );
    let f = &findings[0];
    assert_eq!(f["code"], "RUD2001");
    assert_eq!(f["file"], "clusters/eu-west-1/bad.yaml");
    let line = f["line"].as_u64().expect("a line");
    // The parser reports where it saw the break: the unclosed line or the end.
    let unclosed = bad.lines().position(|l| l.contains("[unclosed")).unwrap() as u64 + 1;
    assert!(
        (unclosed..=bad.lines().count() as u64 + 1).contains(&line),
        "{f}"
    );
    assert!(
        text.contains(&format!(
            "error [eu-west-1] RUD2001: clusters/eu-west-1/bad.yaml:{line}:"
        )),
        "{text}"
    );
}

#[test]
fn vet_names_the_region_and_a_missing_file() {
    let kustomization = "namePrefix: east-\nresources: [../../base, gone.yaml]\n";
    let listed = kustomization
        .lines()
        .position(|l| l.contains("gone.yaml"))
        .unwrap()
        + 1;
    let (text, findings) = broken_region(
        &[("clusters/us-east-1/kustomization.yaml", kustomization)],
        "us-east-1",
    );
    let f = &findings[0];
    assert_eq!(f["code"], "RUD2002", "{f}");
    // The file and line that list it; the message names the missing file.
    assert_eq!(f["file"], "clusters/us-east-1/kustomization.yaml", "{f}");
    assert_eq!(f["line"], listed, "{f}");
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .starts_with("clusters/us-east-1/gone.yaml: no such file"),
        "{f}"
    );
    assert!(
        text.contains("clusters/us-east-1/gone.yaml: no such file"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "(at clusters/us-east-1/kustomization.yaml:{listed})"
        )),
        "{text}"
    );
}

#[test]
fn vet_names_the_object_and_path_of_an_unknown_field() {
    let patched = deployment("3").replace("  replicas: 3", "  replicass: 3");
    let (text, findings) = broken_region(
        &[
            (
                "clusters/ap-southeast-1/kustomization.yaml",
                "resources: [../../base, extra.yaml, widget.yaml]\npatches:\n- path: typo.yaml\n",
            ),
            ("clusters/ap-southeast-1/typo.yaml", &patched),
        ],
        "ap-southeast-1",
    );
    assert_eq!(findings.len(), 1, "{findings:?}");
    let f = &findings[0];
    assert_eq!(f["code"], "RUD3003");
    assert_eq!(f["object"], "Deployment/shop/web");
    assert_eq!(f["field"], "spec.replicass");
    assert!(
        text.contains(
            "error [ap-southeast-1] RUD3003: Deployment/shop/web: spec.replicass: unknown field"
        ),
        "{text}"
    );
}

#[test]
fn vet_names_the_object_and_path_of_a_wrong_type() {
    let (text, findings) = broken_region(
        &[(
            "clusters/eu-west-1/kustomization.yaml",
            "resources: [../../base]
patches:
- target: {kind: Service, name: web}
  patch: |
    - op: replace
      path: /spec/ports/0/port
      value: eighty
",
        )],
        "eu-west-1",
    );
    let f = &findings[0];
    assert_eq!(f["object"], "Service/shop/web");
    assert_eq!(f["field"], "spec.ports[0].port");
    assert!(
        f["message"].as_str().unwrap().contains("expected i32"),
        "{f}"
    );
    assert!(
        text.contains("Service/shop/web: spec.ports[0].port: invalid type"),
        "{text}"
    );
}

#[test]
fn vet_with_base_reports_changes_and_a_prune_the_agent_would_refuse() {
    let repo = fleet();
    let base_eu = kustomize_kinds(&repo, "eu-west-1").len();
    // us-east-1: one change; eu-west-1: only the Namespace is left.
    repo.write(
        "clusters/us-east-1/kustomization.yaml",
        "resources: [../../base]
patches:
- target: {kind: Deployment, name: web}
  patch: |
    - op: replace
      path: /spec/replicas
      value: 5
",
    );
    repo.write(
        "clusters/eu-west-1/kustomization.yaml",
        "resources: [namespace.yaml]\n",
    );
    repo.write(
        "clusters/eu-west-1/namespace.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n",
    );
    repo.commit("scale us-east-1, gut eu-west-1");
    let run = vet(repo.work_path(), &["--base", "HEAD~1"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let us = paragraph(&run.stdout, "us-east-1");
    assert!(us.contains("): ok"), "{us}");
    assert!(us.contains("    ~ Deployment/shop/web"), "{us}");
    assert!(us.contains("0 to create, 1 to change"), "{us}");
    let eu = paragraph(&run.stdout, "eu-west-1");
    assert!(eu.contains("): FAILED"), "{eu}");
    assert!(
        eu.contains("error [eu-west-1] RUD3006: refusing to prune"),
        "{eu}"
    );
    assert!(
        eu.contains("the agent would refuse this prune (guard max-prune-share)"),
        "{eu}"
    );
    assert!(eu.contains("    - Deployment/shop/web (refused)"), "{eu}");
    let ap = paragraph(&run.stdout, "ap-southeast-1");
    assert!(ap.contains("0 to create, 0 to change"), "{ap}");

    let (code, report) = vet_json(repo.work_path(), &["--base", "HEAD~1"]);
    assert_eq!(code, 1);
    let eu = &region(&report, "eu-west-1")["change"];
    assert_eq!(eu["base_objects"], base_eu);
    assert_eq!(eu["prune"].as_array().unwrap().len(), base_eu - 1);
    let refused = &eu["prune_refused"];
    assert_eq!(refused["guard"], "max-prune-share");
    assert_eq!(refused["would_prune"], base_eu - 1);
    assert_eq!(refused["inventory"], base_eu);
    let us = &region(&report, "us-east-1")["change"];
    assert_eq!(us["change"][0]["object"], "Deployment/shop/web");
    assert!(us["prune_refused"].is_null());
    assert_eq!(us["unchanged"], base_eu - 1);

    // The same prune, allowed as an agent with --max-prune-share 1 would.
    let (code, report) = vet_json(
        repo.work_path(),
        &["--base", "HEAD~1", "--max-prune-share", "1"],
    );
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(
        region(&report, "eu-west-1")["change"]["prune"]
            .as_array()
            .unwrap()
            .len(),
        base_eu - 1
    );
    // And as agents without --prune: nothing is deleted, all is kept.
    let (code, report) = vet_json(repo.work_path(), &["--base", "HEAD~1", "--no-prune"]);
    assert_eq!(code, 0, "{report:#}");
    let eu = &region(&report, "eu-west-1")["change"];
    assert!(eu["prune"].as_array().unwrap().is_empty());
    assert_eq!(eu["kept"].as_array().unwrap().len(), base_eu - 1);
}

#[test]
fn vet_with_base_refuses_an_empty_render_and_a_removed_region_fails() {
    let repo = fleet();
    repo.remove("clusters/us-east-1/kustomization.yaml");
    repo.write("clusters/us-east-1/README.md", "moved away\n");
    repo.remove("clusters/ap-southeast-1");
    repo.commit("empty one region, remove another");
    let (code, report) = vet_json(repo.work_path(), &["--base", "HEAD~1"]);
    assert_eq!(code, 1);
    let us = region(&report, "us-east-1");
    assert_eq!(
        us["change"]["prune_refused"]["guard"], "empty-render",
        "{us:#}"
    );
    assert_eq!(
        us["change"]["prune_refused"]["allow_with"],
        "--allow-empty-prune"
    );
    // Found in the base only: its agent would fail to render its path.
    let ap = region(&report, "ap-southeast-1");
    assert_eq!(ap["ok"], false);
    assert!(
        ap["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("no such directory"),
        "{ap:#}"
    );
    assert_eq!(region(&report, "eu-west-1")["ok"], true);
}

#[test]
fn vet_change_report_never_shows_secret_values() {
    let repo = fleet();
    repo.write(
        "clusters/eu-west-1/kustomization.yaml",
        &format!(
            "resources: [../../base]
secretGenerator:
- name: creds
  namespace: shop
  behavior: replace
  literals: [password={SECRET}]
generatorOptions: {{disableNameSuffixHash: true}}
"
        ),
    );
    repo.commit("rotate the eu-west-1 password");
    let run = vet(repo.work_path(), &["--base", "HEAD~1", "--diff"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let eu = paragraph(&run.stdout, "eu-west-1");
    assert!(eu.contains("    ~ Secret/shop/creds"), "{eu}");
    assert!(eu.contains("redacted, new value"), "{eu}");
    let (_, report) = vet_json(repo.work_path(), &["--base", "HEAD~1"]);
    let json = report.to_string();
    for leak in [SECRET, SECRET_B64, "first-value", "Zmlyc3QtdmFsdWU="] {
        assert!(!run.stdout.contains(leak), "{leak} in:\n{}", run.stdout);
        assert!(!json.contains(leak), "{leak} in the JSON");
    }
}

#[test]
fn vet_takes_path_templates_and_region_lists_and_sets_the_region_variables() {
    let repo = fleet();
    repo.write(
        "apps/rudder-eu-west-1/settings.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: shop}\ndata: {c: \"${RUDDER_CLUSTER}\"}\n",
    );
    repo.commit("an apps directory for one cluster");
    let (code, report) = vet_json(
        repo.work_path(),
        &[
            "--region",
            "eu-west-1",
            "--path",
            "apps/{cluster}",
            "--cluster",
            "rudder-{region}",
        ],
    );
    assert_eq!(code, 0, "{report:#}");
    let regions = report["regions"].as_array().unwrap();
    assert_eq!(regions.len(), 1);
    assert_eq!(regions[0]["path"], "apps/rudder-eu-west-1");
    assert_eq!(regions[0]["cluster"], "rudder-eu-west-1");
    assert_eq!(regions[0]["mode"], "directory");
    // A variable with no value fails the render, as in the agent.
    repo.write(
        "apps/rudder-eu-west-1/settings.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: shop}\ndata: {c: \"${TIER}\"}\n",
    );
    repo.commit("use an unset variable");
    let args = ["--region", "eu-west-1", "--path", "apps/rudder-{region}"];
    let (code, report) = vet_json(repo.work_path(), &args);
    assert_eq!(code, 1);
    assert_eq!(report["regions"][0]["errors"][0]["code"], "RUD2007");
    let mut with_var = args.to_vec();
    with_var.extend(["--var", "TIER=gold"]);
    assert_eq!(vet_json(repo.work_path(), &with_var).0, 0);
}

#[test]
fn vet_outside_a_repository_or_with_a_bad_revision_cannot_run() {
    let dir = tempfile::tempdir().unwrap();
    let run = vet(dir.path(), &[]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("not a Git repository"),
        "{}",
        run.stderr
    );
    let repo = fleet();
    let run = vet(repo.work_path(), &["--base", "no-such-branch"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("no-such-branch"), "{}", run.stderr);
}

#[test]
fn vet_with_base_takes_an_implicit_and_an_explicit_namespace_as_one_object() {
    let repo = FleetRepo::new();
    repo.write(
        "clusters/us-east-1/settings.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {a: \"1\"}\n",
    );
    repo.commit("no namespace written");
    repo.write(
        "clusters/us-east-1/settings.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: default}\ndata: {a: \"1\"}\n",
    );
    repo.commit("the namespace written out");
    let (code, report) = vet_json(repo.work_path(), &["--base", "HEAD~1"]);
    assert_eq!(code, 0, "{report:#}");
    let change = &region(&report, "us-east-1")["change"];
    assert_eq!(change["unchanged"], 1, "{change:#}");
    assert!(change["create"].as_array().unwrap().is_empty());
    assert!(change["prune"].as_array().unwrap().is_empty());
    // Agents whose default namespace is another see a new object and the
    // old one leaving: all of the inventory, which the guard refuses.
    let (code, report) = vet_json(
        repo.work_path(),
        &["--base", "HEAD~1", "--default-namespace", "rudder-system"],
    );
    assert_eq!(code, 1, "{report:#}");
    let change = &region(&report, "us-east-1")["change"];
    assert_eq!(change["create"][0], "ConfigMap/default/settings");
    assert_eq!(change["prune"][0], "ConfigMap/rudder-system/settings");
    assert_eq!(change["prune_refused"]["guard"], "max-prune-share");
}

#[test]
fn vet_with_an_apps_file_judges_each_app_with_its_own_prune() {
    let repo = FleetRepo::new();
    let cm = |name: &str| {
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: shop}}\n")
    };
    for name in ["a", "b", "c"] {
        repo.write(&format!("shop/us-east-1/{name}.yaml"), &cm(name));
        repo.write(&format!("infra/{name}.yaml"), &cm(&format!("infra-{name}")));
    }
    repo.commit("two apps");
    for name in ["b", "c"] {
        repo.remove(&format!("shop/us-east-1/{name}.yaml"));
        repo.remove(&format!("infra/{name}.yaml"));
    }
    repo.commit("two thirds of both apps go");
    let dir = tempfile::tempdir().unwrap();
    let apps = dir.path().join("apps.yaml");
    std::fs::write(
        &apps,
        "apps:\n  - {name: shop, path: 'shop/{region}', prune: true}\n  - {name: infra, path: infra}\n",
    )
    .unwrap();
    let args = [
        "--region",
        "us-east-1",
        "--apps",
        apps.to_str().unwrap(),
        "--base",
        "HEAD~1",
    ];
    let (code, report) = vet_json(repo.work_path(), &args);
    assert_eq!(code, 1, "{report:#}");
    let regions = report["regions"].as_array().unwrap();
    let app = |name: &str| {
        regions
            .iter()
            .find(|r| r["app"] == name)
            .unwrap_or_else(|| panic!("no app {name} in {report:#}"))
    };
    // The pruning app would be stopped by the share guard ...
    assert_eq!(app("shop")["path"], "shop/us-east-1");
    assert_eq!(
        app("shop")["change"]["prune_refused"]["guard"],
        "max-prune-share"
    );
    // ... the other one prunes nothing: its agent keeps what left Git.
    let infra = &app("infra")["change"];
    assert_eq!(app("infra")["ok"], true, "{infra:#}");
    assert!(infra["prune"].as_array().unwrap().is_empty());
    assert_eq!(infra["kept"].as_array().unwrap().len(), 2, "{infra:#}");
    let text = vet(repo.work_path(), &args).stdout;
    assert!(
        text.contains("region us-east-1 (app shop: shop/us-east-1, cluster us-east-1): FAILED"),
        "{text}"
    );
}
