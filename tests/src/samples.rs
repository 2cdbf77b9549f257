//! Sample values of the `all_types` fixture with edge values in every field, shared by the
//! end-to-end tests.

use std::collections::{BTreeMap, BTreeSet};

use crate::fixtures::all_types::{Color, Everything, Inner, Sample};

/// A UTC datetime.
pub fn at(secs: i64, nanos: u32) -> rapyer::DateTime {
    rapyer::chrono::DateTime::from_timestamp(secs, nanos).unwrap()
}

/// A small `Inner` value.
pub fn inner(n: i64) -> Inner {
    Inner {
        n,
        ratio: n as f64 / 3.0,
        tags: vec![format!("t{n}"), String::new()],
    }
}

/// An `Everything` with edge values.
pub fn everything() -> Everything {
    Everything {
        flag: true,
        count: i64::MIN,
        ratio: 0.1 + 0.2,
        text: "ünïcödé ✓".into(),
        raw: vec![0, 1, 0, 255],
        at: at(1_700_000_000, 123_456_000),
        ident: rapyer::Uuid::new_v4(),
        data: rapyer::serde_json::json!({"nested": [1, 2.5, null, "x"]}),
        color: Color::DarkBlue,
        maybe: Some(-1),
        inner: inner(7),
        history: vec![1.5, -0.0, 1e300],
    }
}

/// Zero values, empty strings, empty containers and `None` everywhere.
pub fn empty_sample(name: &str) -> Sample {
    Sample::new(
        name,
        false,
        0,
        0.0,
        "",
        vec![],
        at(0, 0),
        rapyer::Uuid::nil(),
        rapyer::Json::Null,
        Color::Red,
        everything(),
    )
}

/// Edge values in every field of every shape.
pub fn full_sample(name: &str) -> Sample {
    let mut s = empty_sample(name);
    s.flag = true;
    s.count = i64::MAX;
    s.ratio = f64::MIN_POSITIVE;
    s.text = "tab\there \"quoted\" 中文 🎮".into();
    s.raw = b"\0nul\0inside\xff".to_vec();
    s.at = at(1_714_564_800, 1_000); // microseconds
    s.ident = rapyer::Uuid::from_u128(u128::MAX);
    s.data = rapyer::serde_json::json!({"k": [true, {"deep": 1}]});
    s.opt_flag = Some(false);
    s.opt_count = Some(i64::MIN);
    s.opt_ratio = Some(-2.5e-300);
    s.opt_text = Some(String::new());
    s.opt_raw = Some(vec![0]);
    s.opt_at = Some(at(-1, 999_999_000));
    s.opt_ident = Some(rapyer::Uuid::new_v4());
    s.opt_data = Some(rapyer::serde_json::json!([]));
    s.opt_color = Some(Color::Green);
    s.opt_inner = Some(inner(1));
    s.list_count = vec![i64::MIN, 0, i64::MAX, 0];
    s.list_ratio = vec![0.1, 1e-308, -1e308];
    s.list_text = vec![String::new(), "a".into(), "a".into(), "ü".into()];
    s.list_raw = vec![vec![], vec![0, 0]];
    s.list_at = vec![at(0, 1_000), at(4_102_444_800, 0)];
    s.list_ident = vec![rapyer::Uuid::nil()];
    s.list_data = vec![rapyer::Json::Null, rapyer::serde_json::json!({"a": 1})];
    s.list_color = vec![Color::Red, Color::Red, Color::DarkBlue];
    s.list_inner = vec![inner(1), inner(2)];
    s.list_list = vec![vec![], vec![1, 2, 3]];
    s.list_opt = vec![None, Some(String::new()), Some("x".into())];
    s.set_flag = BTreeSet::from([true, false]);
    s.set_count = BTreeSet::from([i64::MIN, -1, 0, i64::MAX]);
    s.set_text = BTreeSet::from([String::new(), "a b".into(), "ü".into()]);
    s.set_raw = BTreeSet::from([vec![], vec![0], vec![0, 0]]);
    s.set_at = BTreeSet::from([at(1, 1_000), at(1, 2_000)]);
    s.set_ident = BTreeSet::from([rapyer::Uuid::nil(), rapyer::Uuid::max()]);
    s.set_color = BTreeSet::from([Color::Green, Color::DarkBlue]);
    s.map_count = BTreeMap::from([(String::new(), -1), ("ü".into(), i64::MAX)]);
    s.map_ratio = BTreeMap::from([("pi".into(), std::f64::consts::PI)]);
    s.map_text = BTreeMap::from([("k".into(), String::new())]);
    s.map_raw = BTreeMap::from([("b".into(), vec![0, 255])]);
    s.map_color = BTreeMap::from([("c".into(), Color::Green)]);
    s.map_inner = BTreeMap::from([("i".into(), inner(3))]);
    s.map_list = BTreeMap::from([("l".into(), vec![0.5, 0.25]), ("empty".into(), vec![])]);
    s
}
