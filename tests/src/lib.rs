//! End-to-end tests of rapyer-rs: schema -> generate -> compile -> real Redis.
//!
//! The generated code of every fixture in `fixtures/` is committed (a snapshot) and compiled here,
//! so a snapshot that does not build, or is not clippy clean, fails the build.

pub mod expect;
pub mod harness;
pub mod samples;

/// A workspace binary for a test to run: the one `cargo test --workspace` built next to the test
/// executable, or else `cargo run -p <package> --bin <name>`.
pub fn workspace_bin(package: &str, name: &str) -> std::process::Command {
    let built = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join(name)))
        .filter(|p| p.is_file());
    match built {
        Some(bin) => std::process::Command::new(bin),
        None => {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let mut cmd = std::process::Command::new(cargo);
            cmd.args(["run", "-q", "--offline", "-p", package, "--bin", name, "--"]);
            cmd
        }
    }
}

/// Code generated from each fixture schema (`fixtures/<name>/schema` -> `fixtures/<name>/generated`).
pub mod fixtures {
    /// Every schema type, alone and nested, with defaults; a natural string key.
    pub mod all_types {
        include!("../fixtures/all_types/generated/mod.rs");
    }
    /// Integer and uuid natural keys, a pinned prefix and a TTL.
    pub mod keys_and_ttl {
        include!("../fixtures/keys_and_ttl/generated/mod.rs");
    }
    /// Types spread over several files; docs with newlines and code in them.
    pub mod multi_file {
        include!("../fixtures/multi_file/generated/mod.rs");
    }
    /// Every index kind, on plain, optional and nested fields.
    pub mod indexes {
        include!("../fixtures/indexes/generated/mod.rs");
    }
}

/// The fixture names, in the order above.
pub const FIXTURES: &[&str] = &["all_types", "keys_and_ttl", "multi_file", "indexes"];

/// Code generated from both sides of the schema-review fixtures (`review/<case>/{old,new}`), for
/// the end-to-end compatibility tests: the old code writes, the new code reads, and back.
pub mod review_cases {
    #[allow(missing_docs)]
    pub mod models {
        pub mod old {
            include!("../review/models/old/generated/mod.rs");
        }
        pub mod new {
            include!("../review/models/new/generated/mod.rs");
        }
    }
    #[allow(missing_docs)]
    pub mod types {
        pub mod old {
            include!("../review/types/old/generated/mod.rs");
        }
        pub mod new {
            include!("../review/types/new/generated/mod.rs");
        }
    }
    #[allow(missing_docs)]
    pub mod fields_added {
        pub mod old {
            include!("../review/fields_added/old/generated/mod.rs");
        }
        pub mod new {
            include!("../review/fields_added/new/generated/mod.rs");
        }
    }
    #[allow(missing_docs)]
    pub mod fields_removed {
        pub mod old {
            include!("../review/fields_removed/old/generated/mod.rs");
        }
        pub mod new {
            include!("../review/fields_removed/new/generated/mod.rs");
        }
    }
    #[allow(missing_docs)]
    pub mod field_types {
        pub mod old {
            include!("../review/field_types/old/generated/mod.rs");
        }
        pub mod new {
            include!("../review/field_types/new/generated/mod.rs");
        }
    }
    #[allow(missing_docs)]
    pub mod defaults {
        pub mod old {
            include!("../review/defaults/old/generated/mod.rs");
        }
        pub mod new {
            include!("../review/defaults/new/generated/mod.rs");
        }
    }
    #[allow(missing_docs)]
    pub mod variants {
        pub mod old {
            include!("../review/variants/old/generated/mod.rs");
        }
        pub mod new {
            include!("../review/variants/new/generated/mod.rs");
        }
    }
    #[allow(missing_docs)]
    pub mod keys {
        pub mod old {
            include!("../review/keys/old/generated/mod.rs");
        }
        pub mod new {
            include!("../review/keys/new/generated/mod.rs");
        }
    }
    #[allow(missing_docs)]
    pub mod indexes {
        pub mod old {
            include!("../review/indexes/old/generated/mod.rs");
        }
        pub mod new {
            include!("../review/indexes/new/generated/mod.rs");
        }
    }
    #[allow(missing_docs)]
    pub mod renames {
        pub mod old {
            include!("../review/renames/old/generated/mod.rs");
        }
        pub mod new {
            include!("../review/renames/new/generated/mod.rs");
        }
    }
    #[allow(missing_docs)]
    pub mod leaderboard_v3 {
        pub mod old {
            include!("../review/leaderboard_v3/old/generated/mod.rs");
        }
        pub mod new {
            include!("../review/leaderboard_v3/new/generated/mod.rs");
        }
    }
}

/// The review cases whose generated code is compiled above.
pub const REVIEW_CASES: &[&str] = &[
    "models",
    "types",
    "fields_added",
    "fields_removed",
    "field_types",
    "defaults",
    "variants",
    "keys",
    "indexes",
    "renames",
    "leaderboard_v3",
];
