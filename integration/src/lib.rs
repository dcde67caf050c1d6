//! Test support for the LwM2M cluster: a simulated LwM2M client ([`sim`]) and a harness that
//! starts real node and gateway processes against real Postgres and NATS ([`harness`]), and the
//! benchmark scenarios of `lwm2m-bench` ([`bench`]).
#![forbid(unsafe_code)]

pub mod bench;
pub mod harness;
pub mod sim;
