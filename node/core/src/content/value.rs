//! Resource values, data types and content formats.
//!
//! Data types are those of LwM2M TS 1.1 Core Appendix C; content-format
//! codes are the CoAP Content-Formats registered for LwM2M (Core TS 1.1
//! §7.4 and the IANA CoAP Content-Formats registry).

use super::Path;

/// A decoded resource (or resource instance) value, LwM2M TS 1.1 Core App. C.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    String(String),
    Integer(i64),
    Unsigned(u64),
    Float(f64),
    Boolean(bool),
    Opaque(Vec<u8>),
    /// Seconds since the Unix epoch.
    Time(i64),
    ObjLnk {
        object: u16,
        instance: u16,
    },
}

impl Value {
    /// The data type this value carries.
    pub fn resource_type(&self) -> ResourceType {
        match self {
            Value::String(_) => ResourceType::String,
            Value::Integer(_) => ResourceType::Integer,
            Value::Unsigned(_) => ResourceType::Unsigned,
            Value::Float(_) => ResourceType::Float,
            Value::Boolean(_) => ResourceType::Boolean,
            Value::Opaque(_) => ResourceType::Opaque,
            Value::Time(_) => ResourceType::Time,
            Value::ObjLnk { .. } => ResourceType::ObjLnk,
        }
    }
}

/// Resource data types of the OMA object registry. `None` is the "type" of
/// executable resources, which carry no value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceType {
    String,
    Integer,
    Unsigned,
    Float,
    Boolean,
    Opaque,
    Time,
    ObjLnk,
    None,
}

impl ResourceType {
    /// The registry's name for the type.
    pub fn name(self) -> &'static str {
        match self {
            ResourceType::String => "String",
            ResourceType::Integer => "Integer",
            ResourceType::Unsigned => "Unsigned Integer",
            ResourceType::Float => "Float",
            ResourceType::Boolean => "Boolean",
            ResourceType::Opaque => "Opaque",
            ResourceType::Time => "Time",
            ResourceType::ObjLnk => "Objlnk",
            ResourceType::None => "none (executable)",
        }
    }
}

/// One value at a full resource or resource-instance path, as in SenML
/// (RFC 8428 §4 and LwM2M TS 1.1 Core §7.4.4).
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub path: Path,
    pub value: Value,
    /// SenML time (`bt` + `t`) in seconds, when the format carries one.
    pub time: Option<f64>,
}

impl Record {
    /// A record without time.
    pub fn new(path: Path, value: Value) -> Record {
        Record {
            path,
            value,
            time: None,
        }
    }
}

/// CoAP Content-Formats an LwM2M peer may use (Core TS 1.1 §7.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContentFormat {
    /// 0, `text/plain` (Core TS §7.4.1).
    TextPlain,
    /// 40, `application/link-format` (RFC 6690).
    LinkFormat,
    /// 42, `application/octet-stream` (Core TS §7.4.2).
    Opaque,
    /// 60, `application/cbor` (Core TS 1.1 §7.4.6).
    Cbor,
    /// 110, `application/senml+json` (RFC 8428, Core TS 1.1 §7.4.4).
    SenmlJson,
    /// 112, `application/senml+cbor` (RFC 8428, Core TS 1.1 §7.4.5).
    SenmlCbor,
    /// 11542, `application/vnd.oma.lwm2m+tlv` (Core TS §7.4.3).
    Tlv,
    /// 1542, the pre-registration code of TLV used by LwM2M 1.0 clients.
    LegacyTlv,
    /// 11543, `application/vnd.oma.lwm2m+json` (Core TS 1.0 §6.4.4).
    Lwm2mJson,
    /// 1543, the pre-registration code of LwM2M JSON.
    LegacyJson,
}

impl ContentFormat {
    pub const ALL: [ContentFormat; 10] = [
        ContentFormat::TextPlain,
        ContentFormat::LinkFormat,
        ContentFormat::Opaque,
        ContentFormat::Cbor,
        ContentFormat::SenmlJson,
        ContentFormat::SenmlCbor,
        ContentFormat::Tlv,
        ContentFormat::LegacyTlv,
        ContentFormat::Lwm2mJson,
        ContentFormat::LegacyJson,
    ];

    /// The format registered under CoAP Content-Format `code`, if LwM2M uses it.
    pub fn from_code(code: u16) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.code() == code)
    }

    pub fn code(self) -> u16 {
        match self {
            ContentFormat::TextPlain => 0,
            ContentFormat::LinkFormat => 40,
            ContentFormat::Opaque => 42,
            ContentFormat::Cbor => 60,
            ContentFormat::SenmlJson => 110,
            ContentFormat::SenmlCbor => 112,
            ContentFormat::Tlv => 11542,
            ContentFormat::LegacyTlv => 1542,
            ContentFormat::Lwm2mJson => 11543,
            ContentFormat::LegacyJson => 1543,
        }
    }

    /// Media type, with the legacy codes marked as such.
    pub fn name(self) -> &'static str {
        match self {
            ContentFormat::TextPlain => "text/plain",
            ContentFormat::LinkFormat => "application/link-format",
            ContentFormat::Opaque => "application/octet-stream",
            ContentFormat::Cbor => "application/cbor",
            ContentFormat::SenmlJson => "application/senml+json",
            ContentFormat::SenmlCbor => "application/senml+cbor",
            ContentFormat::Tlv => "application/vnd.oma.lwm2m+tlv",
            ContentFormat::LegacyTlv => "application/vnd.oma.lwm2m+tlv (legacy 1542)",
            ContentFormat::Lwm2mJson => "application/vnd.oma.lwm2m+json",
            ContentFormat::LegacyJson => "application/vnd.oma.lwm2m+json (legacy 1543)",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_format_codes_round_trip() {
        let codes: Vec<u16> = ContentFormat::ALL.iter().map(|f| f.code()).collect();
        assert_eq!(
            codes,
            vec![0, 40, 42, 60, 110, 112, 11542, 1542, 11543, 1543]
        );
        for f in ContentFormat::ALL {
            assert_eq!(ContentFormat::from_code(f.code()), Some(f));
        }
        assert_eq!(ContentFormat::from_code(41), None);
        assert_eq!(ContentFormat::Tlv.name(), "application/vnd.oma.lwm2m+tlv");
        assert_eq!(ContentFormat::SenmlJson.name(), "application/senml+json");
    }

    #[test]
    fn value_types() {
        assert_eq!(
            Value::ObjLnk {
                object: 1,
                instance: 2
            }
            .resource_type(),
            ResourceType::ObjLnk
        );
        assert_eq!(Value::Time(0).resource_type(), ResourceType::Time);
        assert_eq!(
            Value::Unsigned(0).resource_type().name(),
            "Unsigned Integer"
        );
        assert_eq!(
            Record::new(Path::new_resource(3, 0, 9), Value::Integer(5)).time,
            None
        );
    }
}
