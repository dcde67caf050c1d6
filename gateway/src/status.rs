//! How routed-call outcomes become gRPC statuses (the table in device.proto and the README).

use lwm2m_proto::v1::bus::{error, Result as BusResult};
use tonic::metadata::MetadataValue;
use tonic::{Code, Status};

/// Metadata key carrying the device's CoAP response code, e.g. "4.04".
pub const COAP_CODE_KEY: &str = "lwm2m-coap-code";

/// gRPC code for a CoAP error response code ("4.04" → NOT_FOUND ...).
pub fn code_for_coap(coap: &str) -> Code {
    match coap {
        "4.00" | "4.02" | "4.08" => Code::InvalidArgument,
        "4.01" | "4.03" => Code::PermissionDenied,
        "4.04" => Code::NotFound,
        "4.05" | "4.09" | "4.12" => Code::FailedPrecondition,
        "4.06" | "4.15" => Code::Unimplemented,
        "4.13" | "4.29" => Code::ResourceExhausted,
        "5.03" => Code::Unavailable,
        c if c.starts_with("5.") => Code::Internal,
        _ => Code::Unknown,
    }
}

/// The status for a Result that carries an error; `None` when the call succeeded.
pub fn status_for_result(endpoint: &str, r: &BusResult) -> Option<Status> {
    let e = r.error.as_ref()?;
    let kind = error::Kind::try_from(e.kind).unwrap_or(error::Kind::Unspecified);
    let code = match kind {
        error::Kind::DeviceError => code_for_coap(&r.coap_code),
        error::Kind::Timeout => Code::DeadlineExceeded,
        error::Kind::Reset => Code::Aborted,
        error::Kind::BadContent => Code::Internal,
        error::Kind::UnsupportedContentFormat => Code::Unimplemented,
        error::Kind::BadRequest => Code::InvalidArgument,
        error::Kind::Unavailable => Code::Unavailable,
        error::Kind::NotFound => Code::NotFound,
        error::Kind::FailedPrecondition => Code::FailedPrecondition,
        error::Kind::Unspecified => Code::Unknown,
    };
    let mut status = Status::new(code, format!("{endpoint}: {}", e.message));
    with_coap_code(status.metadata_mut(), &r.coap_code);
    Some(status)
}

pub fn with_coap_code(md: &mut tonic::metadata::MetadataMap, coap: &str) {
    if let Ok(v) = MetadataValue::try_from(coap) {
        if !coap.is_empty() {
            md.insert(COAP_CODE_KEY, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lwm2m_proto::v1::bus::Error;

    #[test]
    fn coap_codes_map_as_documented() {
        assert_eq!(code_for_coap("4.00"), Code::InvalidArgument);
        assert_eq!(code_for_coap("4.01"), Code::PermissionDenied);
        assert_eq!(code_for_coap("4.03"), Code::PermissionDenied);
        assert_eq!(code_for_coap("4.04"), Code::NotFound);
        assert_eq!(code_for_coap("4.05"), Code::FailedPrecondition);
        assert_eq!(code_for_coap("4.06"), Code::Unimplemented);
        assert_eq!(code_for_coap("4.15"), Code::Unimplemented);
        assert_eq!(code_for_coap("5.00"), Code::Internal);
    }

    #[test]
    fn device_error_carries_coap_code() {
        let r = BusResult {
            coap_code: "4.04".into(),
            error: Some(Error {
                kind: error::Kind::DeviceError as i32,
                message: "device answered 4.04".into(),
            }),
            response: None,
        };
        let s = status_for_result("ep1", &r).unwrap();
        assert_eq!(s.code(), Code::NotFound);
        assert_eq!(s.metadata().get(COAP_CODE_KEY).unwrap(), "4.04");
        assert!(s.message().contains("ep1"));
    }

    #[test]
    fn success_is_no_status() {
        let r = BusResult {
            coap_code: "2.05".into(),
            error: None,
            response: None,
        };
        assert!(status_for_result("ep", &r).is_none());
    }
}
