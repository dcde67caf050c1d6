//! LwM2M Read (TS 1.1 §6.3.1 / Transport TS §6.4.3): building the CoAP GET and interpreting the
//! device's answer as a value tree.

use coap_lite::{CoapOption, MessageClass, Packet, RequestType};

use super::options::{code_text, content_format, raw_code, set_accept};
use crate::content::{
    build_tree, decode, ContentError, ContentFormat, ObjectModel, Path, Record, Tree,
};

/// The GET for `path` under the device's root path ("/" or an alternate path like "/lwm2m").
pub fn read_request(root_path: &str, path: &Path, accept: Option<u16>) -> Packet {
    let mut p = Packet::new();
    p.header.code = MessageClass::Request(RequestType::Get);
    add_path(&mut p, root_path, path);
    if let Some(cf) = accept {
        set_accept(&mut p, cf);
    }
    p
}

/// Adds the Uri-Path options for `path` below `root_path`.
pub fn add_path(p: &mut Packet, root_path: &str, path: &Path) {
    for seg in root_path.split('/').filter(|s| !s.is_empty()) {
        p.add_option(CoapOption::UriPath, seg.as_bytes().to_vec());
    }
    for seg in path.segments() {
        p.add_option(CoapOption::UriPath, seg.to_string().into_bytes());
    }
}

/// The content format to ask for when the caller did not choose: what the device declared,
/// preferring self-describing SenML JSON, then TLV; otherwise leave the choice to the device.
pub fn preferred_format(declared: &[u16]) -> Option<u16> {
    [
        ContentFormat::SenmlJson,
        ContentFormat::Tlv,
        ContentFormat::LegacyTlv,
    ]
    .into_iter()
    .map(ContentFormat::code)
    .find(|c| declared.contains(c))
}

#[derive(Debug, Clone, PartialEq)]
pub struct ReadContent {
    /// "2.05"
    pub code: String,
    pub format: u16,
    pub tree: Tree,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReadError {
    /// The device answered with a non-success code.
    #[error("device answered {0}")]
    Device(String),
    #[error("device answered in content format {0}, which this server cannot decode")]
    UnsupportedFormat(u16),
    #[error("device answered {code} with undecodable content: {source}")]
    BadContent { code: String, source: ContentError },
}

/// Interprets the device's response to a Read of `requested`.
pub fn read_response(
    requested: &Path,
    response: &Packet,
    model: &dyn ObjectModel,
) -> Result<ReadContent, ReadError> {
    let (code, format, records) = read_records(requested, response, model)?;
    let tree = build_tree(requested, &records, model).map_err(|source| ReadError::BadContent {
        code: code.clone(),
        source,
    })?;
    Ok(ReadContent { code, format, tree })
}

/// The records of a 2.05 answer to a Read (or Observe) of `requested`, with the code and the
/// content format they came in.
pub fn read_records(
    requested: &Path,
    response: &Packet,
    model: &dyn ObjectModel,
) -> Result<(String, u16, Vec<Record>), ReadError> {
    let code = code_text(response);
    if raw_code(response) != 0x45 {
        return Err(ReadError::Device(code));
    }
    let cf = match content_format(response) {
        // No Content-Format: TS 1.1 says the default is text/plain for single values.
        Ok(None) => 0,
        Ok(Some(cf)) => cf,
        Err(_) => {
            return Err(ReadError::BadContent {
                code,
                source: ContentError::Malformed {
                    format: "coap",
                    reason: "Content-Format option".into(),
                },
            })
        }
    };
    let format = ContentFormat::from_code(cf).ok_or(ReadError::UnsupportedFormat(cf))?;
    let records = decode(format, requested, &response.payload, model).map_err(|e| match e {
        ContentError::UnsupportedFormat(_) => ReadError::UnsupportedFormat(cf),
        other => ReadError::BadContent {
            code: code.clone(),
            source: other,
        },
    })?;
    Ok((code, cf, records))
}
