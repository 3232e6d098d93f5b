//! One isolated Kubernetes cluster on 127.0.0.1: its own etcd, kube-apiserver
//! (own ports, certificates, tokens and kubeconfig), kube-controller-manager,
//! kube-scheduler and kwok with one simulated Node, so Deployments really
//! become Available and Namespaces really finish deleting.
//!
//! Startup order: etcd (until `/health`), kube-apiserver (until `/readyz`),
//! then the controllers, then the Node; ready once the Node is Ready and the
//! `default` ServiceAccount exists (Pods can be admitted).

use std::collections::HashSet;
use std::fs;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node, ServiceAccount};
use kube::api::{Api, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::controlplane::{self, Binaries};
use crate::process::Supervised;
use crate::{Result, TestbedError, pki};

/// What to start.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    pub name: String,
    pub region: String,
    /// Write the apiserver's audit log (`audit.log` in the cluster's
    /// directory, Metadata level), to count one client's own requests.
    pub audit_log: bool,
    /// Extra kube-apiserver flags (tests use it to provoke a startup failure).
    pub extra_apiserver_args: Vec<String>,
}

impl ClusterOptions {
    pub fn new(name: impl Into<String>, region: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            region: region.into(),
            audit_log: false,
            extra_apiserver_args: Vec::new(),
        }
    }
}

/// A running cluster. Dropping it stops every process it started and removes
/// its directory.
pub struct Cluster {
    name: String,
    region: String,
    dir: PathBuf,
    kubeconfig: PathBuf,
    rudder_kubeconfig: PathBuf,
    server: String,
    client: kube::Client,
    binaries: Binaries,
    apiserver_args: Vec<String>,
    apiserver_port: u16,
    // Stopped in reverse order of start by Drop.
    etcd: Option<Supervised>,
    apiserver: Option<Supervised>,
    controllers: Vec<Supervised>,
    janitor: Option<Supervised>,
}

/// Ports handed out by this process, so that concurrent starts never pick
/// the same one before the component binds it.
static PORTS_IN_USE: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

fn free_port() -> u16 {
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("binding an ephemeral port on 127.0.0.1");
        let mut used = PORTS_IN_USE.lock().unwrap_or_else(|e| e.into_inner());
        if used.get_or_insert_with(HashSet::new).insert(port) {
            return port;
        }
    }
}

// Generous: on two loaded cores three clusters starting at once can take minutes.
const READY_TIMEOUT: Duration = Duration::from_secs(300);

impl Cluster {
    /// Starts a cluster in `parent/<name>`, building the control plane first
    /// if the cache does not have it yet.
    pub async fn start(options: ClusterOptions, parent: &Path) -> Result<Cluster> {
        let binaries = tokio::task::spawn_blocking(controlplane::ensure)
            .await
            .map_err(|e| TestbedError::Build(e.to_string()))??;
        let dir = parent.join(&options.name);
        if dir.exists() {
            fs::remove_dir_all(&dir)
                .map_err(crate::io_context(format!("clearing {}", dir.display())))?;
        }
        fs::create_dir_all(&dir)
            .map_err(crate::io_context(format!("creating {}", dir.display())))?;
        let janitor = Supervised::janitor(&dir)?;
        let pki = pki::generate(&dir.join("pki"), &options.name)?;

        let etcd_client_port = free_port();
        let etcd_peer_port = free_port();
        let apiserver_port = free_port();
        let server = format!("https://127.0.0.1:{apiserver_port}");
        let kubeconfig = dir.join("kubeconfig");
        let rudder_kubeconfig = dir.join("kubeconfig-rudder");
        write_kubeconfig(
            &kubeconfig,
            &options.name,
            &server,
            &pki.ca_cert,
            "admin",
            &pki.admin_token,
        )?;
        write_kubeconfig(
            &rudder_kubeconfig,
            &options.name,
            &server,
            &pki.ca_cert,
            "rudder",
            &pki.rudder_token,
        )?;

        let mut cluster = Cluster {
            name: options.name.clone(),
            region: options.region.clone(),
            client: client_from(&kubeconfig).await?,
            dir: dir.clone(),
            kubeconfig,
            rudder_kubeconfig,
            server,
            apiserver_args: apiserver_args(&options, &dir, &pki, etcd_client_port, apiserver_port)?,
            apiserver_port,
            binaries,
            etcd: None,
            apiserver: None,
            controllers: Vec::new(),
            janitor: Some(janitor),
        };

        cluster.start_etcd(etcd_client_port, etcd_peer_port).await?;
        cluster.start_apiserver().await?;
        cluster.start_controllers(&pki)?;
        cluster.register_node().await?;
        cluster.wait_until_workloads_can_run().await?;
        Ok(cluster)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    /// The admin kubeconfig (identity `admin`, group `system:masters`).
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig
    }

