//! tend-cases
