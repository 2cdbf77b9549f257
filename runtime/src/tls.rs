//! TLS settings of a client: a private CA and a client certificate for mutual TLS, applied to
//! every connection it opens (the shared one, dedicated transaction connections, cluster nodes,
//! the masters Sentinel names), through rustls with the ring provider (the `tls` feature).

use redis::{ConnectionAddr, ConnectionInfo};

use crate::error::{Error, Result};

/// PEM bytes given to the builder. Debug never prints them.
#[derive(Clone, Default)]
pub(crate) struct TlsSettings {
    /// CA certificates to trust instead of the system's roots.
    pub(crate) root_cert: Option<Vec<u8>>,
    /// Certificate chain and private key presented to the server (mutual TLS).
    pub(crate) client: Option<(Vec<u8>, Vec<u8>)>,
}

impl std::fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSettings")
            .field("root_cert", &self.root_cert.as_ref().map(|_| "<set>"))
            .field("client", &self.client.as_ref().map(|_| "<set>"))
            .finish()
    }
}

impl TlsSettings {
    fn is_set(&self) -> bool {
        self.root_cert.is_some() || self.client.is_some()
    }

    /// `info` (from a URL) with these settings: a `rediss://` URL gets them; a plain URL with
    /// settings, or any `rediss://` URL without the `tls` feature, is a configuration error.
    pub(crate) fn apply(&self, info: ConnectionInfo) -> Result<ConnectionInfo> {
        let tls_url = matches!(info.addr(), ConnectionAddr::TcpTls { .. });
        if !tls_url {
            if self.is_set() {
                return Err(Error::Config(format!(
                    "TLS certificates were given for {}, whose URL is not rediss://",
                    info.addr()
                )));
            }
            return Ok(info);
        }
        self.apply_tls(info)
    }

    #[cfg(feature = "tls")]
    fn apply_tls(&self, info: ConnectionInfo) -> Result<ConnectionInfo> {
        ensure_crypto_provider();
        if !self.is_set() {
            return Ok(info);
        }
        let server = info.addr().to_string();
        let client = redis::Client::build_with_tls(info, self.certificates()).map_err(|e| {
            Error::Config(format!(
                "the TLS certificates for {server} are not usable: {e}"
            ))
        })?;
        Ok(client.get_connection_info().clone())
    }

    #[cfg(not(feature = "tls"))]
    fn apply_tls(&self, info: ConnectionInfo) -> Result<ConnectionInfo> {
        Err(Error::Config(format!(
            "{} needs TLS (rediss://), but rapyer was built without its `tls` feature",
            info.addr()
        )))
    }

    /// The settings as redis-rs takes them (the cluster client applies them to every node).
    #[cfg(feature = "tls")]
    pub(crate) fn certificates(&self) -> redis::TlsCertificates {
        redis::TlsCertificates {
            client_tls: self
                .client
                .as_ref()
                .map(|(cert, key)| redis::ClientTlsConfig {
                    client_cert: cert.clone(),
                    client_key: key.clone(),
                }),
            root_cert: self.root_cert.clone(),
        }
    }

    /// Whether the cluster client needs [`certificates`](Self::certificates).
    #[cfg(feature = "tls")]
    pub(crate) fn for_cluster(&self) -> Option<&Self> {
        self.is_set().then_some(self)
    }
}

/// Gives rustls a process-wide crypto provider before the first TLS connection: ring, unless the
/// application installed one. rustls panics when it has none and cannot pick one from its crate
/// features (when another crate enables aws-lc-rs beside ring, say); this makes that
/// impossible whatever features are on.
#[cfg(feature = "tls")]
pub(crate) fn ensure_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Another thread may install one first: then that one is used, which is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}
