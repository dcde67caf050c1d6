//! Executes one routed device operation: builds the CoAP request with the core, sends it to the
//! device through the CoAP driver, and turns the answer into the bus Result.

// The error of every step is the bus Result sent back as is; boxing it would buy nothing on a
// path that waits for a device anyway.
#![allow(clippy::result_large_err)]

use coap_lite::Packet;
use lwm2m_core::coap::block::{Block1Upload, Block2Download, BlockError, Step};
use lwm2m_core::content::{ContentFormat, ModelRegistry, Path, Record};
use lwm2m_core::lwm2m::composite;
use lwm2m_core::lwm2m::manage::{self, AnswerError, Attributes, OpError};
use lwm2m_core::lwm2m::read::{preferred_format, read_request, read_response, ReadError};
use lwm2m_proto::v1::bus::{
    error, result, route_request::Operation, Error as BusError, Result as BusResult,
};
use lwm2m_proto::v1::*;

use crate::convert::{records_of, tree_proto, value_core, value_proto};
use crate::registry::Target;
use crate::udp::{CoapHandle, RequestError};

const DELETED: u8 = 0x42;
const CHANGED: u8 = 0x44;

/// Block size of our Block1 uploads (SZX 6, the largest plain CoAP block, RFC 7959 §2.2).
const BLOCK_SIZE: usize = 1024;

/// Bounds of device transfers.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest payload sent to or reassembled from a device, in bytes.
    pub max_transfer: usize,
    /// How long a queue-mode device is reachable after it talked.
    pub awake_window: std::time::Duration,
}

pub async fn execute(
    coap: &CoapHandle,
    target: &Target,
    op: Operation,
    limits: &Limits,
    model: &ModelRegistry,
) -> BusResult {
    match run(coap, target, op, limits, model).await {
        Ok(r) => r,
        Err(e) => e,
    }
}

type Outcome = Result<BusResult, BusResult>;

