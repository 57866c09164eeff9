//! tend-ingest
