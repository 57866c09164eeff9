//! tend-feedback
