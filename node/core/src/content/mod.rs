//! LwM2M content formats and values.
//!
//! [`decode`] turns a device's response payload for a Read of some [`Path`]
//! into flat [`Record`]s (one per resource or resource instance, as in SenML),
//! typing values with an [`ObjectModel`]; [`build_tree`] arranges records as
//! object / instance / resource / resource-instance nodes. [`encode`] is the
//! inverse of [`decode`] (used by the simulated device and the tests).
//!
//! Implemented formats (LwM2M TS 1.1 Core §7.4): text/plain (§7.4.1), opaque
//! (§7.4.2), TLV (§7.4.3, both the registered 11542 and the legacy 1542
//! code), SenML JSON (§7.4.4, RFC 8428 §5), SenML CBOR (§7.4.5, RFC 8428
//! §6), LwM2M JSON (TS 1.0 §6.4.4 / TS 1.1 §7.4.6, 11543 and the legacy
//! 1543) and single-value CBOR (TS 1.2 §7.4.7, format 60). Link format is
//! reported as [`ContentError::UnsupportedFormat`].

mod cbor;
mod cbor_value;
mod ddf;
mod ipso;
mod model;
mod path;
mod registry;
mod senml;
#[cfg(test)]
mod testgen;
mod text;
mod tlv;
mod tree;
mod value;

pub use ddf::{parse_ddf, DdfError, DdfPos, ObjectDef, Operations, ResourceDef, MAX_DDF_BYTES};
pub use ipso::IpsoModel;
pub use model::{CoreModel, ObjectModel};
pub use path::Path;
pub use registry::{ModelRegistry, ObjectSource};
pub use senml::paths::{decode_paths, encode_paths};
pub use tree::{
    build_tree, InstanceNode, ObjectNode, ResourceInstanceNode, ResourceNode, ResourceValue, Tree,
};
pub use value::{ContentFormat, Record, ResourceType, Value};

/// Errors of paths, codecs and tree building. `format` names the content
/// format (its media type) or `"value tree"`.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum ContentError {
    #[error("content format {} ({}) is not supported", .0.name(), .0.code())]
    UnsupportedFormat(ContentFormat),
    #[error("malformed {format} payload: {reason}")]
    Malformed {
        format: &'static str,
        reason: String,
    },
    #[error("cannot encode as {format}: {reason}")]
    Unencodable {
        format: &'static str,
        reason: String,
    },
    #[error("invalid LwM2M path {input:?}: {reason}")]
    InvalidPath { input: String, reason: &'static str },
    #[error("{format} content has {path}, outside the requested {requested}")]
    OutsideRequested {
        format: &'static str,
        path: Path,
        requested: Path,
    },
    #[error("{format} cannot represent {requested}: {reason}")]
    InvalidRequest {
        format: &'static str,
        requested: Path,
        reason: &'static str,
    },
    #[error("{format} content for {path} conflicts: {reason}")]
    Conflict {
        format: &'static str,
        path: Path,
        reason: &'static str,
    },
}

pub(crate) fn malformed(format: &'static str, reason: impl Into<String>) -> ContentError {
    ContentError::Malformed {
        format,
        reason: reason.into(),
    }
}

pub(crate) fn unencodable(format: &'static str, reason: impl Into<String>) -> ContentError {
    ContentError::Unencodable {
        format,
        reason: reason.into(),
    }
}

/// Decodes a device's response payload for a Read of `requested`. Every
/// returned record lies at or below `requested` and names a full resource or
/// resource instance.
pub fn decode(
    format: ContentFormat,
    requested: &Path,
    payload: &[u8],
    model: &dyn ObjectModel,
) -> Result<Vec<Record>, ContentError> {
    let name = format.name();
    match format {
        ContentFormat::Tlv | ContentFormat::LegacyTlv => {
            tlv::decode(name, requested, payload, model)
        }
        ContentFormat::SenmlJson => senml::json::decode(requested, payload, model),
        ContentFormat::SenmlCbor => senml::cbor::decode(requested, payload, model),
        ContentFormat::Lwm2mJson | ContentFormat::LegacyJson => {
            senml::lwm2m_json::decode(name, requested, payload, model)
        }
        ContentFormat::Cbor => cbor_value::decode(requested, payload, model),
        ContentFormat::TextPlain => text::decode_text(requested, payload, model),
        ContentFormat::Opaque => text::decode_opaque(requested, payload),
        _ => Err(ContentError::UnsupportedFormat(format)),
    }
}

