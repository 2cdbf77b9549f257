//! Certificates for TLS test servers, made by the test process itself (rcgen, once per process):
//! a CA, a server certificate for 127.0.0.1 and localhost, a client certificate for mutual TLS,
//! a server certificate naming another host, and a second CA that signed nothing here.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

/// PEM texts and the files redis-server reads.
pub struct TlsFiles {
    dir: tempfile::TempDir,
    /// The CA that signed the server and client certificates.
    pub ca_pem: String,
    /// A CA that signed nothing a test server presents.
    pub other_ca_pem: String,
    /// The client certificate (mutual TLS).
    pub client_cert_pem: String,
    /// Its private key.
    pub client_key_pem: String,
}

/// The certificates of this test process.
pub fn tls_files() -> &'static TlsFiles {
    static FILES: OnceLock<TlsFiles> = OnceLock::new();
    FILES.get_or_init(TlsFiles::generate)
}

fn new_ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::new()).expect("CA params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    CertifiedIssuer::self_signed(params, KeyPair::generate().expect("key")).expect("CA")
}

/// A leaf certificate and its key, PEM.
fn leaf(
    issuer: &CertifiedIssuer<'static, KeyPair>,
    names: &[&str],
    usages: &[ExtendedKeyUsagePurpose],
) -> (String, String) {
    let mut params =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .expect("leaf params");
    params.distinguished_name.push(DnType::CommonName, names[0]);
    params.use_authority_key_identifier_extension = true;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = usages.to_vec();
    let key = KeyPair::generate().expect("key");
    let cert = params.signed_by(&key, issuer).expect("leaf");
    (cert.pem(), key.serialize_pem())
}

impl TlsFiles {
    fn generate() -> TlsFiles {
        let dir = tempfile::Builder::new()
            .prefix("rapyer-tls-")
            .tempdir()
            .expect("temp dir");
        let ca = new_ca("rapyer test CA");
        let other = new_ca("another CA");
        // Nodes of a TLS cluster present their server certificate to each other as clients.
        let both = [
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let server = leaf(&ca, &["127.0.0.1", "localhost"], &both);
        let wrong_host = leaf(&ca, &["elsewhere.invalid"], &both);
        let client = leaf(
            &ca,
            &["rapyer-client"],
            &[ExtendedKeyUsagePurpose::ClientAuth],
        );
        let write = |name: &str, text: &str| {
            std::fs::write(dir.path().join(name), text).expect("write certificate");
        };
        write("ca.pem", &ca.pem());
        write("server.pem", &server.0);
        write("server.key", &server.1);
        write("wrong-host.pem", &wrong_host.0);
        write("wrong-host.key", &wrong_host.1);
        TlsFiles {
            ca_pem: ca.pem(),
            other_ca_pem: other.pem(),
            client_cert_pem: client.0,
            client_key_pem: client.1,
            dir,
        }
    }

    fn file(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    /// redis-server arguments for TLS only on `port` (plain TCP off), clients authenticated
    /// as `auth_clients` says (`no`, `optional`, `yes`), the server certificate for 127.0.0.1.
    pub fn server_args(&self, port: u16, auth_clients: &str) -> Vec<String> {
        vec![
            "--port".into(),
            "0".into(),
            "--tls-port".into(),
            port.to_string(),
            "--tls-cert-file".into(),
            self.file("server.pem"),
            "--tls-key-file".into(),
            self.file("server.key"),
            "--tls-ca-cert-file".into(),
            self.file("ca.pem"),
            "--tls-auth-clients".into(),
            auth_clients.into(),
        ]
    }

    /// The lines of a sentinel's configuration that make it listen with TLS only on `port`
    /// and reach the servers it watches over TLS.
    pub fn sentinel_conf(&self, port: u16) -> String {
        format!(
            "port 0\ntls-port {port}\ntls-cert-file {}\ntls-key-file {}\ntls-ca-cert-file {}\n\
             tls-auth-clients optional\ntls-replication yes\n",
            self.file("server.pem"),
            self.file("server.key"),
            self.file("ca.pem"),
        )
    }

    /// redis-server arguments that make it present a certificate for another host name.
    pub fn wrong_host_args(&self) -> Vec<String> {
        vec![
            "--tls-cert-file".into(),
            self.file("wrong-host.pem"),
            "--tls-key-file".into(),
            self.file("wrong-host.key"),
        ]
    }

    /// redis-rs TLS settings trusting the test CA, with the client certificate.
    pub fn certificates(&self) -> redis::TlsCertificates {
        redis::TlsCertificates {
            client_tls: Some(redis::ClientTlsConfig {
                client_cert: self.client_cert_pem.clone().into_bytes(),
                client_key: self.client_key_pem.clone().into_bytes(),
            }),
            root_cert: Some(self.ca_pem.clone().into_bytes()),
        }
    }

    /// The directory holding the files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The CA file, for redis-cli `--cacert`.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }
}
