//! tend-kernel
