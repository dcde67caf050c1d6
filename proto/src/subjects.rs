//! Every NATS subject and stream name of the cluster, in one place (see ARCHITECTURE.md, bus contract).
//!
//! Endpoint names may contain any character (`.`, `*`, `>`, spaces, UTF-8), but a NATS subject
//! token may not contain `.`, `*`, `>` or whitespace. [`encode_endpoint`] maps an endpoint name to
//! one valid token, reversibly: ASCII letters, digits, `-` and `_` stay as they are; every other
//! byte becomes `=XX` (upper-case hex). The encoding is injective, so two endpoints never share a
//! subject.

/// JetStream stream holding registration events.
pub const REG_STREAM: &str = "LWM2M_REG";
/// Subjects captured by [`REG_STREAM`].
pub const REG_EVENTS_ALL: &str = "lwm2m.v1.reg.>";
/// JetStream stream holding notifications of durable observations and Send data.
pub const NOTIFY_STREAM: &str = "LWM2M_NOTIFY";
/// Subjects captured by [`NOTIFY_STREAM`].
pub const NOTIFY_ALL: &str = "lwm2m.v1.notify.>";

/// `lwm2m.v1.notify.<ep>`: notifications and Send data of one endpoint.
pub fn notify(endpoint: &str) -> String {
    format!("lwm2m.v1.notify.{}", encode_endpoint(endpoint))
}

/// Header carrying the ticket of a routed call, so one call can be followed across processes.
pub const TICKET_HEADER: &str = "Lwm2m-Ticket";
/// Wildcard of every cancel subject; each node subscribes once.
pub const CANCEL_ALL: &str = "lwm2m.v1.dev.*.cancel";

/// Kind of a registration event, as the subject names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegEventKind {
    New,
    Update,
    Delete,
    Expire,
}

impl RegEventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RegEventKind::New => "new",
            RegEventKind::Update => "update",
            RegEventKind::Delete => "delete",
            RegEventKind::Expire => "expire",
        }
    }
}

/// `lwm2m.v1.reg.<kind>.<ep>`
pub fn reg_event(kind: RegEventKind, endpoint: &str) -> String {
    format!(
        "lwm2m.v1.reg.{}.{}",
        kind.as_str(),
        encode_endpoint(endpoint)
    )
}

/// `lwm2m.v1.node.<node>.req`: routed requests for the endpoints `<node>` owns; that node is
/// the only subscriber. The gateway finds the owner in its owner cache (BENCHMARKS.md: one
/// subscription per endpoint cost 5.3 KiB of node memory per device).
pub fn node_requests(node: &str) -> String {
    format!("lwm2m.v1.node.{}.req", encode_endpoint(node))
}

/// `lwm2m.v1.dev.<ep>.cancel`
pub fn device_cancel(endpoint: &str) -> String {
    format!("lwm2m.v1.dev.{}.cancel", encode_endpoint(endpoint))
}

/// A PSK credential was put or deleted (payload `lwm2m.v1.SecurityChanged`); every node reloads it.
pub const SECURITY_CHANGED: &str = "lwm2m.v1.security.changed";

/// Wildcard of every gateway heartbeat; each node subscribes once.
pub const GATEWAY_HEARTBEATS: &str = "lwm2m.v1.cluster.gateway.*";

/// `lwm2m.v1.cluster.gateway.<id>`: a gateway is alive while these keep coming.
pub fn gateway_heartbeat(gateway: &str) -> String {
    format!("lwm2m.v1.cluster.gateway.{}", encode_endpoint(gateway))
}

/// The gateway id of a heartbeat subject.
pub fn gateway_of(subject: &str) -> Option<String> {
    decode_endpoint(subject.strip_prefix("lwm2m.v1.cluster.gateway.")?)
}

/// `lwm2m.v1.cluster.heartbeat.<node>`
pub fn heartbeat(node: &str) -> String {
    format!("lwm2m.v1.cluster.heartbeat.{}", encode_endpoint(node))
}

/// Encodes an endpoint name as a single NATS subject token (see the module docs).
pub fn encode_endpoint(endpoint: &str) -> String {
    let mut out = String::with_capacity(endpoint.len());
    for b in endpoint.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
            out.push(b as char);
        } else {
            out.push('=');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 0xf) as usize] as char);
        }
    }
    out
}

/// Inverse of [`encode_endpoint`]; `None` for a token that no endpoint encodes to.
pub fn decode_endpoint(token: &str) -> Option<String> {
    let bytes = token.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'=' {
            let hi = hex_val(*bytes.get(i + 1)?)?;
            let lo = hex_val(*bytes.get(i + 2)?)?;
            let v = (hi << 4) | lo;
            if v.is_ascii_alphanumeric() || v == b'-' || v == b'_' {
                return None; // never produced by encode: keep the encoding one-to-one
            }
            out.push(v);
            i += 3;
        } else if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
            out.push(b);
            i += 1;
        } else {
            return None;
        }
    }
    String::from_utf8(out).ok()
}

/// The endpoint token of a `lwm2m.v1.dev.<ep>.*` or `lwm2m.v1.reg.<kind>.<ep>` subject.
pub fn endpoint_of(subject: &str) -> Option<String> {
    let parts: Vec<&str> = subject.split('.').collect();
    match parts.as_slice() {
        ["lwm2m", "v1", "dev", ep, _] => decode_endpoint(ep),
        ["lwm2m", "v1", "reg", _, ep] => decode_endpoint(ep),
        _ => None,
    }
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid_token(t: &str) -> bool {
        !t.is_empty()
            && !t
                .bytes()
                .any(|b| b == b'.' || b == b'*' || b == b'>' || b.is_ascii_whitespace() || b < 0x20)
    }

    #[test]
    fn plain_names_are_unchanged() {
        assert_eq!(encode_endpoint("sensor-01_A"), "sensor-01_A");
    }

    #[test]
    fn special_characters_are_escaped() {
        assert_eq!(
            encode_endpoint("urn:imei:35.1*>"),
            "urn=3Aimei=3A35=2E1=2A=3E"
        );
        assert_eq!(encode_endpoint("a b=c"), "a=20b=3Dc");
        assert_eq!(encode_endpoint("é"), "=C3=A9");
    }

    #[test]
    fn round_trip_and_validity() {
        for ep in [
            "urn:imei:123",
            "a.b.c",
            "x*y>z",
            "with space",
            "=3A",
            "ünï",
            "-_",
        ] {
            let t = encode_endpoint(ep);
            assert!(valid_token(&t), "{t}");
            assert_eq!(decode_endpoint(&t).as_deref(), Some(ep));
        }
    }

    #[test]
    fn decode_refuses_non_canonical_tokens() {
        assert_eq!(decode_endpoint("=41"), None); // 'A' must be literal
        assert_eq!(decode_endpoint("=4"), None);
        assert_eq!(decode_endpoint("a.b"), None);
        assert_eq!(decode_endpoint("=3a"), None); // lower-case hex is not produced
    }

    #[test]
    fn subjects_carry_one_token() {
        assert_eq!(node_requests("node.1"), "lwm2m.v1.node.node=2E1.req");
        assert_eq!(
            reg_event(RegEventKind::Expire, "x"),
            "lwm2m.v1.reg.expire.x"
        );
        assert_eq!(
            endpoint_of("lwm2m.v1.dev.a=2Eb.cancel").as_deref(),
            Some("a.b")
        );
        assert_eq!(
            endpoint_of("lwm2m.v1.reg.new.a=2Eb").as_deref(),
            Some("a.b")
        );
    }
}
