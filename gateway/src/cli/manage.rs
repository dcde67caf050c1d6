//! The device management commands: `write`, `execute`, `create`, `delete`, `discover` and
//! `write-attributes`.
//!
//! [`Op::build`] turns the parsed command line into the gRPC request, checking the values
//! before anything is sent (a bad value is a [`UsageError`], exit 2); [`call`] sends it with
//! the `--timeout` deadline and prints the outcome: `OK (2.04)` (create: the new instance's
//! path), the links of a Discover, or with `--json` one document.

use std::time::Duration;

use anyhow::Result;
use lwm2m_proto::v1::write_request::Mode;
use lwm2m_proto::v1::{
    Attributes, CreateRequest, DeleteRequest, DiscoverRequest, ExecuteRequest,
    WriteAttributesRequest, WriteRequest,
};
use tonic::Response;

use super::args::ManageCommand;
use super::run::{deadline, emit, emit_json, request, Client};
use super::values::{check_execute_args, create_values, write_values};
use super::{json, text};
use crate::status::COAP_CODE_KEY;

/// The command line is well-formed for clap but its values are not: printed as
/// `error: <message>`, exit 2 (like clap's own usage errors).
#[derive(Debug, PartialEq, Eq)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// A management request, ready to send.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    Write(WriteRequest),
    Execute(ExecuteRequest),
    Create(CreateRequest),
    Delete(DeleteRequest),
    Discover(DiscoverRequest),
    WriteAttributes(WriteAttributesRequest),
}

impl Op {
    /// The request of a management command; values are typed and checked here.
    pub fn build(cmd: &ManageCommand) -> Result<Op, UsageError> {
        let op = match cmd {
            ManageCommand::Write {
                endpoint,
                path,
                values,
                value_type,
                partial,
                format,
            } => {
                let f = format.unwrap_or_default();
                let mode = if *partial {
                    Mode::PartialUpdate
                } else {
                    Mode::Replace
                };
                Op::Write(WriteRequest {
                    endpoint: endpoint.clone(),
                    path: path.clone(),
                    mode: mode.into(),
                    values: write_values(path, values, *value_type).map_err(UsageError)?,
                    content_format: f.content_format,
                    text_plain: f.text_plain,
                })
            }
            ManageCommand::Execute {
                endpoint,
                path,
                arguments,
            } => {
                let arguments = arguments.clone().unwrap_or_default();
                if !arguments.is_empty() {
                    check_execute_args(&arguments).map_err(UsageError)?;
                }
                Op::Execute(ExecuteRequest {
                    endpoint: endpoint.clone(),
                    path: path.clone(),
                    arguments,
                })
            }
            ManageCommand::Create {
                endpoint,
                path,
                id,
                values,
                value_type,
                format,
            } => {
                let f = format.unwrap_or_default();
                if f.text_plain {
                    return Err(UsageError(
                        "create cannot send text/plain (it carries one value): use senml-json, \
                         senml-cbor, tlv or lwm2m-json"
                            .into(),
                    ));
                }
                Op::Create(CreateRequest {
                    endpoint: endpoint.clone(),
                    path: path.clone(),
                    instance_id: id.map(u32::from),
                    values: create_values(values, *value_type).map_err(UsageError)?,
                    content_format: f.content_format,
                })
            }
            ManageCommand::Delete { endpoint, path } => Op::Delete(DeleteRequest {
                endpoint: endpoint.clone(),
                path: path.clone(),
            }),
            ManageCommand::Discover { endpoint, path } => Op::Discover(DiscoverRequest {
                endpoint: endpoint.clone(),
                path: path.clone(),
            }),
            ManageCommand::WriteAttributes {
                endpoint,
                path,
                pmin,
                pmax,
                gt,
                lt,
                st,
                epmin,
                epmax,
                unset,
            } => {
                let attributes = Attributes {
                    pmin: *pmin,
                    pmax: *pmax,
                    gt: *gt,
                    lt: *lt,
                    st: *st,
                    epmin: *epmin,
                    epmax: *epmax,
                    unset: unset.clone(),
                };
                check_attributes(&attributes).map_err(UsageError)?;
                Op::WriteAttributes(WriteAttributesRequest {
                    endpoint: endpoint.clone(),
                    path: path.clone(),
                    attributes: Some(attributes),
                })
            }
        };
        Ok(op)
    }
}