/// Encodes `records` as the response to a Read of `requested`. Values must
/// match the model's type for known resources (unknown ones are written as
/// given; TLV/text decoders read them back as Opaque/String).
pub fn encode(
    format: ContentFormat,
    records: &[Record],
    requested: &Path,
    model: &dyn ObjectModel,
) -> Result<Vec<u8>, ContentError> {
    let name = format.name();
    for r in records {
        check_encodable(name, r, requested, model)?;
    }
    match format {
        ContentFormat::Tlv | ContentFormat::LegacyTlv => tlv::encode(name, records, requested),
        ContentFormat::SenmlJson => senml::json::encode(records, requested),
        ContentFormat::SenmlCbor => senml::cbor::encode(records, requested),
        ContentFormat::Lwm2mJson | ContentFormat::LegacyJson => {
            senml::lwm2m_json::encode(name, records, requested)
        }
        ContentFormat::Cbor => cbor_value::encode(records, requested),
        ContentFormat::TextPlain => text::encode_text(records, requested),
        ContentFormat::Opaque => text::encode_opaque(records, requested),
        _ => Err(ContentError::UnsupportedFormat(format)),
    }
}

/// Common encoder preconditions: the record is a resource or resource
/// instance inside `requested`, and its value has the model's type.
fn check_encodable(
    format: &'static str,
    r: &Record,
    requested: &Path,
    model: &dyn ObjectModel,
) -> Result<(), ContentError> {
    if r.path.depth() < 3 {
        return Err(unencodable(
            format,
            format!("record path {} is not a resource", r.path),
        ));
    }
    if !requested.is_prefix_of(&r.path) {
        return Err(ContentError::OutsideRequested {
            format,
            path: r.path,
            requested: *requested,
        });
    }
    let (Some(o), Some(res)) = (r.path.object(), r.path.resource()) else {
        return Ok(());
    };
    match model.resource_type(o, res) {
        Some(ResourceType::None) if !matches!(r.value, Value::Opaque(_)) => Err(unencodable(
            format,
            format!("{} is executable and has no value", r.path),
        )),
        Some(t) if t != ResourceType::None && t != r.value.resource_type() => Err(unencodable(
            format,
            format!(
                "{} is {} but the value is {}",
                r.path,
                t.name(),
                r.value.resource_type().name()
            ),
        )),
        _ => Ok(()),
    }
}

/// Strict decimal u16 (no sign, no spaces), shared by the text codecs.
pub(crate) fn parse_u16(s: &str) -> Option<u16> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `"o:i"`, the textual Objlnk of Core TS §7.4.1 and SenML `vlo`.
pub(crate) fn parse_objlnk(s: &str) -> Option<Value> {
    let (o, i) = s.split_once(':')?;
    Some(Value::ObjLnk {
        object: parse_u16(o)?,
        instance: parse_u16(i)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsupported_format_is_named() {
        let p = Path::new_object(3);
        let f = ContentFormat::LinkFormat;
        let err = decode(f, &p, b"", &CoreModel).unwrap_err();
        assert_eq!(err, ContentError::UnsupportedFormat(f));
        assert!(err.to_string().contains(f.name()));
        assert_eq!(encode(f, &[], &p, &CoreModel).unwrap_err(), err);
    }

    #[test]
    fn encode_checks_types_and_paths() {
        let p = Path::new_instance(3, 0);
        let rec = |path, value| Record::new(path, value);
        let err = encode(
            ContentFormat::Tlv,
            &[rec(Path::new_resource(3, 0, 9), Value::String("x".into()))],
            &p,
            &CoreModel,
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "cannot encode as application/vnd.oma.lwm2m+tlv: /3/0/9 is Integer but the value is String");
        let err = encode(
            ContentFormat::SenmlJson,
            &[rec(Path::new_resource(3, 1, 9), Value::Integer(1))],
            &p,
            &CoreModel,
        )
        .unwrap_err();
        assert_eq!(
            err,
            ContentError::OutsideRequested {
                format: "application/senml+json",
                path: Path::new_resource(3, 1, 9),
                requested: p
            }
        );
        let err = encode(
            ContentFormat::Tlv,
            &[rec(Path::new_instance(3, 0), Value::Integer(1))],
            &p,
            &CoreModel,
        )
        .unwrap_err();
        assert!(matches!(err, ContentError::Unencodable { .. }));
        let err = encode(
            ContentFormat::Tlv,
            &[rec(Path::new_resource(3, 0, 4), Value::Integer(1))],
            &p,
            &CoreModel,
        )
        .unwrap_err();
        assert!(err.to_string().contains("executable"));
    }

    #[test]
    fn objlnk_text() {
        assert_eq!(
            parse_objlnk("3:0"),
            Some(Value::ObjLnk {
                object: 3,
                instance: 0
            })
        );
        assert_eq!(
            parse_objlnk("65535:65535"),
            Some(Value::ObjLnk {
                object: 65535,
                instance: 65535
            })
        );
        for bad in ["3", "3:", ":0", "3:-1", "3:65536", " 3:0", "3:0:1"] {
            assert_eq!(parse_objlnk(bad), None, "{bad}");
        }
    }
}
