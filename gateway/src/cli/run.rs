//! Executes a parsed command line against a gateway and turns the outcome into an exit code.
//!
//! Error contract: a failed call prints `error: <GRPC_CODE>: <message>` (plus
//! `(device answered 4.04)` when the error metadata carries `lwm2m-coap-code`) and exits 1; a
//! gateway that cannot be reached prints a message naming its URL and exits 2, as does a value
//! of a management command that does not parse (checked before connecting).

use std::future::Future;
use std::io::{self, Write};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use lwm2m_proto::v1::device_service_client::DeviceServiceClient;
use lwm2m_proto::v1::{
    subscribe_notifications_request, watch_registrations_request, GetRegistrationRequest,
    ListRegistrationsRequest, ReadRequest, SubscribeNotificationsRequest,
    WatchRegistrationsRequest,
};
use prost_types::Timestamp;
use serde_json::Value as Json;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request, Status};

use super::args::{Cli, Command};
use super::manage::{self, UsageError};
use super::report::{self, ReportCommand};
use super::{code_name, json, text};
use crate::status::COAP_CODE_KEY;

pub(super) type Client = DeviceServiceClient<Channel>;

/// First pause before `watch` reconnects; doubles per failed attempt up to [`MAX_BACKOFF`], and
/// resets once an event arrives.
const INITIAL_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// The gateway could not be reached (bad URL, refused, timed out): exit code 2.
#[derive(Debug)]
pub struct ConnectError {
    url: String,
    /// Printed with its whole chain: tonic's own message is just "transport error", the useful
    /// part (e.g. "Connection refused") is further down.
    source: anyhow::Error,
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let cause = chain_text(&self.source);
        write!(f, "cannot connect to gateway {}: {cause}", self.url)
    }
}

/// An error and its causes joined by `: `, skipping a cause whose text the previous message
/// already ends with (hyper and tonic repeat their source in their own message).
pub fn chain_text(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain().map(ToString::to_string) {
        if !out.ends_with(&cause) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&cause);
        }
    }
    out
}

impl std::error::Error for ConnectError {}

/// Runs the command and reports failures on stderr; returns the process exit code.
pub async fn main(cli: Cli) -> ExitCode {
    let Err(e) = run(cli).await else {
        return ExitCode::SUCCESS;
    };
    if let Some(status) = e.downcast_ref::<Status>() {
        eprintln!("error: {}", status_line(status));
        return ExitCode::from(1);
    }
    if e.downcast_ref::<ConnectError>().is_some() || e.downcast_ref::<UsageError>().is_some() {
        eprintln!("error: {e:#}");
        return ExitCode::from(2);
    }
    if e.downcast_ref::<io::Error>()
        .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    {
        return ExitCode::SUCCESS; // `lwm2m list | head`: the reader has seen enough.
    }
    eprintln!("error: {e:#}");
    ExitCode::from(1)
}

/// `<GRPC_CODE>: <message>[ (device answered <coap>)]`.
pub fn status_line(s: &Status) -> String {
    let mut line = code_name(s.code()).to_string();
    if !s.message().is_empty() {
        line.push_str(": ");
        line.push_str(s.message());
    }
    if let Some(coap) = s
        .metadata()
        .get(COAP_CODE_KEY)
        .and_then(|v| v.to_str().ok())
    {
        line.push_str(&format!(" (device answered {coap})"));
    }
    line
}

