//! The LwM2M Registration interface as values (LwM2M TS 1.1 §6.2, Transport TS §6.4): a CoAP
//! request on `/rd` becomes a [`RdRequest`] or a [`RdError`] that says which 4.xx to answer.
//! Storage and the answer's timing (only after commit) belong to the caller.

use coap_lite::{MessageClass, Packet, RequestType};

use super::options::{content_format, uri_path, uri_queries};
use crate::link::ObjectLinks;

/// Longest endpoint name accepted; real names (URNs with IMEI, UUID...) are far shorter.
pub const MAX_ENDPOINT_LEN: usize = 255;
/// Largest link-format payload accepted on Register/Update.
pub const MAX_LINKS_PAYLOAD: usize = 16 * 1024;
/// Lifetime when Register leaves `lt` out (TS 1.1 §6.2.1: 86400 s).
pub const DEFAULT_LIFETIME: u32 = 86_400;
const LINK_FORMAT: u16 = 40;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lwm2mVersion {
    V1_0,
    V1_1,
    V1_2,
}

impl Lwm2mVersion {
    pub fn as_str(self) -> &'static str {
        match self {
            Lwm2mVersion::V1_0 => "1.0",
            Lwm2mVersion::V1_1 => "1.1",
            Lwm2mVersion::V1_2 => "1.2",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct RegisterRequest {
    pub endpoint: String,
    pub lifetime: u32,
    pub version: Lwm2mVersion,
    /// As sent; empty when absent (then "U").
    pub binding: String,
    pub queue_mode: bool,
    pub sms: Option<String>,
    pub links: ObjectLinks,
    /// The payload text, kept for Discover-like use by backends.
    pub raw_links: String,
    /// Query parameters not interpreted above, in order.
    pub attributes: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct UpdateRequest {
    pub lifetime: Option<u32>,
    pub binding: Option<String>,
    pub sms: Option<String>,
    /// The Update carried `Q`.
    pub queue: bool,
    /// Present when the Update carried a payload (the object links changed).
    pub links: Option<(ObjectLinks, String)>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RdRequest {
    Register(RegisterRequest),
    Update {
        reg_id: String,
        update: UpdateRequest,
    },
    Deregister {
        reg_id: String,
    },
}

/// Why a registration-interface request is refused; each maps to one CoAP code.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RdError {
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("unsupported LwM2M version {0:?}")]
    UnsupportedVersion(String),
    #[error("method not allowed on {0}")]
    MethodNotAllowed(String),
    #[error("no such resource {0}")]
    NotFound(String),
    #[error("unsupported content format {0}")]
    UnsupportedContentFormat(u16),
}

impl RdError {
    /// Raw CoAP response code for this refusal.
    pub fn code(&self) -> u8 {
        match self {
            RdError::BadRequest(_) => 0x80,
            RdError::UnsupportedVersion(_) => 0x8C, // 4.12, TS 1.1 §6.2.1
            RdError::MethodNotAllowed(_) => 0x85,
            RdError::NotFound(_) => 0x84,
            RdError::UnsupportedContentFormat(_) => 0x8F,
        }
    }
}

/// Reads a request addressed to the registration interface. `None` when the request is not for
/// `/rd` at all (the caller answers it otherwise).
pub fn parse_rd_request(p: &Packet) -> Option<Result<RdRequest, RdError>> {
    let Some(path) = uri_path(p) else {
        return Some(Err(RdError::BadRequest("Uri-Path is not UTF-8".into())));
    };
    if path.first().map(String::as_str) != Some("rd") {
        return None;
    }
    let method = match p.header.code {
        MessageClass::Request(m) => m,
        _ => return None,
    };
    Some(match (method, path.len()) {
        (RequestType::Post, 1) => parse_register(p).map(RdRequest::Register),
        (RequestType::Post, 2) => parse_update(p).map(|update| RdRequest::Update {
            reg_id: path[1].clone(),
            update,
        }),
        (RequestType::Delete, 2) => Ok(RdRequest::Deregister {
            reg_id: path[1].clone(),
        }),
        (_, 1) | (_, 2) => Err(RdError::MethodNotAllowed(format!("/{}", path.join("/")))),
        _ => Err(RdError::NotFound(format!("/{}", path.join("/")))),
    })
}

fn parse_register(p: &Packet) -> Result<RegisterRequest, RdError> {
    let params = query_params(p)?;
    let mut endpoint = None;
    let mut lifetime = None;
    let mut version = None;
    let mut binding = None;
    let mut sms = None;
    let mut queue = false;
    let mut attributes = Vec::new();
    for (k, v) in params {
        match k.as_str() {
            "ep" => endpoint = Some(value(&k, v)?),
            "lt" => lifetime = Some(parse_lifetime(&value(&k, v)?)?),
            "lwm2m" => version = Some(value(&k, v)?),
            "b" => binding = Some(parse_binding(&value(&k, v)?)?),
            "sms" => sms = Some(value(&k, v)?),
            "Q" => {
                if v.is_some() {
                    return Err(RdError::BadRequest("Q takes no value".into()));
                }
                queue = true;
            }
            _ => attributes.push((k, v.unwrap_or_default())),
        }
    }
    let endpoint =
        endpoint.ok_or_else(|| RdError::BadRequest("missing endpoint name (ep)".into()))?;
    if endpoint.is_empty()
        || endpoint.len() > MAX_ENDPOINT_LEN
        || endpoint.chars().any(char::is_control)
    {
        return Err(RdError::BadRequest(format!(
            "endpoint name must be 1..={MAX_ENDPOINT_LEN} bytes without control characters"
        )));
    }
    // TS 1.0 clients leave `lwm2m` out (1.0 §5.3.1 made it optional); 1.x minor versions we do
    // not know get 4.12 so that the client can fall back (TS 1.2 §6.2.1).
    let version = match version.as_deref() {
        None | Some("1.0") => Lwm2mVersion::V1_0,
        Some("1.1") => Lwm2mVersion::V1_1,
        Some("1.2") => Lwm2mVersion::V1_2,
        Some(other) => return Err(RdError::UnsupportedVersion(other.to_string())),
    };
    let binding = binding.unwrap_or_default();
    // 1.0 signals queue mode in the binding (UQ, SQ, UQS); 1.1+ with the Q parameter.
    let queue_mode = queue || binding.contains('Q');
    let (links, raw_links) = parse_payload(p)?;
    Ok(RegisterRequest {
        endpoint,
        lifetime: lifetime.unwrap_or(DEFAULT_LIFETIME),
        version,
        binding,
        queue_mode,
        sms,
        links,
        raw_links,
        attributes,
    })
}

fn parse_update(p: &Packet) -> Result<UpdateRequest, RdError> {
    let mut update = UpdateRequest::default();
    for (k, v) in query_params(p)? {
        match k.as_str() {
            "lt" => update.lifetime = Some(parse_lifetime(&value(&k, v)?)?),
            "b" => update.binding = Some(parse_binding(&value(&k, v)?)?),
            "sms" => update.sms = Some(value(&k, v)?),
            // TS 1.2 lets an Update say it (still) uses queue mode.
            "Q" if v.is_none() => update.queue = true,
            // Unknown parameters are ignored: newer clients may add some (TS 1.2 adds `Q`, `ep`
            // is tolerated by some servers); refusing them would strand the device.
            _ => {}
        }
    }
    if !p.payload.is_empty() {
        update.links = Some(parse_payload(p)?);
    }
    Ok(update)
}

fn query_params(p: &Packet) -> Result<Vec<(String, Option<String>)>, RdError> {
    let queries =
        uri_queries(p).ok_or_else(|| RdError::BadRequest("Uri-Query is not UTF-8".into()))?;
    let mut out: Vec<(String, Option<String>)> = Vec::with_capacity(queries.len());
    for q in queries {
        let (k, v) = match q.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (q.clone(), None),
        };
        if k.is_empty() {
            return Err(RdError::BadRequest(format!(
                "query parameter without name: {q:?}"
            )));
        }
        if out.iter().any(|(seen, _)| *seen == k) {
            return Err(RdError::BadRequest(format!(
                "duplicate query parameter {k}"
            )));
        }
        out.push((k, v));
    }
    Ok(out)
}

fn value(key: &str, v: Option<String>) -> Result<String, RdError> {
    v.ok_or_else(|| RdError::BadRequest(format!("query parameter {key} needs a value")))
}

fn parse_lifetime(s: &str) -> Result<u32, RdError> {
    match s.parse::<u32>() {
        Ok(v) if v > 0 && s.bytes().all(|b| b.is_ascii_digit()) => Ok(v),
        _ => Err(RdError::BadRequest(format!(
            "lifetime must be a positive integer, got {s:?}"
        ))),
    }
}

/// Binding modes of TS 1.0 (U, UQ, S, SQ, US, UQS) and TS 1.1+ (letters U, S, N, T, Q).
fn parse_binding(s: &str) -> Result<String, RdError> {
    let valid = !s.is_empty()
        && s.len() <= 8
        && s.chars().all(|c| matches!(c, 'U' | 'S' | 'N' | 'T' | 'Q'))
        && s.chars().filter(|c| *c != 'Q').count() > 0;
    let unique = s.chars().enumerate().all(|(i, c)| !s[..i].contains(c));
    if valid && unique {
        Ok(s.to_string())
    } else {
        Err(RdError::BadRequest(format!("invalid binding mode {s:?}")))
    }
}

fn parse_payload(p: &Packet) -> Result<(ObjectLinks, String), RdError> {
    match content_format(p) {
        Ok(None) | Ok(Some(LINK_FORMAT)) => {}
        Ok(Some(other)) => return Err(RdError::UnsupportedContentFormat(other)),
        Err(_) => {
            return Err(RdError::BadRequest(
                "malformed Content-Format option".into(),
            ))
        }
    }
    if p.payload.len() > MAX_LINKS_PAYLOAD {
        return Err(RdError::BadRequest(format!(
            "link-format payload over {MAX_LINKS_PAYLOAD} bytes"
        )));
    }
    let text = std::str::from_utf8(&p.payload)
        .map_err(|_| RdError::BadRequest("link-format payload is not UTF-8".into()))?;
    let links =
        ObjectLinks::parse(text).map_err(|e| RdError::BadRequest(format!("link format: {e}")))?;
    Ok((links, text.to_string()))
}

#[cfg(test)]
#[path = "registration_tests.rs"]
mod tests;