/// `model` types the values of TLV and text/plain answers and checks written values (built-in
/// objects plus those loaded with `--object-dir`).
async fn run(
    coap: &CoapHandle,
    t: &Target,
    op: Operation,
    limits: &Limits,
    model: &ModelRegistry,
) -> Outcome {
    match op {
        Operation::Read(r) => {
            let path = parse_path(&r.path)?;
            let accept = match (r.content_format, r.text_plain) {
                (_, true) => Some(0),
                (0, false) => preferred_format(&t.content_formats),
                (cf, false) => Some(declared(t, format_number(cf)?)?),
            };
            let response = send(coap, t, read_request(&t.root_path, &path, accept), limits).await?;
            let code = response.header.code.to_string();
            let content =
                read_response(&path, &response, model).map_err(|e| read_error(&code, e))?;
            let notes = untyped_note(&path, content.format, model)
                .into_iter()
                .collect();
            Ok(ok(
                code,
                result::Response::Read(ReadResponse {
                    content: Some(tree_proto(&content.tree)),
                    coap_code: content.code,
                    content_format: u32::from(content.format),
                    notes,
                }),
            ))
        }
        Operation::Write(w) => {
            let path = parse_path(&w.path)?;
            let records = records_of(&w.values).map_err(bad_request)?;
            let format = if w.text_plain {
                ContentFormat::TextPlain
            } else {
                let requested = if w.content_format == 0 {
                    None
                } else {
                    Some(declared(t, format_number(w.content_format)?)?)
                };
                manage::write_format(requested, &t.content_formats).map_err(op_error)?
            };
            let replace = w.mode() == write_request::Mode::Replace;
            let request =
                manage::write_request(&t.root_path, &path, replace, &records, format, model)
                    .map_err(op_error)?;
            let code = expect(send(coap, t, request, limits).await?, CHANGED)?;
            Ok(ok(
                code.clone(),
                result::Response::Write(WriteResponse { coap_code: code }),
            ))
        }
        Operation::Execute(x) => {
            let path = parse_path(&x.path)?;
            let request =
                manage::execute_request(&t.root_path, &path, &x.arguments).map_err(op_error)?;
            let code = expect(send(coap, t, request, limits).await?, CHANGED)?;
            Ok(ok(
                code.clone(),
                result::Response::Execute(ExecuteResponse { coap_code: code }),
            ))
        }
        Operation::Create(c) => {
            let object = parse_path(&c.path)?;
            let instance = match c.instance_id {
                Some(i) if i < 65535 => Some(i as u16),
                Some(i) => return Err(bad_request(format!("instance id {i} out of range"))),
                None => None,
            };
            let records = create_records(&object, instance, &c.values)?;
            let requested = if c.content_format == 0 {
                None
            } else {
                Some(declared(t, format_number(c.content_format)?)?)
            };
            let format = manage::write_format(requested, &t.content_formats).map_err(op_error)?;
            let request =
                manage::create_request(&t.root_path, &object, instance, &records, format, model)
                    .map_err(op_error)?;
            let response = send(coap, t, request, limits).await?;
            let code = response.header.code.to_string();
            let location =
                manage::create_location(&response, &object, instance).map_err(answer_error)?;
            Ok(ok(
                code.clone(),
                result::Response::Create(CreateResponse {
                    coap_code: code,
                    location: location.to_string(),
                }),
            ))
        }
        Operation::Delete(d) => {
            let path = parse_path(&d.path)?;
            let request = manage::delete_request(&t.root_path, &path).map_err(op_error)?;
            let code = expect(send(coap, t, request, limits).await?, DELETED)?;
            Ok(ok(
                code.clone(),
                result::Response::Delete(DeleteResponse { coap_code: code }),
            ))
        }
        Operation::Discover(d) => {
            let path = parse_path(&d.path)?;
            let request = manage::discover_request(&t.root_path, &path).map_err(op_error)?;
            let response = send(coap, t, request, limits).await?;
            let code = response.header.code.to_string();
            let (text, links) = manage::discover_links(&response).map_err(answer_error)?;
            let links = links
                .into_iter()
                .map(|l| DiscoveredLink {
                    path: l.target,
                    attributes: l
                        .attributes
                        .into_iter()
                        .map(|(k, v)| (k, v.unwrap_or_default()))
                        .collect(),
                })
                .collect();
            Ok(ok(
                code.clone(),
                result::Response::Discover(DiscoverResponse {
                    coap_code: code,
                    links,
                    link_format: text,
                }),
            ))
        }
        Operation::ReadComposite(r) => {
            let paths = r
                .paths
                .iter()
                .map(|p| parse_path(p))
                .collect::<Result<Vec<_>, _>>()?;
            let requested = if r.content_format == 0 {
                None
            } else {
                Some(declared(t, format_number(r.content_format)?)?)
            };
            let format =
                composite::composite_format(requested, &t.content_formats).map_err(op_error)?;
            let request = composite::read_composite_request(&t.root_path, &paths, format)
                .map_err(op_error)?;
            let response = send(coap, t, request, limits).await?;
            let code = response.header.code.to_string();
            let (code, cf, records) = composite::read_composite_response(&paths, &response, model)
                .map_err(|e| read_error(&code, e))?;
            let values = records
                .iter()
                .map(|r| PathValue {
                    path: r.path.to_string(),
                    value: Some(value_proto(&r.value)),
                })
                .collect();
            Ok(ok(
                code.clone(),
                result::Response::ReadComposite(ReadCompositeResponse {
                    coap_code: code,
                    content_format: u32::from(cf),
                    values,
                }),
            ))
        }
        Operation::WriteComposite(w) => {
            let records = records_of(&w.values).map_err(bad_request)?;
            let requested = if w.content_format == 0 {
                None
            } else {
                Some(declared(t, format_number(w.content_format)?)?)
            };
            let format =
                composite::composite_format(requested, &t.content_formats).map_err(op_error)?;
            let request = composite::write_composite_request(&t.root_path, &records, format, model)
                .map_err(op_error)?;
            let code = expect(send(coap, t, request, limits).await?, CHANGED)?;
            Ok(ok(
                code.clone(),
                result::Response::WriteComposite(WriteCompositeResponse { coap_code: code }),
            ))
        }
        // Information reporting keeps state across calls: `observe/` serves it.
        Operation::Observe(_)
        | Operation::CreateObservation(_)
        | Operation::DeleteObservation(_) => Err(bad_request(
            "information reporting is not a one-shot operation".into(),
        )),
        Operation::WriteAttributes(w) => {
            let path = parse_path(&w.path)?;
            let a = w.attributes.unwrap_or_default();
            let attributes = Attributes {
                pmin: a.pmin,
                pmax: a.pmax,
                gt: a.gt,
                lt: a.lt,
                st: a.st,
                epmin: a.epmin,
                epmax: a.epmax,
                unset: a.unset,
            };
            let request = manage::write_attributes_request(&t.root_path, &path, &attributes)
                .map_err(op_error)?;
            let code = expect(send(coap, t, request, limits).await?, CHANGED)?;
            Ok(ok(
                code.clone(),
                result::Response::WriteAttributes(WriteAttributesResponse { coap_code: code }),
            ))
        }
    }
}

