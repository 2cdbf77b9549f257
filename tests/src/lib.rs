//! End-to-end tests of rapyer-rs: schema -> generate -> compile -> real Redis.
//!
//! The generated code of every fixture in `fixtures/` is committed (a snapshot) and compiled here,
//! so a snapshot that does not build, or is not clippy clean, fails the build.

pub mod expect;
pub mod harness;
pub mod samples;

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
