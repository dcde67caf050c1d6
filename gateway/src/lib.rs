//! lwm2m-gateway: the stateless gRPC front of the cluster, and the `lwm2m` CLI.
#![forbid(unsafe_code)]

pub mod cli;
pub mod config;
pub mod deadline;
pub mod owners;
pub mod replies;
pub mod reporting;
pub mod route;
pub mod security;
pub mod service;
pub mod status;
pub mod watch;
