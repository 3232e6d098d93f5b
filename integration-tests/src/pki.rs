//! Each cluster's own credentials: a CA, the apiserver's serving certificate
//! for 127.0.0.1, the service-account signing key, and random bearer tokens
//! for the admin identity and for the program under test.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

use crate::{Result, TestbedError};

pub struct Pki {
    pub ca_cert: PathBuf,
    pub serving_cert: PathBuf,
    pub serving_key: PathBuf,
    pub service_account_key: PathBuf,
    pub service_account_public_key: PathBuf,
    pub token_file: PathBuf,
    pub admin_token: String,
    pub rudder_token: String,
}

fn cert_error(e: rcgen::Error) -> TestbedError {
    TestbedError::Build(format!("generating test-bed certificates: {e}"))
}

pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .expect("reading /dev/urandom");
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn generate(dir: &Path, cluster: &str) -> Result<Pki> {
    fs::create_dir_all(dir).map_err(crate::io_context(format!("creating {}", dir.display())))?;
    let write = |name: &str, contents: &str| -> Result<PathBuf> {
        let path = dir.join(name);
        fs::write(&path, contents)
            .map_err(crate::io_context(format!("writing {}", path.display())))?;
        Ok(path)
    };

    let ca_key = KeyPair::generate().map_err(cert_error)?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(cert_error)?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, format!("rudder-testbed-ca-{cluster}"));
    let ca_cert = ca_params.self_signed(&ca_key).map_err(cert_error)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let serving_key = KeyPair::generate().map_err(cert_error)?;
    let mut serving_params = CertificateParams::new(vec![
        "127.0.0.1".to_string(),
        "localhost".to_string(),
        "kubernetes".to_string(),
        "kubernetes.default".to_string(),
        "kubernetes.default.svc".to_string(),
        "10.0.0.1".to_string(),
    ])
    .map_err(cert_error)?;
    serving_params
        .distinguished_name
        .push(DnType::CommonName, "kube-apiserver");
    let serving_cert = serving_params
        .signed_by(&serving_key, &issuer)
        .map_err(cert_error)?;

    let sa_key = KeyPair::generate().map_err(cert_error)?;
    let admin_token = random_hex(16);
    let rudder_token = random_hex(16);
    let tokens = format!(
        "{admin_token},admin,1,\"system:masters\"\n{rudder_token},rudder,2,\"system:masters\"\n"
    );

    Ok(Pki {
        ca_cert: write("ca.crt", &ca_cert.pem())?,
        serving_cert: write("apiserver.crt", &serving_cert.pem())?,
        serving_key: write("apiserver.key", &serving_key.serialize_pem())?,
        service_account_key: write("sa.key", &sa_key.serialize_pem())?,
        service_account_public_key: write("sa.pub", &sa_key.public_key_pem())?,
        token_file: write("tokens.csv", &tokens)?,
        admin_token,
        rudder_token,
    })
}
