//! Pipelines: several operations, instances and models in one atomic round trip; all or nothing.

use rapyer::Error;
use rapyer_tests::fixtures::all_types::{Color, Sample, SampleRepo};
use rapyer_tests::fixtures::keys_and_ttl::{Account, AccountRepo};
use rapyer_tests::harness::TestRedis;
use rapyer_tests::samples::empty_sample;
use redis::AsyncCommands;

async fn setup(t: &TestRedis) -> (SampleRepo, AccountRepo) {
    let samples = Sample::repo(&t.client);
    samples.save(&empty_sample("a")).await.unwrap();
    samples.save(&empty_sample("b")).await.unwrap();
    let accounts = Account::repo(&t.client);
    accounts.save(&Account::new(1)).await.unwrap();
    (samples, accounts)
}

/// The fields a failed pipeline must leave untouched.
async fn state(samples: &SampleRepo, accounts: &AccountRepo) -> (i64, u64, i64, i64) {
    (
        samples.fields("a").count().get().await.unwrap(),
        samples.fields("a").list_text().len().await.unwrap(),
        samples.fields("b").count().get().await.unwrap(),
        accounts.fields(&1).balance().get().await.unwrap(),
    )
}

rapyer_tests::on_all!(a_pipeline_spans_instances_and_models_with_typed_results);
async fn a_pipeline_spans_instances_and_models_with_typed_results(t: TestRedis) {
    let (samples, accounts) = setup(&t).await;
    let mut p = t.client.pipeline();
    let a = p.add(samples.fields("a").count().incr(5));
    let pushed = p.add(samples.fields("a").list_text().push_back("x"));
    let b = p.add(samples.fields("b").count().decr(5));
    let balance = p.add(accounts.fields(&1).balance().incr(100));
    let color = p.add(samples.fields("b").color().get());
    let again = p.add(samples.fields("a").count().incr(1));
    let read = p.add(samples.fields("a").list_text().range(0, -1));
    assert_eq!(p.len(), 7);
    let mut r = p.exec().await.unwrap();
    assert_eq!(r.take(a).unwrap(), 5);
    assert_eq!(r.take(pushed).unwrap(), 1);
    assert_eq!(r.take(b).unwrap(), -5);
    assert_eq!(r.take(balance).unwrap(), 100);
    assert_eq!(r.take(color).unwrap(), Color::Red);
    assert_eq!(r.take(again).unwrap(), 6, "later ops see earlier ones");
    assert_eq!(r.take(read).unwrap(), ["x"]);
    assert_eq!(state(&samples, &accounts).await, (6, 1, -5, 100));
}

rapyer_tests::on_all!(a_missing_instance_fails_the_whole_pipeline);
async fn a_missing_instance_fails_the_whole_pipeline(t: TestRedis) {
    let (samples, accounts) = setup(&t).await;
    let before = state(&samples, &accounts).await;
    let mut p = t.client.pipeline();
    p.add(samples.fields("a").count().incr(1));
    p.add(samples.fields("a").list_text().push_back("x"));
    p.add(accounts.fields(&404).balance().incr(1));
    p.add(samples.fields("b").count().incr(1));
    let err = p.exec().await.unwrap_err();
    assert!(
        matches!(err, Error::NotFound { model: "Account", ref pk, .. } if pk == "404"),
        "{err}"
    );
    assert_eq!(state(&samples, &accounts).await, before);
    let exists: bool = t
        .raw()
        .await
        .exists(accounts.key_of(&404).unwrap())
        .await
        .unwrap();
    assert!(!exists);
}

rapyer_tests::on_all!(invalid_arguments_fail_the_pipeline_before_it_is_sent);
async fn invalid_arguments_fail_the_pipeline_before_it_is_sent(t: TestRedis) {
    let (samples, accounts) = setup(&t).await;
    let before = state(&samples, &accounts).await;
    let mut p = t.client.pipeline();
    p.add(samples.fields("a").count().incr(1));
    p.add(samples.fields("a").ratio().set(f64::NAN));
    let err = p.exec().await.unwrap_err();
    assert!(
        matches!(err, Error::Encode { ref field, .. } if field == "ratio"),
        "{err}"
    );
    let mut p = t.client.pipeline();
    p.add(samples.fields("a").count().incr(1));
    p.add(samples.fields("").count().incr(1));
    assert!(matches!(p.exec().await, Err(Error::InvalidKey { .. })));
    assert_eq!(state(&samples, &accounts).await, before);
}

