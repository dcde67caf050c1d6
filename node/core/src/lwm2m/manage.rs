//! The Device Management interface beyond Read (LwM2M TS 1.1 §6.3, Transport TS §6.4): Write,
//! Execute, Create, Delete, Discover and Write-Attributes as CoAP requests, and their answers as
//! values. Read lives in `read.rs`.

use coap_lite::{CoapOption, MessageClass, Packet, RequestType};

use super::options::{
    code_text, content_format, location_path, raw_code, set_accept, set_content_format,
};
use super::read::{add_path, preferred_format};
use crate::content::{encode, ContentError, ContentFormat, ObjectModel, Path, Record};
use crate::link::{parse_link_format, Link, LinkError};

/// Why an operation could not be built; nothing was sent.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OpError {
    #[error("{0}")]
    BadPath(String),
    #[error("content: {0}")]
    Content(#[from] ContentError),
    #[error("unsupported content format {0}")]
    UnsupportedFormat(u16),
    #[error("{0}")]
    BadArgument(String),
}

fn request(method: RequestType, root_path: &str, path: &Path) -> Packet {
    let mut p = Packet::new();
    p.header.code = MessageClass::Request(method);
    add_path(&mut p, root_path, path);
    p
}

/// The content format of a Write or Create: the caller's, or what the device declared (SenML
/// JSON, then TLV), TLV by default since every 1.0/1.1 client implements it.
pub fn write_format(requested: Option<u16>, declared: &[u16]) -> Result<ContentFormat, OpError> {
    let code = requested
        .or_else(|| preferred_format(declared))
        .unwrap_or(ContentFormat::Tlv.code());
    ContentFormat::from_code(code).ok_or(OpError::UnsupportedFormat(code))
}

/// Write: PUT replaces, POST updates partially (TS 1.1 §6.3.3; partial update is for instances).
pub fn write_request(
    root_path: &str,
    path: &Path,
    replace: bool,
    records: &[Record],
    format: ContentFormat,
    model: &dyn ObjectModel,
) -> Result<Packet, OpError> {
    if path.instance().is_none() {
        return Err(OpError::BadPath(format!(
            "Write needs an object instance, resource or resource instance, not {path}"
        )));
    }
    if !replace && path.resource().is_some() {
        return Err(OpError::BadPath(format!(
            "partial update applies to object instances, not {path}"
        )));
    }
    if records.is_empty() {
        return Err(OpError::BadArgument(
            "Write needs at least one value".into(),
        ));
    }
    if let Some(r) = records.iter().find(|r| !path.is_prefix_of(&r.path)) {
        return Err(OpError::BadArgument(format!(
            "value at {} is outside the target {path}",
            r.path
        )));
    }
    let method = if replace {
        RequestType::Put
    } else {
        RequestType::Post
    };
    let mut p = request(method, root_path, path);
    p.payload = encode(format, records, path, model)?;
    set_content_format(&mut p, format.code());
    Ok(p)
}

/// Execute: POST on a resource with the arguments as payload (TS 1.1 §5.4.2.5).
pub fn execute_request(root_path: &str, path: &Path, arguments: &str) -> Result<Packet, OpError> {
    if path.resource().is_none() || path.resource_instance().is_some() {
        return Err(OpError::BadPath(format!(
            "Execute needs a resource path, not {path}"
        )));
    }
    let mut p = request(RequestType::Post, root_path, path);
    p.payload = arguments.as_bytes().to_vec();
    Ok(p)
}

/// Create: POST on the object; `records` are at /o/i/... where i is the requested instance id
/// (TS 1.1 §6.3.6: with an id, the payload names the instance; without, the device picks one).
pub fn create_request(
    root_path: &str,
    object: &Path,
    instance: Option<u16>,
    records: &[Record],
    format: ContentFormat,
    model: &dyn ObjectModel,
) -> Result<Packet, OpError> {
    if object.object().is_none() || object.instance().is_some() {
        return Err(OpError::BadPath(format!(
            "Create needs an object path, not {object}"
        )));
    }
    let mut p = request(RequestType::Post, root_path, object);
    // Without an instance id the values are encoded for a placeholder instance and sent as
    // resources (TLV/SenML of the instance's content); with one, the instance is named.
    let anchor = match (object.object(), instance) {
        (Some(o), Some(i)) => Path::new_instance(o, i),
        (Some(o), None) => Path::new_instance(o, 0),
        _ => unreachable!("checked above"),
    };
    if let Some(r) = records.iter().find(|r| !anchor.is_prefix_of(&r.path)) {
        return Err(OpError::BadArgument(format!(
            "value at {} is outside the new instance {anchor}",
            r.path
        )));
    }
    let target = if instance.is_some() { *object } else { anchor };
    p.payload = encode(format, records, &target, model)?;
    set_content_format(&mut p, format.code());
    Ok(p)
}

/// Delete of an object instance (TS 1.1 §6.3.7).
pub fn delete_request(root_path: &str, path: &Path) -> Result<Packet, OpError> {
    if path.instance().is_none() || path.resource().is_some() {
        return Err(OpError::BadPath(format!(
            "Delete needs an object instance path, not {path}"
        )));
    }
    Ok(request(RequestType::Delete, root_path, path))
}