/// A caller's explicit content format, refused when the device declared its formats (`ct=` on
/// its root link) and this is not one of them. Text/plain, opaque and link format need no
/// declaration: every client serves them for single values and Discover.
pub(crate) fn declared(t: &Target, cf: u16) -> Result<u16, BusResult> {
    if t.content_formats.is_empty() || t.content_formats.contains(&cf) || matches!(cf, 0 | 40 | 42)
    {
        return Ok(cf);
    }
    let name = ContentFormat::from_code(cf)
        .map(|f| f.name())
        .unwrap_or("an unknown format");
    Err(failure(
        String::new(),
        error::Kind::UnsupportedContentFormat,
        format!(
            "the device did not declare content format {cf} ({name}); it declared {:?}",
            t.content_formats
        ),
    ))
}

/// Formats without types (TLV, text, CBOR) cannot type the values of an object the server does
/// not know: they come back opaque, and the caller is told why.
fn untyped_note(path: &Path, format: u16, model: &ModelRegistry) -> Option<String> {
    let object = path.object()?;
    let typed_by_model = matches!(
        ContentFormat::from_code(format),
        Some(
            ContentFormat::Tlv
                | ContentFormat::LegacyTlv
                | ContentFormat::TextPlain
                | ContentFormat::Cbor
        )
    );
    (typed_by_model && !model.knows(object)).then(|| {
        format!("object {object} is unknown to the server (no definition loaded): values are opaque; load its DDF with --object-dir or read it as SenML")
    })
}

fn create_records(
    object: &Path,
    instance: Option<u16>,
    values: &[CreateValue],
) -> Result<Vec<Record>, BusResult> {
    let (Some(o), i) = (object.object(), instance.unwrap_or(0)) else {
        return Err(bad_request(format!(
            "Create needs an object path, not {object}"
        )));
    };
    values
        .iter()
        .map(|v| {
            let r = u16::try_from(v.resource_id)
                .map_err(|_| bad_request("resource id out of range".into()))?;
            let path = match v.resource_instance_id {
                None => Path::new_resource(o, i, r),
                Some(ri) => Path::new_resource_instance(
                    o,
                    i,
                    r,
                    u16::try_from(ri)
                        .map_err(|_| bad_request("resource instance id out of range".into()))?,
                ),
            };
            let value = v
                .value
                .as_ref()
                .and_then(value_core)
                .ok_or_else(|| bad_request(format!("value at {path} is unset")))?;
            Ok(Record::new(path, value))
        })
        .collect()
}

