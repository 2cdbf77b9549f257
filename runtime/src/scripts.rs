//! The Lua scripts rapyer runs. Each is sent with EVALSHA; redis-rs loads it and retries when
//! the server answers NOSCRIPT (after a restart or SCRIPT FLUSH).

use std::sync::LazyLock;

use redis::Script;

/// Whole-instance insert/save (see `lua/write_instance.lua`).
pub(crate) static WRITE_INSTANCE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/write_instance.lua")));

/// Count or list the live pks of a model (see `lua/live_pks.lua`).
pub(crate) static LIVE_PKS: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/live_pks.lua")));

/// Error code the write script returns when `insert` finds the instance.
pub(crate) const EXISTS_CODE: &str = "RAPYER_EXISTS";
