//! Copying a model's instances from one layout to another: a single server's data into a
//! cluster, one namespace or server to another, or to a new bucket count or slot group (the
//! schema's `buckets:` and `slot_group:` move every key, `RS032`).
//!
//! The source is walked by keyset pages of its live pks; each page's instances are read (each
//! atomically) and written to the target, each as one whole-instance insert with its registry
//! and index entries (and unique claims where the target keeps them apart), concurrently. An
//! instance the target already has is left alone, so a copy that stopped half way (a crash, a
//! timeout) is resumed by running it again; a run over a fully copied model writes nothing.
//! The instance keeps the schema version that wrote it (`@v`); its TTL, if the target model has
//! one, starts again. Copy while the applications are stopped, or accept that writes made to
//! the source during the copy may be missed for instances already copied.

use crate::client::Client;
use crate::error::{Error, Result};
use crate::meta::ModelMeta;
use crate::page::Cursor;
use crate::record::{RecordWriter, VERSION_FIELD};
use crate::stored::{self, InstanceKeys, WriteMode};

/// What a copy did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyReport {
    /// Live instances listed at the source.
    pub instances: u64,
    /// Instances written to the target.
    pub copied: u64,
    /// Instances the target had already (an earlier run copied them): left alone.
    pub already_there: u64,
    /// Instances deleted at the source between their listing and their read.
    pub vanished: u64,
    /// Instances the target refused because another instance holds one of their unique values:
    /// `(pk, field, value, holder)`.
    pub conflicts: Vec<(String, String, String, String)>,
}

/// Copies every live instance of the model `from_meta` describes on `from` into the layout of
/// `to_meta` on `to`, `batch` instances at a time (see the module docs). Both descriptions
/// must be of the same model (same fields); only the layout (namespace, server, prefix,
/// buckets, slot group) may differ.
pub async fn copy(
    from: &Client,
    from_meta: &ModelMeta,
    to: &Client,
    to_meta: &ModelMeta,
    batch: usize,
) -> Result<CopyReport> {
    let mut report = CopyReport::default();
    let mut after: Option<Cursor> = None;
    loop {
        let page = stored::live_page(from, from_meta, after.as_ref(), batch.max(1)).await?;
        report.instances += page.items.len() as u64;
        let pks: Vec<String> = page.items.into_iter().map(|(pk, _)| pk).collect();
        let sources = pks
            .iter()
            .map(|pk| InstanceKeys::new(from, from_meta, pk.clone()))
            .collect::<Result<Vec<_>>>()?;
        let found = stored::read_many(from, from_meta, &sources).await?;
        let writes = pks.iter().zip(found).map(|(pk, found)| async move {
            let Some(found) = found else {
                return Ok(Outcome::Vanished);
            };
            let keys = InstanceKeys::new(to, to_meta, pk.clone())?;
            let version = found
                .hash
                .get(VERSION_FIELD)
                .cloned()
                .unwrap_or_else(|| to_meta.schema_version.to_string().into_bytes());
            let record = RecordWriter {
                hash: found.hash.into_iter().collect(),
                containers: found.containers,
            };
            match stored::write(
                to,
                to_meta,
                &keys,
                record,
                &version,
                WriteMode::Insert,
                None,
            )
            .await
            {
                Ok(_) => Ok(Outcome::Copied),
                Err(Error::AlreadyExists { .. }) => Ok(Outcome::AlreadyThere),
                Err(Error::UniqueViolation {
                    field,
                    value,
                    holder,
                    ..
                }) => Ok(Outcome::Conflict(pk.clone(), field, value, holder)),
                Err(e) => Err(e),
            }
        });
        for outcome in futures_util::future::try_join_all(writes).await? {
            match outcome {
                Outcome::Copied => report.copied += 1,
                Outcome::AlreadyThere => report.already_there += 1,
                Outcome::Vanished => report.vanished += 1,
                Outcome::Conflict(pk, field, value, holder) => {
                    report.conflicts.push((pk, field, value, holder))
                }
            }
        }
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(report),
        }
    }
}

/// What happened to one instance.
enum Outcome {
    Copied,
    AlreadyThere,
    Vanished,
    Conflict(String, String, String, String),
}