/// An attribute is either set or unset, once; thresholds must be finite numbers.
fn check_attributes(a: &Attributes) -> Result<(), String> {
    for (name, value) in [("gt", a.gt), ("lt", a.lt), ("st", a.st)] {
        if value.is_some_and(|v| !v.is_finite()) {
            return Err(format!("--{name} must be a finite number"));
        }
    }
    let set = [
        ("pmin", a.pmin.is_some()),
        ("pmax", a.pmax.is_some()),
        ("gt", a.gt.is_some()),
        ("lt", a.lt.is_some()),
        ("st", a.st.is_some()),
        ("epmin", a.epmin.is_some()),
        ("epmax", a.epmax.is_some()),
    ];
    for (i, name) in a.unset.iter().enumerate() {
        if set.iter().any(|(n, is_set)| n == name && *is_set) {
            return Err(format!("--{name} and --unset {name} contradict each other"));
        }
        if a.unset[..i].contains(name) {
            return Err(format!("--unset {name} given twice"));
        }
    }
    Ok(())
}

/// The device's CoAP code: the `lwm2m-coap-code` response metadata when the gateway sent it,
/// else the code in the response body.
fn coap_code<T>(resp: &Response<T>, body: impl Fn(&T) -> &str) -> String {
    resp.metadata()
        .get(COAP_CODE_KEY)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| body(resp.get_ref()))
        .to_string()
}

/// Sends the request within `timeout` and prints the outcome.
pub async fn call(client: &mut Client, op: Op, as_json: bool, timeout: Duration) -> Result<()> {
    let (endpoint, path, coap) = match op {
        Op::Write(req) => {
            let (ep, path) = (req.endpoint.clone(), req.path.clone());
            let resp = deadline(timeout, client.write(request(req, timeout))).await?;
            (ep, path, coap_code(&resp, |r| &r.coap_code))
        }
        Op::Execute(req) => {
            let (ep, path) = (req.endpoint.clone(), req.path.clone());
            let resp = deadline(timeout, client.execute(request(req, timeout))).await?;
            (ep, path, coap_code(&resp, |r| &r.coap_code))
        }
        Op::Delete(req) => {
            let (ep, path) = (req.endpoint.clone(), req.path.clone());
            let resp = deadline(timeout, client.delete(request(req, timeout))).await?;
            (ep, path, coap_code(&resp, |r| &r.coap_code))
        }
        Op::WriteAttributes(req) => {
            let (ep, path) = (req.endpoint.clone(), req.path.clone());
            let call = client.write_attributes(request(req, timeout));
            let resp = deadline(timeout, call).await?;
            (ep, path, coap_code(&resp, |r| &r.coap_code))
        }
        Op::Create(req) => {
            let (ep, path) = (req.endpoint.clone(), req.path.clone());
            let resp = deadline(timeout, client.create(request(req, timeout))).await?;
            let coap = coap_code(&resp, |r| &r.coap_code);
            let location = resp.into_inner().location;
            return match as_json {
                true => emit_json(&json::create_json(&ep, &path, &coap, &location)),
                false => emit(&text::created_line(&location, &coap)),
            };
        }
        Op::Discover(req) => {
            let (ep, path) = (req.endpoint.clone(), req.path.clone());
            let resp = deadline(timeout, client.discover(request(req, timeout))).await?;
            let coap = coap_code(&resp, |r| &r.coap_code);
            let resp = resp.into_inner();
            return match as_json {
                true => emit_json(&json::discover_json(&ep, &path, &coap, &resp)),
                false => emit(&text::discover_lines(&path, &resp.links)),
            };
        }
    };
    match as_json {
        true => emit_json(&json::outcome_json(&endpoint, &path, &coap)),
        false => emit(&text::ok_line(&coap)),
    }
}

#[cfg(test)]
#[path = "manage_tests.rs"]
mod tests;