async fn run(cli: Cli) -> Result<()> {
    let timeout = cli.timeout();
    // Management commands check their values before connecting: a bad value is a usage error
    // (exit 2) whether or not a gateway is up.
    let op = match &cli.command {
        Command::Manage(m) => Some(manage::Op::build(m)?),
        _ => None,
    };
    let channel = connect_channel(&cli.gateway, timeout).await?;
    if let Command::Security(cmd) = cli.command {
        return super::security::run(channel, cmd, cli.json, timeout).await;
    }
    let mut client = DeviceServiceClient::new(channel);
    if let Some(op) = op {
        return manage::call(&mut client, op, cli.json, timeout).await;
    }
    match cli.command {
        Command::List {
            prefix,
            page_size,
            page_token,
            all,
        } => {
            let req = ListRegistrationsRequest {
                page_size: page_size.unwrap_or(0),
                page_token: page_token.unwrap_or_default(),
                endpoint_prefix: prefix.unwrap_or_default(),
            };
            list(&mut client, req, all, cli.json, timeout).await
        }
        Command::Get { endpoint } => {
            let call =
                client.get_registration(request(GetRegistrationRequest { endpoint }, timeout));
            let resp = deadline(timeout, call).await?.into_inner();
            let reg = resp
                .registration
                .context("the gateway answered without a registration")?;
            match cli.json {
                true => emit_json(&json::registration_json(&reg)),
                false => emit(&text::registration_details(&reg)),
            }
        }
        Command::Read {
            endpoint,
            path,
            format,
        } => {
            let f = format.unwrap_or_default();
            let req = ReadRequest {
                endpoint: endpoint.clone(),
                path: path.clone(),
                content_format: f.content_format,
                text_plain: f.text_plain,
            };
            let resp = deadline(timeout, client.read(request(req, timeout))).await?;
            let coap = resp
                .metadata()
                .get(COAP_CODE_KEY)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let resp = resp.into_inner();
            for note in &resp.notes {
                eprintln!("note: {note}");
            }
            match cli.json {
                true => emit_json(&json::read_json(&endpoint, &path, &resp, coap.as_deref())),
                false => emit(&text::render_content(&path, resp.content.as_ref())),
            }
        }
        Command::Watch {
            from_seq,
            from_time,
        } => {
            let start = Resume::from_args(from_seq, from_time);
            follow(&mut client, Feed::Registrations, start, cli.json, timeout).await
        }
        Command::Report(ReportCommand::Notifications {
            endpoint,
            from_seq,
            from_time,
        }) => {
            let feed = Feed::Notifications {
                endpoint: endpoint.unwrap_or_default(),
            };
            let start = Resume::from_args(from_seq, from_time);
            follow(&mut client, feed, start, cli.json, timeout).await
        }
        Command::Report(r) => report::call(&mut client, r, cli.json, timeout).await,
        Command::Manage(_) => unreachable!("sent as an Op above"),
        Command::Security(_) => unreachable!("run above"),
    }
}

/// Connects eagerly, so an unreachable gateway is reported as such (exit 2) rather than as the
/// first call's UNAVAILABLE.
#[cfg(test)]
async fn connect(url: &str, timeout: Duration) -> Result<Client> {
    Ok(DeviceServiceClient::new(
        connect_channel(url, timeout).await?,
    ))
}

async fn connect_channel(url: &str, timeout: Duration) -> Result<Channel> {
    let fail = |source: anyhow::Error| ConnectError {
        url: url.to_string(),
        source,
    };
    let endpoint = Endpoint::from_shared(url.to_string())
        .map_err(|e| fail(anyhow::Error::new(e).context("invalid URL")))?
        .connect_timeout(timeout);
    match tokio::time::timeout(timeout, endpoint.connect()).await {
        Ok(Ok(channel)) => Ok(channel),
        Ok(Err(e)) => Err(fail(anyhow::Error::new(e)).into()),
        Err(_) => Err(fail(anyhow::anyhow!(
            "no connection within {}s",
            timeout.as_secs()
        ))
        .into()),
    }
}

/// A request carrying the call deadline (sent to the gateway as `grpc-timeout`).
pub(super) fn request<T>(msg: T, timeout: Duration) -> Request<T> {
    let mut req = Request::new(msg);
    req.set_timeout(timeout);
    req
}

/// Enforces the deadline on this side too, in case the gateway never answers at all; the
/// grace second lets the gateway's own DEADLINE_EXCEEDED (with its metadata) arrive first.
pub(super) async fn deadline<T>(
    timeout: Duration,
    call: impl Future<Output = Result<T, Status>>,
) -> Result<T, Status> {
    match tokio::time::timeout(timeout + Duration::from_secs(1), call).await {
        Ok(r) => r,
        Err(_) => Err(Status::deadline_exceeded(format!(
            "no answer within {}s",
            timeout.as_secs()
        ))),
    }
}

pub(super) fn emit(s: &str) -> Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(s.as_bytes())?;
    out.flush()?;
    Ok(())
}

pub(super) fn emit_json(doc: &Json) -> Result<()> {
    emit(&format!("{}\n", serde_json::to_string_pretty(doc)?))
}

async fn list(
    client: &mut Client,
    mut req: ListRegistrationsRequest,
    all: bool,
    as_json: bool,
    timeout: Duration,
) -> Result<()> {
    let mut regs = Vec::new();
    let next = loop {
        let call = client.list_registrations(request(req.clone(), timeout));
        let page = deadline(timeout, call).await?.into_inner();
        regs.extend(page.registrations);
        if !all || page.next_page_token.is_empty() {
            break page.next_page_token;
        }
        if page.next_page_token == req.page_token {
            bail!(
                "the gateway returned page token {:?} twice; stopping",
                req.page_token
            );
        }
        req.page_token = page.next_page_token;
    };
    match as_json {
        true => emit_json(&json::list_json(&regs, Some(&next)))?,
        false => emit(&text::registration_table(&regs))?,
    }
    if !next.is_empty() {
        eprintln!("next page token: {next}  (continue with --page-token {next})");
    }
    Ok(())
}

/// Status codes after which reconnecting cannot help: the request itself is refused.
fn is_fatal(code: Code) -> bool {
    matches!(
        code,
        Code::InvalidArgument
            | Code::Unimplemented
            | Code::PermissionDenied
            | Code::Unauthenticated
    )
}

