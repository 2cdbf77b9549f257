//! The contract between generated code and the runtime: a [`Model`] describes one schema model
//! ([`ModelMeta`]) and converts between the Rust value and its Redis record.

use crate::error::Result;
use crate::meta::{ModelMeta, PkRef, PrimaryKey};
use crate::ops::{FieldHandle, Sink};
use crate::record::{RecordReader, RecordWriter};

/// A schema model. Implemented by generated code; users call the repository instead.
pub trait Model: Sized + Send + Sync + 'static {
    /// The primary key type.
    type Pk: PrimaryKey + PkRef;
    /// The typed handles on the fields of one instance (`<Model>Fields`), their operations going
    /// to `S`.
    type Fields<S: Sink>: FieldHandle<S>;
    /// Static facts about the model.
    const META: ModelMeta;
    /// This instance's primary key.
    fn pk(&self) -> &Self::Pk;
    /// Writes every field into a record.
    fn write_record(&self, w: &mut RecordWriter) -> Result<()>;
    /// Reads an instance back from a record.
    fn read_record(r: &mut RecordReader) -> Result<Self>;
}
