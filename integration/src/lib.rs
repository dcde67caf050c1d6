//! Test support for the LwM2M cluster: a simulated LwM2M client ([`sim`]) and a harness that
//! starts real node and gateway processes against real Postgres and NATS ([`harness`]).
#![forbid(unsafe_code)]

pub mod harness;
pub mod sim;
