//! Copying stored data to another deployment or layout: a single server's data into a cluster,
//! and a model to a new bucket count through `rapyer-gen migrate`; a stopped copy resumes.

use rapyer::Model as _;
use rapyer_tests::fixtures::all_types::Sample;
use rapyer_tests::fixtures::indexes::{Gamer, Region};
use rapyer_tests::harness::TestRedis;
use rapyer_tests::samples::full_sample;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_servers_data_moves_into_a_cluster_with_its_indexes() {
    let single = TestRedis::new().await;
    let cluster = TestRedis::cluster().await;
    let (from, to) = (Gamer::repo(&single.client), Gamer::repo(&cluster.client));
    for i in 0..500i64 {
        let mut g = Gamer::new(format!("g{i:03}"), format!("g{i}@x"));
        g.score = i % 23;
        g.badge = (i % 2 == 0).then_some(i);
        g.region = [Region::Eu, Region::Us, Region::Asia][(i % 3) as usize];
        g.tags = vec![format!("t{i}"), "x".into()];
        from.insert(&g).await.unwrap();
    }
    let samples = Sample::repo(&single.client);
    let sample = full_sample("every type");
    samples.insert(&sample).await.unwrap();

    let report = rapyer::__private::copy(
        &single.client,
        &Gamer::META,
        &cluster.client,
        &Gamer::META,
        64,
    )
    .await
    .unwrap();
    assert_eq!((report.instances, report.copied), (500, 500), "{report:?}");
    assert!(
        report.conflicts.is_empty() && report.vanished == 0,
        "{report:?}"
    );
    let report = rapyer::__private::copy(
        &single.client,
        &Sample::META,
        &cluster.client,
        &Sample::META,
        64,
    )
    .await
    .unwrap();
    assert_eq!(report.copied, 1);
    assert_eq!(
        Sample::repo(&cluster.client)
            .get("every type")
            .await
            .unwrap(),
        Some(sample),
        "every type and container survives the copy"
    );

    // The same instances, the same answers from every index.
    let pks = from.all().await.unwrap();
    assert_eq!(to.all().await.unwrap(), pks);
    assert_eq!(
        from.get_many(pks.iter().map(String::as_str)).await.unwrap(),
        to.get_many(pks.iter().map(String::as_str)).await.unwrap()
    );
    assert_eq!(
        from.by_score().top(500).await.unwrap(),
        to.by_score().top(500).await.unwrap()
    );
    assert_eq!(
        from.by_region().find(Region::Us, 0, 500).await.unwrap(),
        to.by_region().find(Region::Us, 0, 500).await.unwrap()
    );
    for i in (0..500).step_by(7) {
        assert_eq!(
            to.get_by_email(format!("g{i}@x"))
                .await
                .unwrap()
                .unwrap()
                .handle,
            format!("g{i:03}")
        );
    }
    assert_eq!(to.by_badge().pk(4).await.unwrap(), Some("g004".to_string()));
    // Writes keep the indexes in step on the target: the copies are like any other instance.
    assert!(matches!(
        to.insert(&Gamer::new("late", "g3@x")).await,
        Err(rapyer::Error::UniqueViolation { .. })
    ));
    assert!(to.reindex().await.unwrap().conflicts.is_empty());

    // Running it again writes nothing.
    let again = rapyer::__private::copy(
        &single.client,
        &Gamer::META,
        &cluster.client,
        &Gamer::META,
        64,
    )
    .await
    .unwrap();
    assert_eq!((again.copied, again.already_there), (0, 500), "{again:?}");
}

#[tokio::test]
async fn rapyer_gen_migrate_moves_a_model_to_a_new_bucket_count_and_resumes() {
    use rapyer_tests::review_cases::keys::{new, old};
    let t = TestRedis::new().await;
    let (before, after) = (old::Ledger::repo(&t.client), new::Ledger::repo(&t.client));
    assert_eq!(
        (old::Ledger::META.buckets, new::Ledger::META.buckets),
        (1, 8)
    );
    for i in 0..120 {
        before
            .insert(&old::Ledger::new(format!("l{i:03}"), i))
            .await
            .unwrap();
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let run = || {
        let mut cmd = rapyer_tests::workspace_bin("rapyer-gen", "rapyer-gen");
        cmd.arg("migrate")
            .arg(root.join("review/keys/new"))
            .arg("--from-schema")
            .arg(root.join("review/keys/old"))
            .args([
                "--from-url",
                &t.url,
                "--to-url",
                &t.url,
                "--model",
                "Ledger",
            ])
            .args(["--batch", "50"]);
        if let Some(ns) = &t.namespace {
            cmd.args(["--namespace", ns]);
        }
        let out = cmd.output().expect("run rapyer-gen");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    };
    let out = run();
    assert!(
        out.contains("Ledger: 120 instances, 120 copied, 0 already there"),
        "{out}"
    );
    assert_eq!(after.count().await.unwrap(), 120);
    assert_eq!(after.get("l007").await.unwrap().unwrap().balance, 7);
    // A copy stopped half way (here: half of the copies lost) resumes by running it again.
    for i in (0..120).step_by(2) {
        after.delete(format!("l{i:03}").as_str()).await.unwrap();
    }
    let out = run();
    assert!(
        out.contains("Ledger: 120 instances, 60 copied, 60 already there"),
        "{out}"
    );
    assert_eq!(after.count().await.unwrap(), 120);
    let mut balances: Vec<i64> = after
        .get_many(after.all().await.unwrap().iter().map(String::as_str))
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.unwrap().balance)
        .collect();
    balances.sort_unstable();
    assert_eq!(balances, (0..120).collect::<Vec<_>>());
}
