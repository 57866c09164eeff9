//! tend-client
