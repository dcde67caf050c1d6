//! The `lwm2m` operator CLI, as a library module so its pure parts can be unit-tested.
//!
//! Layout:
//! * [`args`] — the clap command line (global flags, subcommands, `--format` parsing);
//! * [`text`] — human output: typed values, the read tree, aligned tables, event lines;
//! * [`json`] — explicit conversions of the generated prost messages to `serde_json::Value`
//!   (prost types carry no serde impls), used by `--json`;
//! * [`values`] — typing of the values of `write` / `create` (`--type` or inferred), paths,
//!   Execute arguments;
//! * [`manage`] — the management commands (write, execute, create, delete, discover,
//!   write-attributes): request building and output;
//! * [`report`] — observe, durable observations and the notification lines;
//! * [`run`] — the gRPC calls against `lwm2m.v1.DeviceService`, error reporting and exit codes;
//! * [`security`] — `lwm2m security put|get|delete|list` against `lwm2m.v1.SecurityService`.
//!
//! The binary `src/bin/lwm2m.rs` only parses the command line and hands it to [`run::main`].

pub mod args;
pub mod json;
pub mod manage;
pub mod report;
pub mod run;
pub mod security;
pub mod text;
pub mod values;

use tonic::Code;

/// Canonical upper-case gRPC name of a status code (`NOT_FOUND`), as operators read it in docs
/// and in the status table of device.proto; tonic's `Display` gives a prose description instead.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_names_are_the_canonical_grpc_spelling() {
        assert_eq!(code_name(Code::NotFound), "NOT_FOUND");
        assert_eq!(code_name(Code::DeadlineExceeded), "DEADLINE_EXCEEDED");
        assert_eq!(code_name(Code::Unavailable), "UNAVAILABLE");
    }
}