rapyer_tests::on_all!(many_increments_of_one_field_stay_exact_past_2_pow_53);
/// The script's precheck adds a field's increments as Lua numbers while they are exact (below
/// 2^53) and as text beyond: a pipeline crossing that line gets every sum exact, and one that
/// then overflows applies nothing.
async fn many_increments_of_one_field_stay_exact_past_2_pow_53(t: TestRedis) {
    let (samples, accounts) = setup(&t).await;
    let start = (1i64 << 53) - 3;
    samples.fields("a").count().set(start).await.unwrap();
    let mut p = t.client.pipeline();
    let sums: Vec<_> = (0..6)
        .map(|_| p.add(samples.fields("a").count().incr(1)))
        .collect();
    let mut r = p.exec().await.unwrap();
    let got: Vec<i64> = sums.into_iter().map(|h| r.take(h).unwrap()).collect();
    assert_eq!(got, (1..=6).map(|i| start + i).collect::<Vec<_>>());
    assert_eq!(samples.fields("a").count().get().await.unwrap(), start + 6);

    samples.fields("a").count().set(i64::MAX - 5).await.unwrap();
    let before = state(&samples, &accounts).await;
    let mut p = t.client.pipeline();
    for _ in 0..4 {
        p.add(samples.fields("a").count().incr(1));
    }
    p.add(samples.fields("b").count().incr(1));
    for _ in 0..4 {
        p.add(samples.fields("a").count().incr(1));
    }
    let err = p.exec().await.unwrap_err();
    assert!(matches!(err, Error::Overflow { .. }), "{err}");
    assert_eq!(state(&samples, &accounts).await, before);
}

rapyer_tests::on_all!(overflow_anywhere_in_the_pipeline_applies_nothing);
async fn overflow_anywhere_in_the_pipeline_applies_nothing(t: TestRedis) {
    let (samples, accounts) = setup(&t).await;
    samples
        .fields("b")
        .count()
        .set(i64::MAX - 10)
        .await
        .unwrap();
    let before = state(&samples, &accounts).await;
    // Each increment alone fits; the second one overflows only after the first.
    let mut p = t.client.pipeline();
    p.add(samples.fields("a").count().incr(1));
    p.add(samples.fields("b").count().incr(6));
    p.add(samples.fields("a").list_text().push_back("x"));
    p.add(samples.fields("b").count().incr(6));
    let err = p.exec().await.unwrap_err();
    assert!(
        matches!(err, Error::Overflow { ref field, .. } if field == "count"),
        "{err}"
    );
    assert_eq!(state(&samples, &accounts).await, before);

    // A value set earlier in the same pipeline counts too.
    let mut p = t.client.pipeline();
    p.add(accounts.fields(&1).balance().set(i64::MIN));
    p.add(accounts.fields(&1).balance().decr(1));
    assert!(matches!(p.exec().await, Err(Error::Overflow { .. })));
    // Float increments that would leave the finite range, after a set in the same pipeline.
    let mut p = t.client.pipeline();
    p.add(samples.fields("a").ratio().set(1e308));
    p.add(samples.fields("a").ratio().incr(1e308));
    assert!(matches!(p.exec().await, Err(Error::Overflow { .. })));
    assert_eq!(state(&samples, &accounts).await, before);
    assert_eq!(samples.fields("a").ratio().get().await.unwrap(), 0.0);

    // The exact boundary is fine: a map entry taken to i64::MIN in two steps.
    let mut p = t.client.pipeline();
    let first = p.add(samples.fields("a").map_count().incr("k", i64::MIN + 1));
    let last = p.add(samples.fields("a").map_count().incr("k", -1));
    let mut r = p.exec().await.unwrap();
    assert_eq!(
        (r.take(first).unwrap(), r.take(last).unwrap()),
        (i64::MIN + 1, i64::MIN)
    );
}

rapyer_tests::on_all!(junk_anywhere_in_the_pipeline_applies_nothing);
async fn junk_anywhere_in_the_pipeline_applies_nothing(t: TestRedis) {
    let (samples, accounts) = setup(&t).await;
    let key = samples.key_of("b").unwrap();
    let mut raw = t.raw().await;
    let _: () = raw.hset(&key, "count", "seven").await.unwrap();
    let _: () = raw.set(format!("{key}:set_text"), "x").await.unwrap();
    let before = (
        samples.fields("a").count().get().await.unwrap(),
        accounts.fields(&1).balance().get().await.unwrap(),
    );
    let prefix = |p: &mut rapyer::Pipeline| {
        p.add(samples.fields("a").count().incr(1));
        p.add(accounts.fields(&1).balance().incr(1));
    };
    // A stored value that is not an integer, then a container key of the wrong Redis type.
    let mut p = t.client.pipeline();
    prefix(&mut p);
    p.add(samples.fields("b").count().incr(1));
    let err = p.exec().await.unwrap_err();
    assert!(
        matches!(err, Error::Decode { key: ref k, ref field, .. } if *k == key && field == "count"),
        "{err}"
    );
    let mut p = t.client.pipeline();
    prefix(&mut p);
    p.add(samples.fields("b").set_text().add("y"));
    let err = p.exec().await.unwrap_err();
    assert!(
        matches!(err, Error::Decode { key: ref k, .. } if *k == format!("{key}:set_text")),
        "{err}"
    );
    let after = (
        samples.fields("a").count().get().await.unwrap(),
        accounts.fields(&1).balance().get().await.unwrap(),
    );
    assert_eq!(before, after);
}

