//! Information reporting (LwM2M TS 1.1 §6.4): the Observe and Observe-Composite requests, the
//! values of a notification, and the device-initiated Send (`POST /dp`, §6.4.4).

use coap_lite::{MessageClass, Packet, RequestType};

use super::composite::{read_composite_request, read_composite_response};
use super::manage::OpError;
use super::options::{content_format, uri_path};
use super::read::{read_records, read_request, ReadError};
use crate::content::{decode, ContentError, ContentFormat, ObjectModel, Path, Record};

/// The request that registers an observation of `paths` (the Observe option is the CoAP layer's
/// business): a GET of one path (§6.4.1), or a FETCH of several with SenML (Observe-Composite,
/// §6.4.3). `accept` is the content format to ask for a single path; `composite` the SenML format
/// for several.
pub fn observe_request(
    root_path: &str,
    paths: &[Path],
    accept: Option<u16>,
    composite: ContentFormat,
) -> Result<Packet, OpError> {
    match paths {
        [] => Err(OpError::BadArgument(
            "Observe needs at least one path".into(),
        )),
        [one] => Ok(read_request(root_path, one, accept)),
        many => read_composite_request(root_path, many, composite),
    }
}

/// The values of a notification (or of the first response) of an observation of `paths`, with
/// the response code and content format.
pub fn notification_records(
    paths: &[Path],
    response: &Packet,
    model: &dyn ObjectModel,
) -> Result<(String, u16, Vec<Record>), ReadError> {
    match paths {
        [one] => read_records(one, response, model),
        many => read_composite_response(many, response, model),
    }
}

/// Whether `request` is a Send: POST on `/dp` (TS 1.1 Transport §6.4.4, the data-push resource).
pub fn is_send(request: &Packet) -> bool {
    request.header.code == MessageClass::Request(RequestType::Post)
        && uri_path(request).is_some_and(|p| p == ["dp"])
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SendError {
    /// 4.15: Send carries SenML JSON or SenML CBOR (LwM2M 1.2 also LwM2M CBOR).
    #[error("Send payload in content format {0:?}; expected SenML JSON (110) or SenML CBOR (112)")]
    UnsupportedFormat(Option<u16>),
    /// 4.00: the payload does not decode.
    #[error("Send payload: {0}")]
    BadContent(#[from] ContentError),
    #[error("Send carries no value")]
    Empty,
}

impl SendError {
    /// The CoAP code of the refusal.
    pub fn code(&self) -> u8 {
        match self {
            SendError::UnsupportedFormat(_) => 0x8F,
            SendError::BadContent(_) | SendError::Empty => 0x80,
        }
    }
}

/// The values of a Send request, with its content format.
pub fn send_records(
    request: &Packet,
    model: &dyn ObjectModel,
) -> Result<(u16, Vec<Record>), SendError> {
    let cf = content_format(request).map_err(|_| SendError::UnsupportedFormat(None))?;
    let format = match cf.and_then(ContentFormat::from_code) {
        Some(f @ (ContentFormat::SenmlJson | ContentFormat::SenmlCbor | ContentFormat::Cbor)) => f,
        _ => return Err(SendError::UnsupportedFormat(cf)),
    };
    let records = decode(format, &Path::ROOT, &request.payload, model)?;
    if records.is_empty() {
        return Err(SendError::Empty);
    }
    Ok((format.code(), records))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::{encode, ModelRegistry, Value};
    use crate::lwm2m::options::set_content_format;
    use coap_lite::CoapOption;

    fn model() -> ModelRegistry {
        ModelRegistry::default()
    }

    fn send(cf: Option<u16>, payload: &[u8]) -> Packet {
        let mut p = Packet::new();
        p.header.code = MessageClass::Request(RequestType::Post);
        p.add_option(CoapOption::UriPath, b"dp".to_vec());
        if let Some(cf) = cf {
            set_content_format(&mut p, cf);
        }
        p.payload = payload.to_vec();
        p
    }

    #[test]
    fn observe_request_is_get_for_one_path_and_fetch_for_several() {
        let one = [Path::parse("/3/0/9").unwrap()];
        let p = observe_request("/", &one, Some(110), ContentFormat::SenmlJson).unwrap();
        assert_eq!(p.header.code, MessageClass::Request(RequestType::Get));
        assert_eq!(uri_path(&p).unwrap(), ["3", "0", "9"]);
        let two = [one[0], Path::parse("/1/0/1").unwrap()];
        let p = observe_request("/lwm2m", &two, None, ContentFormat::SenmlCbor).unwrap();
        assert_eq!(p.header.code, MessageClass::Request(RequestType::Fetch));
        assert_eq!(uri_path(&p).unwrap(), ["lwm2m"]);
        assert!(observe_request("/", &[], None, ContentFormat::SenmlJson).is_err());
    }

    #[test]
    fn send_decodes_senml_and_refuses_the_rest() {
        let records = vec![
            Record::new(Path::parse("/3/0/9").unwrap(), Value::Integer(87)),
            Record::new(Path::parse("/3/0/13").unwrap(), Value::Time(1_700_000_000)),
        ];
        let json = encode(ContentFormat::SenmlJson, &records, &Path::ROOT, &model()).unwrap();
        let req = send(Some(110), &json);
        assert!(is_send(&req));
        let (cf, got) = send_records(&req, &model()).unwrap();
        assert_eq!(cf, 110);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].value, Value::Integer(87));

        let err = send_records(&send(Some(11542), &json), &model()).unwrap_err();
        assert_eq!(err.code(), 0x8F);
        assert_eq!(
            send_records(&send(None, &json), &model())
                .unwrap_err()
                .code(),
            0x8F
        );
        let err = send_records(&send(Some(110), b"[{\"n\":"), &model()).unwrap_err();
        assert_eq!(err.code(), 0x80);
        assert_eq!(
            send_records(&send(Some(110), b"[]"), &model()).unwrap_err(),
            SendError::Empty
        );
    }

    #[test]
    fn only_post_on_dp_is_send() {
        let mut p = send(Some(110), b"[]");
        assert!(is_send(&p));
        p.header.code = MessageClass::Request(RequestType::Put);
        assert!(!is_send(&p));
        let mut q = Packet::new();
        q.header.code = MessageClass::Request(RequestType::Post);
        q.add_option(CoapOption::UriPath, b"rd".to_vec());
        assert!(!is_send(&q));
    }
}
