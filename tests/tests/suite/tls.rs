//! TLS against real TLS-only redis-servers with certificates made by the test (a private CA):
//! mutual TLS, a cluster whose every node (and bus) speaks TLS, and the errors a wrong CA, a
//! certificate for another host, a missing client certificate or a plain URL give at connect,
//! at once rather than after reconnect retries. The CRUD, field-op, pipeline, transaction and
//! lock suites also run over TLS (`on_all!`).

use std::convert::Infallible;
use std::time::{Duration, Instant};

use rapyer::{Client, Error};
use rapyer_tests::fixtures::keys_and_ttl::{Account, Wallet};
use rapyer_tests::harness::{RedisCluster, RedisServer, Transport, tls_files};

/// Connecting fails with a connect error, quickly; returns its text.
async fn refused(builder: rapyer::ClientBuilder) -> String {
    let start = Instant::now();
    let err = builder
        .connect()
        .await
        .expect_err("the connection must be refused");
    let elapsed = start.elapsed();
    assert!(
        elapsed < Duration::from_secs(2),
        "refused only after {elapsed:?} (retries?): {err}"
    );
    match err {
        Error::Connect { .. } => {
            println!("refused in {elapsed:?}: {err}");
            err.to_string()
        }
        other => panic!("expected Error::Connect, got {other:?}"),
    }
}

#[tokio::test]
async fn mutual_tls_serves_shared_dedicated_and_lock_connections() {
    let files = tls_files();
    let server = RedisServer::start_with(Transport::Tls, &["--tls-auth-clients", "yes"]);

    // No client certificate: the server hangs up after the handshake.
    let text = refused(Client::builder(&server.url).tls_root_cert(files.ca_pem.clone())).await;
    assert!(text.contains("127.0.0.1"), "{text}");

    let db = Client::builder(&server.url)
        .tls_root_cert(files.ca_pem.clone())
        .tls_client_cert(files.client_cert_pem.clone(), files.client_key_pem.clone())
        .connect()
        .await
        .unwrap();
    assert_eq!(
        db.server().product,
        rapyer_tests::harness::server_program().trim_end_matches("-server")
    );
    let accounts = Account::repo(&db);
    accounts.insert(&Account::new(1)).await.unwrap();
    assert_eq!(accounts.fields(&1).balance().incr(5).await.unwrap(), 5);
    // `update` runs on a dedicated connection (WATCH): TLS with the client certificate too.
    accounts
        .update(&1, |a| {
            a.balance *= 10;
            Ok::<_, Infallible>(())
        })
        .await
        .unwrap();
    let guard = accounts.lock(&1, "audit").await.unwrap();
    guard.release().await.unwrap();
    assert_eq!(accounts.get(&1).await.unwrap().unwrap().balance, 50);

    // A raw client of the test proves the server saw TLS clients only: plain TCP is off.
    let plain = format!("redis://127.0.0.1:{}/", server.port().expect("a TCP port"));
    refused(Client::builder(&plain)).await;
}

#[tokio::test]
async fn a_wrong_ca_or_host_name_fails_at_connect_at_once() {
    let files = tls_files();
    let server = RedisServer::start(Transport::Tls);
    let text =
        refused(Client::builder(&server.url).tls_root_cert(files.other_ca_pem.clone())).await;
    assert!(text.contains("certificate"), "{text}");
    // The system's roots do not know the test CA either.
    let text = refused(Client::builder(&server.url)).await;
    assert!(text.contains("certificate"), "{text}");
    // Through the cluster client too.
    let text =
        refused(Client::cluster_builder(&[&server.url]).tls_root_cert(files.other_ca_pem.clone()))
            .await;
    assert!(text.contains("certificate"), "{text}");

    let wrong_host = RedisServer::start_with(
        Transport::Tls,
        &tls_files()
            .wrong_host_args()
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    let text = refused(Client::builder(&wrong_host.url).tls_root_cert(files.ca_pem.clone())).await;
    assert!(text.contains("certificate"), "{text}");
}

#[tokio::test]
async fn certificates_for_a_plain_url_are_a_configuration_error() {
    let server = RedisServer::start(Transport::Tcp);
    let err = Client::builder(&server.url)
        .tls_root_cert(tls_files().ca_pem.clone())
        .connect()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err:?}");
    assert!(err.to_string().contains("not rediss://"), "{err}");
    let err = Client::builder("rediss://127.0.0.1:1/")
        .tls_root_cert("not a certificate")
        .connect()
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Config(_) | Error::Connect { .. }),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_cluster_serves_every_node_and_dedicated_connections() {
    let files = tls_files();
    let cluster = RedisCluster::start_tls(3, 0);
    let urls = cluster.urls();
    assert!(urls.iter().all(|u| u.starts_with("rediss://")));
    let db = Client::cluster_builder(&urls)
        .tls_root_cert(files.ca_pem.clone())
        .tls_client_cert(files.client_cert_pem.clone(), files.client_key_pem.clone())
        .connect()
        .await
        .unwrap();
    assert!(db.is_cluster());
    assert_eq!(db.server().mode, "cluster");
    // 64 wallets over 16 buckets: every master serves some, over TLS.
    let wallets = Wallet::repo(&db);
    for i in 0..64 {
        let owner = format!("w{i}");
        wallets.insert(&Wallet::new(owner.clone())).await.unwrap();
        wallets
            .fields(owner.as_str())
            .coins()
            .incr(i)
            .await
            .unwrap();
    }
    let mut masters_used = std::collections::BTreeSet::new();
    for i in 0..64 {
        let key = wallets.key_of(format!("w{i}").as_str()).unwrap();
        masters_used.insert(cluster.owner_of(&key));
        // update: WATCH on a dedicated TLS connection to the slot's master.
        wallets
            .update(format!("w{i}").as_str(), |w| {
                w.coins += 1;
                Ok::<_, Infallible>(())
            })
            .await
            .unwrap();
    }
    assert_eq!(
        masters_used.len(),
        3,
        "the wallets should span every master"
    );
    let total: i64 = wallets
        .get_many(&(0..64).map(|i| format!("w{i}")).collect::<Vec<_>>())
        .await
        .unwrap()
        .into_iter()
        .map(|w| w.unwrap().coins)
        .sum();
    assert_eq!(total, (0..64).sum::<i64>() + 64);
}

#[test]
fn the_demo_takes_tls_files() {
    let files = tls_files();
    let server = RedisServer::start_with(Transport::Tls, &["--tls-auth-clients", "yes"]);
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let ca = write("ca.pem", &files.ca_pem);
    let cert = write("client.pem", &files.client_cert_pem);
    let key = write("client.key", &files.client_key_pem);
    let demo = |args: &[&str]| {
        let out = rapyer_tests::workspace_bin("rapyer-example", "leaderboard")
            .args(["--redis", &server.url, "--tls-ca", &ca])
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (ok, out) = demo(&["--tls-cert", &cert, "--tls-key", &key, "seed", "20"]);
    assert!(ok && out.contains("seeded 20 players"), "{out}");
    let (ok, out) = demo(&["--tls-cert", &cert, "--tls-key", &key, "top", "--n", "3"]);
    assert!(ok && out.lines().count() == 3, "{out}");
    // Without the client certificate the server refuses, and the demo says so.
    let (ok, out) = demo(&["top"]);
    assert!(!ok && out.contains("cannot connect to 127.0.0.1"), "{out}");
}
