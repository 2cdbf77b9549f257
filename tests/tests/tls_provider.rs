//! rustls needs a process-wide crypto provider, and panics when it has none and cannot pick one
//! from its crate features (when both ring and aws-lc-rs are compiled in, say). rapyer installs
//! ring before its first TLS connection when the application has not chosen one. Its own test
//! binary, so that nothing else in the process installed a provider first.

use rapyer::Client;
use rapyer_tests::harness::{RedisServer, Transport, tls_files};

#[tokio::test]
async fn the_first_tls_connection_installs_a_crypto_provider_when_none_is_set() {
    assert!(
        rustls::crypto::CryptoProvider::get_default().is_none(),
        "nothing in this process may have installed a provider yet"
    );
    let server = RedisServer::start(Transport::Tls);
    let db = Client::builder(&server.url)
        .tls_root_cert(tls_files().ca_pem.clone())
        .connect()
        .await
        .unwrap();
    assert!(rustls::crypto::CryptoProvider::get_default().is_some());
    let _: () = redis::cmd("SET")
        .arg("k")
        .arg("v")
        .query_async(&mut db.connection())
        .await
        .unwrap();
}
