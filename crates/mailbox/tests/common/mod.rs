//! The test servers, from `tend_mailbox::testing`.
#![allow(unused_imports)]

pub use tend_mailbox::testing::*;
