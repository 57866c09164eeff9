//! Near-duplicate clustering (being written).