/// A resumable stream of the gateway.
#[derive(Debug, Clone)]
pub(super) enum Feed {
    /// WatchRegistrations.
    Registrations,
    /// SubscribeNotifications, for one endpoint or (empty) all.
    Notifications { endpoint: String },
}

impl Feed {
    fn name(&self) -> &'static str {
        match self {
            Feed::Registrations => "watch",
            Feed::Notifications { .. } => "notifications",
        }
    }
}

/// Where a stream (re)starts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Resume {
    Now,
    Sequence(u64),
    Time(Timestamp),
}

impl Resume {
    fn from_args(from_seq: Option<u64>, from_time: Option<Timestamp>) -> Resume {
        match (from_seq, from_time) {
            (Some(n), _) => Resume::Sequence(n),
            (None, Some(t)) => Resume::Time(t),
            (None, None) => Resume::Now,
        }
    }
}

/// Follows a stream until Ctrl-C. On a stream error or end it waits (exponential back-off) and
/// calls again with `from_sequence` = last sequence seen + 1 — the resume contract of
/// WatchRegistrations and SubscribeNotifications — so nothing is lost or repeated.
pub(super) async fn follow(
    client: &mut Client,
    feed: Feed,
    mut start: Resume,
    as_json: bool,
    timeout: Duration,
) -> Result<()> {
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut backoff = INITIAL_BACKOFF;
    loop {
        let attempt = follow_once(client, &feed, &mut start, &mut backoff, as_json, timeout);
        let outcome = tokio::select! {
            r = &mut ctrl_c => return r.context("waiting for Ctrl-C"),
            r = attempt => r,
        };
        let why = match outcome {
            Ok(()) => "the gateway closed the stream".to_string(),
            Err(e) => match e.downcast::<Status>() {
                Ok(s) if !is_fatal(s.code()) => status_line(&s),
                Ok(s) => return Err(s.into()),
                Err(e) => return Err(e),
            },
        };
        let from = match &start {
            Resume::Sequence(n) => format!("from sequence {n}"),
            Resume::Time(t) => format!("from {}", text::rfc3339(t)),
            Resume::Now => "from now".to_string(),
        };
        eprintln!(
            "{}: {why}; reconnecting {from} in {:.1}s",
            feed.name(),
            backoff.as_secs_f64()
        );
        tokio::select! {
            r = &mut ctrl_c => return r.context("waiting for Ctrl-C"),
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// One stream: opens it (within `timeout`), prints each item, and advances `start` past it.
async fn follow_once(
    client: &mut Client,
    feed: &Feed,
    start: &mut Resume,
    backoff: &mut Duration,
    as_json: bool,
    timeout: Duration,
) -> Result<()> {
    match feed {
        Feed::Registrations => {
            use watch_registrations_request::Start;
            let start_msg = match *start {
                Resume::Now => None,
                Resume::Sequence(n) => Some(Start::FromSequence(n)),
                Resume::Time(t) => Some(Start::FromTime(t)),
            };
            let req = Request::new(WatchRegistrationsRequest { start: start_msg });
            let stream = deadline(timeout, client.watch_registrations(req)).await?;
            drain(stream.into_inner(), start, backoff, |ev| {
                let line = match as_json {
                    true => format!("{}\n", json::event_json(ev)),
                    false => text::event_line(ev),
                };
                (ev.sequence, line)
            })
            .await
        }
        Feed::Notifications { endpoint } => {
            use subscribe_notifications_request::Start;
            let start_msg = match *start {
                Resume::Now => None,
                Resume::Sequence(n) => Some(Start::FromSequence(n)),
                Resume::Time(t) => Some(Start::FromTime(t)),
            };
            let req = Request::new(SubscribeNotificationsRequest {
                endpoint: endpoint.clone(),
                start: start_msg,
            });
            let stream = deadline(timeout, client.subscribe_notifications(req)).await?;
            drain(stream.into_inner(), start, backoff, |n| {
                (n.sequence, report::notification_out(n, as_json))
            })
            .await
        }
    }
}

/// Prints every item of `stream`; `line` gives an item's stream sequence and its output.
async fn drain<T>(
    mut stream: tonic::Streaming<T>,
    start: &mut Resume,
    backoff: &mut Duration,
    line: impl Fn(&T) -> (u64, String),
) -> Result<()> {
    while let Some(item) = stream.message().await? {
        let (sequence, out) = line(&item);
        emit(&out)?;
        if sequence > 0 {
            *start = Resume::Sequence(sequence + 1);
        }
        *backoff = INITIAL_BACKOFF;
    }
    Ok(())
}

#[cfg(test)]
#[path = "run_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "e2e_tests.rs"]
mod e2e_tests;
