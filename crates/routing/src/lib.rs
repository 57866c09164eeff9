//! tend-routing
