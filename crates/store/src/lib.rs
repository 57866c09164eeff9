//! tend-store
