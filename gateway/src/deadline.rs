//! The caller's gRPC deadline, from the `grpc-timeout` header (gRPC over HTTP/2 spec).

use std::time::Duration;

use tonic::metadata::MetadataMap;

pub fn request_deadline(md: &MetadataMap) -> Option<Duration> {
    parse_timeout(md.get("grpc-timeout")?.to_str().ok()?)
}

/// "100m" → 100 ms. Units: H, M, S, m (milli), u (micro), n (nano); at most 8 digits.
fn parse_timeout(s: &str) -> Option<Duration> {
    if s.len() < 2 || s.len() > 9 {
        return None;
    }
    let (digits, unit) = s.split_at(s.len() - 1);
    let v: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(v * 3600),
        "M" => Duration::from_secs(v * 60),
        "S" => Duration::from_secs(v),
        "m" => Duration::from_millis(v),
        "u" => Duration::from_micros(v),
        "n" => Duration::from_nanos(v),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_grpc_timeouts() {
        assert_eq!(parse_timeout("100m"), Some(Duration::from_millis(100)));
        assert_eq!(parse_timeout("5S"), Some(Duration::from_secs(5)));
        assert_eq!(parse_timeout("2M"), Some(Duration::from_secs(120)));
        assert_eq!(parse_timeout("x"), None);
        assert_eq!(parse_timeout("10q"), None);
        assert_eq!(parse_timeout("123456789S"), None);
    }
}
