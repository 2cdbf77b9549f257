//! The end-to-end suite, one test binary: linking one binary instead of one per file and
//! starting the shared test cluster once per process cut the suite's build and run time on
//! 2 cores (measured: 46 s -> 25 s to build the tests, 215 s -> 168 s to run them).
//!
//! Modules under `offline` never talk to a server (generation, snapshots, reviews, the
//! `build.rs` crate); the protocol and server jobs of `scripts/test.sh` skip them (`--skip
//! offline::`). `tests/tls_provider.rs` stays a binary of its own: it observes a process-wide
//! setting nothing else may have touched.

mod acl;
mod batch;
mod bulk;
mod cluster;
mod cluster_faults;
mod cluster_queries;
mod coalesce;
mod concurrency;
mod conditions;
mod connect;
mod crud;
mod deployment;
mod expiry;
mod field_ops;
mod indexes;
mod leaderboard_demo;
mod locks;
mod maxmemory;
mod migrate;
mod more_ops;
mod offline;
mod paging;
mod pipelines;
mod refs;
mod review_e2e;
mod sentinel;
mod structs;
mod tls;
mod transactions;
mod zset;