/// Discover: GET with Accept application/link-format (TS 1.1 §6.3.4).
pub fn discover_request(root_path: &str, path: &Path) -> Result<Packet, OpError> {
    if path.object().is_none() || path.resource_instance().is_some() {
        return Err(OpError::BadPath(format!(
            "Discover needs an object, instance or resource path, not {path}"
        )));
    }
    let mut p = request(RequestType::Get, root_path, path);
    set_accept(&mut p, ContentFormat::LinkFormat.code());
    Ok(p)
}

/// Notification attributes of Write-Attributes (TS 1.1 §5.1.2).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Attributes {
    pub pmin: Option<u32>,
    pub pmax: Option<u32>,
    pub gt: Option<f64>,
    pub lt: Option<f64>,
    pub st: Option<f64>,
    pub epmin: Option<u32>,
    pub epmax: Option<u32>,
    /// Names sent without a value, which removes the attribute on the device.
    pub unset: Vec<String>,
}

const ATTRIBUTE_NAMES: [&str; 7] = ["pmin", "pmax", "gt", "lt", "st", "epmin", "epmax"];

/// Write-Attributes: PUT with the attributes as Uri-Query and no payload.
pub fn write_attributes_request(
    root_path: &str,
    path: &Path,
    a: &Attributes,
) -> Result<Packet, OpError> {
    if path.object().is_none() {
        return Err(OpError::BadPath(
            "Write-Attributes needs an object, instance or resource path".into(),
        ));
    }
    let mut queries: Vec<String> = Vec::new();
    let mut int = |name: &str, v: Option<u32>| {
        if let Some(v) = v {
            queries.push(format!("{name}={v}"));
        }
    };
    int("pmin", a.pmin);
    int("pmax", a.pmax);
    int("epmin", a.epmin);
    int("epmax", a.epmax);
    for (name, v) in [("gt", a.gt), ("lt", a.lt), ("st", a.st)] {
        match v {
            Some(v) if !v.is_finite() => {
                return Err(OpError::BadArgument(format!(
                    "{name} must be a finite number"
                )))
            }
            Some(v) => queries.push(format!("{name}={v}")),
            None => {}
        }
    }
    if let (Some(min), Some(max)) = (a.pmin, a.pmax) {
        if min > max {
            return Err(OpError::BadArgument("pmin must not exceed pmax".into()));
        }
    }
    for name in &a.unset {
        if !ATTRIBUTE_NAMES.contains(&name.as_str()) {
            return Err(OpError::BadArgument(format!("unknown attribute {name:?}")));
        }
        if queries.iter().any(|q| q.split('=').next() == Some(name)) {
            return Err(OpError::BadArgument(format!(
                "attribute {name} is both set and unset"
            )));
        }
        queries.push(name.clone());
    }
    if queries.is_empty() {
        return Err(OpError::BadArgument("no attribute to write".into()));
    }
    let mut p = request(RequestType::Put, root_path, path);
    for q in queries {
        p.add_option(CoapOption::UriQuery, q.into_bytes());
    }
    Ok(p)
}

/// The device's answer to a management request: success or its error code.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AnswerError {
    #[error("device answered {0}")]
    Device(String),
    #[error("device answered {code} with unusable content: {reason}")]
    BadContent { code: String, reason: String },
}

/// Success when the code is the one the operation expects (2.04 Changed, 2.02 Deleted, ...).
pub fn expect_code(response: &Packet, expected: u8) -> Result<String, AnswerError> {
    let code = code_text(response);
    if raw_code(response) == expected {
        Ok(code)
    } else {
        Err(AnswerError::Device(code))
    }
}

/// The created instance's path from a 2.01 (its Location-Path), or the requested id.
pub fn create_location(
    response: &Packet,
    object: &Path,
    requested: Option<u16>,
) -> Result<Path, AnswerError> {
    let code = expect_code(response, 0x41)?;
    let bad = |reason: &str| AnswerError::BadContent {
        code: code.clone(),
        reason: reason.into(),
    };
    let segments = location_path(response).ok_or_else(|| bad("Location-Path is not UTF-8"))?;
    match (segments.last(), requested, object.object()) {
        (Some(last), _, Some(o)) => {
            let id = last
                .parse::<u16>()
                .map_err(|_| bad("Location-Path does not end in an instance id"))?;
            Ok(Path::new_instance(o, id))
        }
        (None, Some(i), Some(o)) => Ok(Path::new_instance(o, i)),
        _ => Err(bad("no Location-Path and no requested instance id")),
    }
}

/// The links of a Discover answer (2.05 with application/link-format).
pub fn discover_links(response: &Packet) -> Result<(String, Vec<Link>), AnswerError> {
    let code = expect_code(response, 0x45)?;
    let bad = |reason: String| AnswerError::BadContent {
        code: code.clone(),
        reason,
    };
    match content_format(response) {
        Ok(Some(40)) => {}
        Ok(other) => {
            return Err(bad(format!(
                "content format {other:?} instead of application/link-format"
            )))
        }
        Err(_) => return Err(bad("malformed Content-Format".into())),
    }
    let text =
        std::str::from_utf8(&response.payload).map_err(|_| bad("payload is not UTF-8".into()))?;
    let links = parse_link_format(text).map_err(|e: LinkError| bad(e.to_string()))?;
    Ok((text.to_string(), links))
}

#[cfg(test)]
#[path = "manage_tests.rs"]
mod tests;