    /// A kubeconfig for the program under test (identity `rudder`, also
    /// `system:masters`), so the audit log can tell its requests apart.
    pub fn rudder_kubeconfig_path(&self) -> &Path {
        &self.rudder_kubeconfig
    }

    /// The apiserver's URL.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// A ready client with the admin identity.
    pub fn client(&self) -> kube::Client {
        self.client.clone()
    }

    /// The cluster's working directory (logs, kubeconfigs, audit log).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The audit log, when started with `audit_log`.
    pub fn audit_log_path(&self) -> PathBuf {
        self.dir.join("audit.log")
    }

    /// Stops the apiserver only (a regional outage): etcd and the data stay.
    pub fn stop_apiserver(&mut self) {
        if let Some(mut apiserver) = self.apiserver.take() {
            apiserver.stop();
        }
    }

    /// Starts the apiserver again on the same port with the same
    /// credentials, and waits until it is ready.
    pub async fn start_apiserver(&mut self) -> Result<()> {
        if self.apiserver.is_some() {
            return Ok(());
        }
        let log = self.dir.join("kube-apiserver.log");
        let apiserver = Supervised::spawn(
            "kube-apiserver",
            &self.binaries.path("kube-apiserver"),
            &self.apiserver_args,
            &log,
        )?;
        self.apiserver = Some(apiserver);
        let client = self.client.clone();
        self.wait_for("kube-apiserver", "waiting for /readyz", move || {
            let client = client.clone();
            async move {
                let request = http::Request::get("/readyz").body(Vec::new()).ok()?;
                client
                    .request_text(request)
                    .await
                    .ok()
                    .filter(|body| body.trim() == "ok")
            }
        })
        .await?;
        Ok(())
    }

    /// Is the apiserver process running?
    pub fn apiserver_running(&self) -> bool {
        self.apiserver.is_some()
    }

    async fn start_etcd(&mut self, client_port: u16, peer_port: u16) -> Result<()> {
        let client_url = format!("http://127.0.0.1:{client_port}");
        let peer_url = format!("http://127.0.0.1:{peer_port}");
        let args: Vec<String> = vec![
            "--name=etcd".into(),
            format!("--data-dir={}", self.dir.join("etcd").display()),
            format!("--listen-client-urls={client_url}"),
            format!("--advertise-client-urls={client_url}"),
            format!("--listen-peer-urls={peer_url}"),
            format!("--initial-advertise-peer-urls={peer_url}"),
            format!("--initial-cluster=etcd={peer_url}"),
            "--unsafe-no-fsync=true".into(),
            "--log-level=warn".into(),
        ];
        let etcd = Supervised::spawn(
            "etcd",
            &self.binaries.path("etcd"),
            &args,
            &self.dir.join("etcd.log"),
        )?;
        self.etcd = Some(etcd);
        let addr: SocketAddr = ([127, 0, 0, 1], client_port).into();
        self.wait_for("etcd", "waiting for /health", move || async move {
            tokio::task::spawn_blocking(move || {
                crate::agent::request(addr, "GET", "/health", &[], b"")
            })
            .await
            .ok()
            .flatten()
            .filter(|(status, body)| *status == 200 && body.contains("true"))
        })
        .await?;
        Ok(())
    }

