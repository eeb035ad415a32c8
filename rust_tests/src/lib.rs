//! Models of the contract's objects and a small client for the contract tests.
//!
//! The models deserialize strictly: a renamed, missing or unexpected field fails.

pub mod client;
pub mod facts;
pub mod models;
