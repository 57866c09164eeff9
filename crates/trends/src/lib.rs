//! Hot topics and similar posts, as pure logic (no I/O, the clock passed in): routing keeps the
//! state in its tables and calls these to decide.
//!
//! - [`burst`]: is a topic's volume now a burst? Counts in a sliding window against a baseline
//!   learned per hour of the week, with a significance test, hysteresis and a reason a person
//!   reads ("41 posts in 30 min, 9× the usual for a Tuesday morning").
//! - [`cluster`]: which earlier post is this one a near-duplicate of? MinHash signatures
//!   (`tend-text`) indexed by LSH bands, clusters joined in constant time, windowed.

pub mod burst;
pub mod cluster;