    fn start_controllers(&mut self, pki: &pki::Pki) -> Result<()> {
        let kubeconfig = format!("--kubeconfig={}", self.kubeconfig.display());
        let kcm_args = vec![
            kubeconfig.clone(),
            "--leader-elect=false".into(),
            "--secure-port=0".into(),
            "--controllers=*".into(),
            format!(
                "--service-account-private-key-file={}",
                pki.service_account_key.display()
            ),
            format!("--root-ca-file={}", pki.ca_cert.display()),
            "--use-service-account-credentials=true".into(),
            "--concurrent-namespace-syncs=5".into(),
        ];
        let scheduler_args = vec![
            kubeconfig.clone(),
            "--leader-elect=false".into(),
            "--secure-port=0".into(),
        ];
        let kwok_args = vec![
            kubeconfig,
            format!(
                "--config={}",
                self.binaries.path("kwok-stages.yaml").display()
            ),
            "--manage-all-nodes=true".into(),
            "--cidr=10.244.0.0/16".into(),
            "--node-ip=127.0.0.1".into(),
            // Heartbeats by Lease, as a kubelet sends them: without one,
            // kwok patches the Node's status only every minute or so, the
            // node lifecycle controller marks the Node NotReady in between
            // and its Pods stay unready, so Deployments never settle.
            "--node-lease-duration-seconds=40".into(),
        ];
        for (name, args) in [
            ("kube-controller-manager", kcm_args),
            ("kube-scheduler", scheduler_args),
            ("kwok", kwok_args),
        ] {
            let log = self.dir.join(format!("{name}.log"));
            self.controllers.push(Supervised::spawn(
                name,
                &self.binaries.path(name),
                &args,
                &log,
            )?);
        }
        Ok(())
    }

