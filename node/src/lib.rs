//! lwm2m-node: terminates CoAP, implements the LwM2M server interfaces, stores registrations in
//! Postgres and answers routed requests from the gateways over NATS.
#![forbid(unsafe_code)]

pub mod bus;
pub mod config;
pub mod convert;
pub mod dtls;
pub mod expiry;
pub mod inbound;
pub mod leases;
pub mod objects;
pub mod observe;
pub mod ops;
pub mod ownership;
pub mod process;
pub mod registration;
pub mod registry;
pub mod relay;
pub mod routing;
pub mod security;
pub mod security_check;
pub mod send;
pub mod store;
pub mod udp;
