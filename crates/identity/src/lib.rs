//! tend-identity