/// Sends `request`, block-wise where it needs to be (RFC 7959): a payload larger than one block
/// goes out with Block1, and an answer the device splits with Block2 is reassembled, up to
/// `limits.max_transfer` bytes.
async fn send(
    coap: &CoapHandle,
    t: &Target,
    request: Packet,
    limits: &Limits,
) -> Result<Packet, BusResult> {
    let too_large = |what: &str| {
        failure(
            String::new(),
            error::Kind::BadRequest,
            format!(
                "{what} exceeds the node's {} byte transfer limit",
                limits.max_transfer
            ),
        )
    };
    if request.payload.len() > limits.max_transfer {
        return Err(too_large("request payload"));
    }
    let mut response = if request.payload.len() > BLOCK_SIZE {
        let (mut upload, first) =
            Block1Upload::start(request.clone(), BLOCK_SIZE).map_err(block_error)?;
        let mut next = first;
        loop {
            let r = exchange(coap, t, next).await?;
            match upload.on_response(r).map_err(block_error)? {
                Step::Send(p) => next = p,
                Step::Done(p) => break p,
            }
        }
    } else {
        exchange(coap, t, request.clone()).await?
    };
    let (mut download, mut step) = Block2Download::start(&request, response, limits.max_transfer)
        .map_err(|e| match e {
        BlockError::TooLarge { .. } => too_large("device answer"),
        other => block_error(other),
    })?;
    loop {
        match step {
            Step::Done(p) => return Ok(p),
            Step::Send(next) => {
                response = exchange(coap, t, next).await?;
                step = download.on_response(response).map_err(|e| match e {
                    BlockError::TooLarge { .. } => too_large("device answer"),
                    other => block_error(other),
                })?;
            }
        }
    }
}

pub(crate) async fn exchange(
    coap: &CoapHandle,
    t: &Target,
    request: Packet,
) -> Result<Packet, BusResult> {
    coap.request(t.peer, request)
        .await
        .map_err(|e| failure(String::new(), request_error_kind(&e), e.to_string()))
}

pub(crate) fn request_error_kind(e: &RequestError) -> error::Kind {
    match e {
        // Retransmissions ran out before the deadline: the device is unreachable, which is
        // not the caller's deadline passing.
        RequestError::Timeout => error::Kind::Unavailable,
        RequestError::Reset => error::Kind::Reset,
        RequestError::Overloaded | RequestError::Closed => error::Kind::Unavailable,
    }
}

fn block_error(e: BlockError) -> BusResult {
    failure(
        String::new(),
        error::Kind::BadContent,
        format!("block-wise transfer: {e}"),
    )
}

fn expect(response: Packet, code: u8) -> Result<String, BusResult> {
    manage::expect_code(&response, code).map_err(answer_error)
}

pub(crate) fn parse_path(s: &str) -> Result<Path, BusResult> {
    Path::parse(s).map_err(|e| bad_request(format!("path {s:?}: {e}")))
}

pub(crate) fn format_number(cf: u32) -> Result<u16, BusResult> {
    u16::try_from(cf).map_err(|_| bad_request(format!("content format {cf} out of range")))
}

pub(crate) fn ok(coap_code: String, response: result::Response) -> BusResult {
    BusResult {
        coap_code,
        error: None,
        response: Some(response),
    }
}

pub fn failure(coap_code: String, kind: error::Kind, message: String) -> BusResult {
    BusResult {
        coap_code,
        error: Some(BusError {
            kind: kind as i32,
            message,
        }),
        response: None,
    }
}

pub(crate) fn bad_request(message: String) -> BusResult {
    failure(String::new(), error::Kind::BadRequest, message)
}

pub(crate) fn op_error(e: OpError) -> BusResult {
    match e {
        OpError::UnsupportedFormat(_) => failure(
            String::new(),
            error::Kind::UnsupportedContentFormat,
            e.to_string(),
        ),
        other => bad_request(other.to_string()),
    }
}

fn answer_error(e: AnswerError) -> BusResult {
    match e {
        AnswerError::Device(code) => {
            let message = format!("device answered {code}");
            failure(code, error::Kind::DeviceError, message)
        }
        AnswerError::BadContent { ref code, .. } => {
            failure(code.clone(), error::Kind::BadContent, e.to_string())
        }
    }
}

pub(crate) fn read_error(code: &str, e: ReadError) -> BusResult {
    match e {
        ReadError::Device(code) => {
            let message = format!("device answered {code}");
            failure(code, error::Kind::DeviceError, message)
        }
        e @ ReadError::UnsupportedFormat(_) => failure(
            code.into(),
            error::Kind::UnsupportedContentFormat,
            e.to_string(),
        ),
        e @ ReadError::BadContent { .. } => {
            failure(code.into(), error::Kind::BadContent, e.to_string())
        }
    }
}