rapyer_tests::on_all!(an_operation_that_changes_nothing_reports_its_own_error);
async fn an_operation_that_changes_nothing_reports_its_own_error(t: TestRedis) {
    let (samples, accounts) = setup(&t).await;
    let mut p = t.client.pipeline();
    let inc = p.add(accounts.fields(&1).balance().incr(3));
    let set = p.add(samples.fields("a").list_text().set(10, "x"));
    let popped = p.add(samples.fields("a").list_text().pop_back());
    let mut r = p.exec().await.unwrap();
    assert!(matches!(
        r.take(set),
        Err(Error::IndexOutOfRange { index: 10, .. })
    ));
    assert_eq!(r.take(popped).unwrap(), None);
    assert_eq!(r.take(inc).unwrap(), 3);
    assert_eq!(accounts.fields(&1).balance().get().await.unwrap(), 3);
}

rapyer_tests::on_all!(misuse_is_an_error_not_a_panic);
async fn misuse_is_an_error_not_a_panic(t: TestRedis) {
    let (samples, accounts) = setup(&t).await;
    let empty = t.client.pipeline().exec().await.unwrap();
    drop(empty);

    let mut p1 = t.client.pipeline();
    let s1 = p1.add(accounts.fields(&1).balance().get());
    let mut p2 = t.client.pipeline();
    p2.add(accounts.fields(&1).balance().get());
    let mut r1 = p1.exec().await.unwrap();
    let mut r2 = p2.exec().await.unwrap();
    assert!(matches!(r2.take(s1), Err(Error::Pipeline(_))));
    assert_eq!(r1.take(s1).unwrap(), 0);
    assert!(matches!(r1.take(s1), Err(Error::Pipeline(_))));

    // An operation built on another client (another connection) is refused.
    let other = t.builder().connect().await.unwrap();
    let mut p = t.client.pipeline();
    p.add(samples.fields("a").count().incr(1));
    p.add(Account::repo(&other).fields(&1).balance().incr(1));
    assert!(matches!(p.exec().await, Err(Error::Pipeline(_))));
    assert_eq!(samples.fields("a").count().get().await.unwrap(), 0);
}

rapyer_tests::on_all!(a_pipeline_sees_exact_sums_on_both_sides_of_the_short_integer_path);
/// A pipeline's precheck follows every increment's sum to catch an overflow before anything is
/// written: short operands (at most 15 characters) are added as doubles, longer ones digit by
/// digit. A sum from the short path feeding the long one must be exact to the unit: one more
/// than `i64::MAX` is refused with nothing written, exactly `i64::MAX` is applied.
async fn a_pipeline_sees_exact_sums_on_both_sides_of_the_short_integer_path(t: TestRedis) {
    let (samples, accounts) = setup(&t).await;
    let count = || samples.fields("a").count();
    for (sign, short) in [(1i64, 999_999_999_999_999i64), (-1, -99_999_999_999_999)] {
        // short + sign reaches 16 characters; then the long path takes over.
        let reach = short + sign;
        let limit = if sign > 0 { i64::MAX } else { i64::MIN };
        let before = state(&samples, &accounts).await;
        let mut p = t.client.pipeline();
        p.add(count().set(short));
        p.add(count().incr(sign));
        p.add(count().incr(limit - reach + sign));
        assert!(
            matches!(p.exec().await, Err(Error::Overflow { .. })),
            "one past the limit from {short}"
        );
        assert_eq!(state(&samples, &accounts).await, before, "nothing written");

        let mut p = t.client.pipeline();
        p.add(count().set(short));
        p.add(count().incr(sign));
        p.add(count().incr(limit - reach));
        p.exec().await.unwrap();
        assert_eq!(count().get().await.unwrap(), limit);
        count().set(0).await.unwrap();
    }
}