    async fn register_node(&self) -> Result<()> {
        let node: Node = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": "kwok-node-0",
                "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
                "labels": {"type": "kwok", "kubernetes.io/hostname": "kwok-node-0", "kubernetes.io/os": "linux"}
            },
            "status": {
                "allocatable": {"cpu": "64", "memory": "256Gi", "pods": "1000"},
                "capacity": {"cpu": "64", "memory": "256Gi", "pods": "1000"},
                "nodeInfo": {"architecture": "amd64", "operatingSystem": "linux", "kubeletVersion": "fake"}
            }
        }))
        .expect("a valid Node");
        Api::<Node>::all(self.client())
            .create(&PostParams::default(), &node)
            .await
            .map_err(|e| self.error(format!("registering the kwok Node: {e}")))?;
        Ok(())
    }

    async fn wait_until_workloads_can_run(&mut self) -> Result<()> {
        let nodes: Api<Node> = Api::all(self.client());
        self.wait_for(
            "kwok",
            "waiting for Node kwok-node-0 to be Ready",
            move || {
                let nodes = nodes.clone();
                async move {
                    let node = nodes.get("kwok-node-0").await.ok()?;
                    let ready = node
                        .status?
                        .conditions?
                        .iter()
                        .any(|c| c.type_ == "Ready" && c.status == "True");
                    ready.then_some(())
                }
            },
        )
        .await?;
        let accounts: Api<ServiceAccount> = Api::namespaced(self.client(), "default");
        self.wait_for(
            "kube-controller-manager",
            "waiting for ServiceAccount default/default",
            move || {
                let accounts = accounts.clone();
                async move { accounts.get_opt("default").await.ok().flatten() }
            },
        )
        .await?;
        Ok(())
    }

    /// Polls `probe` until it yields a value; fails with the component's log
    /// tail when the component exits or the deadline passes.
    async fn wait_for<T, F, Fut>(&mut self, component: &str, what: &str, probe: F) -> Result<T>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let started = Instant::now();
        loop {
            if let Some(value) = probe().await {
                return Ok(value);
            }
            if let Some(process) = self.process_mut(component)
                && let Some(status) = process.exited()
            {
                return Err(
                    self.startup_error(component, format!("{what}: it exited with {status}"))
                );
            }
            if started.elapsed() > READY_TIMEOUT {
                return Err(self.startup_error(
                    component,
                    format!("{what}: not ready after {} s", READY_TIMEOUT.as_secs()),
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn process_mut(&mut self, component: &str) -> Option<&mut Supervised> {
        self.etcd
            .iter_mut()
            .chain(self.apiserver.iter_mut())
            .chain(self.controllers.iter_mut())
            .find(|p| p.name == component)
    }

    fn startup_error(&self, component: &str, reason: String) -> TestbedError {
        let log = self.dir.join(format!("{component}.log"));
        TestbedError::Startup {
            cluster: self.name.clone(),
            component: component.to_string(),
            reason,
            tail: crate::process::tail(&log, 25),
            log: log.display().to_string(),
        }
    }

    fn error(&self, message: String) -> TestbedError {
        TestbedError::Cluster {
            cluster: self.name.clone(),
            message,
        }
    }

    /// The apiserver's port.
    pub fn apiserver_port(&self) -> u16 {
        self.apiserver_port
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for mut controller in self.controllers.drain(..).rev() {
            controller.stop();
        }
        self.stop_apiserver();
        if let Some(mut etcd) = self.etcd.take() {
            etcd.stop();
        }
        let _ = fs::remove_dir_all(&self.dir);
        self.janitor.take();
    }
}

fn apiserver_args(
    options: &ClusterOptions,
    dir: &Path,
    pki: &pki::Pki,
    etcd_port: u16,
    port: u16,
) -> Result<Vec<String>> {
    let mut args: Vec<String> = vec![
        format!("--etcd-servers=http://127.0.0.1:{etcd_port}"),
        format!("--etcd-prefix=/{}/registry", options.name),
        format!("--cert-dir={}", dir.join("pki").display()),
        format!("--tls-cert-file={}", pki.serving_cert.display()),
        format!("--tls-private-key-file={}", pki.serving_key.display()),
        format!("--secure-port={port}"),
        "--bind-address=127.0.0.1".into(),
        "--advertise-address=127.0.0.1".into(),
        "--endpoint-reconciler-type=none".into(),
        "--service-account-issuer=https://kubernetes.default.svc".into(),
        format!(
            "--service-account-key-file={}",
            pki.service_account_public_key.display()
        ),
        format!(
            "--service-account-signing-key-file={}",
            pki.service_account_key.display()
        ),
        format!("--token-auth-file={}", pki.token_file.display()),
        format!("--client-ca-file={}", pki.ca_cert.display()),
        "--authorization-mode=RBAC".into(),
        "--service-cluster-ip-range=10.0.0.0/24".into(),
        "--allow-privileged=true".into(),
        "--profiling=false".into(),
    ];
    if options.audit_log {
        let policy = dir.join("audit-policy.yaml");
        fs::write(
            &policy,
            "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n- level: Metadata\n",
        )
        .map_err(crate::io_context(format!("writing {}", policy.display())))?;
        args.push(format!("--audit-policy-file={}", policy.display()));
        args.push(format!(
            "--audit-log-path={}",
            dir.join("audit.log").display()
        ));
        args.push("--audit-log-mode=blocking".into());
    }
    args.extend(options.extra_apiserver_args.iter().cloned());
    Ok(args)
}

fn write_kubeconfig(
    path: &Path,
    cluster: &str,
    server: &str,
    ca: &Path,
    user: &str,
    token: &str,
) -> Result<()> {
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: {cluster}\n  cluster:\n    server: {server}\n    certificate-authority: {ca}\nusers:\n- name: {user}\n  user:\n    token: {token}\ncontexts:\n- name: {cluster}\n  context:\n    cluster: {cluster}\n    user: {user}\ncurrent-context: {cluster}\n",
        ca = ca.display()
    );
    fs::write(path, text).map_err(crate::io_context(format!("writing {}", path.display())))
}

/// A client from a kubeconfig file, as any program would build it.
pub async fn client_from(kubeconfig: &Path) -> Result<kube::Client> {
    let io = |e: &dyn std::fmt::Display| {
        TestbedError::Build(format!("kubeconfig {}: {e}", kubeconfig.display()))
    };
    let kc = Kubeconfig::read_from(kubeconfig).map_err(|e| io(&e))?;
    let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .map_err(|e| io(&e))?;
    kube::Client::try_from(config).map_err(|e| io(&e))
}
