//! The ingest service's tables and queries, all tenant-scoped: the interactions, the tenants'
//! trained classifiers and topic dictionaries; and the migrations that make them.

pub mod classifiers;
mod interactions;
mod migrations;
pub mod topics;

pub use interactions::*;
pub use migrations::Migrator;
