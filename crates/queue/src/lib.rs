//! tend-queue
