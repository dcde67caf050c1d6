//! Sans-IO core of the LwM2M node.
//!
//! Nothing in this crate performs I/O or reads the clock: callers pass `now`
//! and move bytes. The drivers in `lwm2m-node` (UDP, later DTLS) loop over it.
#![forbid(unsafe_code)]

pub mod coap;
pub mod content;
pub mod fuzzing;
pub mod link;
pub mod lwm2m;
