//! Read-Composite and Write-Composite (LwM2M TS 1.1 §6.3.8 / §6.3.9, Transport TS §6.4.3):
//! several paths in one exchange, as FETCH and iPATCH on the device's root with SenML payloads.

use coap_lite::{MessageClass, Packet, RequestType};

use super::manage::OpError;
use super::options::{code_text, content_format, raw_code, set_accept, set_content_format};
use super::read::ReadError;
use crate::content::{
    decode, encode, encode_paths, ContentError, ContentFormat, ObjectModel, Path, Record,
};

/// Composite operations need a SenML format; the caller's, else what the device declared
/// (JSON first, then CBOR), else SenML JSON.
pub fn composite_format(
    requested: Option<u16>,
    declared: &[u16],
) -> Result<ContentFormat, OpError> {
    let json = ContentFormat::SenmlJson.code();
    let cbor = ContentFormat::SenmlCbor.code();
    let code = requested.unwrap_or(if !declared.contains(&json) && declared.contains(&cbor) {
        cbor
    } else {
        json
    });
    match ContentFormat::from_code(code) {
        Some(f @ (ContentFormat::SenmlJson | ContentFormat::SenmlCbor)) => Ok(f),
        _ => Err(OpError::UnsupportedFormat(code)),
    }
}

fn root_request(method: RequestType, root_path: &str) -> Packet {
    let mut p = Packet::new();
    p.header.code = MessageClass::Request(method);
    super::read::add_path(&mut p, root_path, &Path::ROOT);
    p
}

/// FETCH on the root with the paths as names-only SenML records.
pub fn read_composite_request(
    root_path: &str,
    paths: &[Path],
    format: ContentFormat,
) -> Result<Packet, OpError> {
    if paths.is_empty() {
        return Err(OpError::BadArgument(
            "Read-Composite needs at least one path".into(),
        ));
    }
    let mut p = root_request(RequestType::Fetch, root_path);
    p.payload = encode_paths(format, paths)?;
    set_content_format(&mut p, format.code());
    set_accept(&mut p, format.code());
    Ok(p)
}

/// The records of a Read-Composite answer (2.05 with SenML), each inside one of `paths`.
pub fn read_composite_response(
    paths: &[Path],
    response: &Packet,
    model: &dyn ObjectModel,
) -> Result<(String, u16, Vec<Record>), ReadError> {
    let code = code_text(response);
    if raw_code(response) != 0x45 {
        return Err(ReadError::Device(code));
    }
    let cf = match content_format(response) {
        Ok(Some(cf)) => cf,
        _ => return Err(ReadError::UnsupportedFormat(0)),
    };
    let format = match ContentFormat::from_code(cf) {
        Some(f @ (ContentFormat::SenmlJson | ContentFormat::SenmlCbor)) => f,
        _ => return Err(ReadError::UnsupportedFormat(cf)),
    };
    let records = decode(format, &Path::ROOT, &response.payload, model).map_err(|source| {
        ReadError::BadContent {
            code: code.clone(),
            source,
        }
    })?;
    if let Some(r) = records
        .iter()
        .find(|r| !paths.iter().any(|p| p.is_prefix_of(&r.path)))
    {
        let source = ContentError::Malformed {
            format: format.name(),
            reason: format!("{} was not asked for", r.path),
        };
        return Err(ReadError::BadContent { code, source });
    }
    Ok((code, cf, records))
}

/// iPATCH on the root with the values as SenML records.
pub fn write_composite_request(
    root_path: &str,
    records: &[Record],
    format: ContentFormat,
    model: &dyn ObjectModel,
) -> Result<Packet, OpError> {
    if records.is_empty() {
        return Err(OpError::BadArgument(
            "Write-Composite needs at least one value".into(),
        ));
    }
    let mut p = root_request(RequestType::IPatch, root_path);
    p.payload = encode(format, records, &Path::ROOT, model)?;
    set_content_format(&mut p, format.code());
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::{CoreModel, Value};
    use crate::lwm2m::options::{response, uri_path};

    fn p(s: &str) -> Path {
        Path::parse(s).unwrap()
    }

    #[test]
    fn format_choice() {
        assert_eq!(composite_format(None, &[]), Ok(ContentFormat::SenmlJson));
        assert_eq!(
            composite_format(None, &[112, 11542]),
            Ok(ContentFormat::SenmlCbor)
        );
        assert_eq!(
            composite_format(Some(11542), &[]),
            Err(OpError::UnsupportedFormat(11542))
        );
    }

    #[test]
    fn fetch_and_answer() {
        let paths = vec![p("/3/0/0"), p("/1/0/1")];
        let req = read_composite_request("/lwm2m", &paths, ContentFormat::SenmlJson).unwrap();
        assert_eq!(req.header.code, MessageClass::Request(RequestType::Fetch));
        assert_eq!(uri_path(&req).unwrap(), vec!["lwm2m"]);
        assert_eq!(req.payload, br#"[{"n":"/3/0/0"},{"n":"/1/0/1"}]"#);

        let records = vec![
            Record::new(p("/3/0/0"), Value::String("ACME".into())),
            Record::new(p("/1/0/1"), Value::Integer(300)),
        ];
        let mut ans = response(0x45);
        set_content_format(&mut ans, 110);
        ans.payload = encode(ContentFormat::SenmlJson, &records, &Path::ROOT, &CoreModel).unwrap();
        let (code, cf, got) = read_composite_response(&paths, &ans, &CoreModel).unwrap();
        assert_eq!((code.as_str(), cf), ("2.05", 110));
        assert_eq!(got, records);
        // A record nobody asked for is refused.
        let (_, _, _) = read_composite_response(&[p("/3"), p("/1")], &ans, &CoreModel).unwrap();
        assert!(matches!(
            read_composite_response(&[p("/3")], &ans, &CoreModel),
            Err(ReadError::BadContent { .. })
        ));
        assert_eq!(
            read_composite_response(&paths, &response(0x84), &CoreModel),
            Err(ReadError::Device("4.04".into()))
        );
    }

    #[test]
    fn ipatch() {
        let records = vec![Record::new(p("/3/0/14"), Value::String("+01:00".into()))];
        let req =
            write_composite_request("/", &records, ContentFormat::SenmlCbor, &CoreModel).unwrap();
        assert_eq!(req.header.code, MessageClass::Request(RequestType::IPatch));
        assert!(uri_path(&req).unwrap().is_empty());
        assert_eq!(
            decode(
                ContentFormat::SenmlCbor,
                &Path::ROOT,
                &req.payload,
                &CoreModel
            )
            .unwrap(),
            records
        );
        assert!(write_composite_request("/", &[], ContentFormat::SenmlCbor, &CoreModel).is_err());
    }
}
