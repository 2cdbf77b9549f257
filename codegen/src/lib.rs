//! rapyer-codegen: compiles YAML schemas into typed Rust for the `rapyer` runtime.
pub mod diagnostic;
pub mod load;
pub mod check;
pub mod ir;

pub use diagnostic::Diagnostics;
