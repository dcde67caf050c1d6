//! Information-reporting commands: `observe` (a streaming Observe), `observation create | delete
//! | list` (durable observations) and the output of `notifications` (followed by `run::follow`).

use anyhow::{Context, Result};
use clap::Subcommand;
use lwm2m_proto::v1::{
    notification, CreateObservationRequest, DeleteObservationRequest, ListObservationsRequest,
    Notification, Observation, ObserveRequest,
};
use prost_types::Timestamp;
use serde_json::{json, Value as Json};
use tonic::Request;

use super::args::{parse_format, parse_time, ReadFormat};
use super::json::{timestamp_json, value_json};
use super::run::{deadline, emit, emit_json, request, Client};
use super::text::{opt_rfc3339, table, value_text};

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// LwM2M Observe of one path, or Observe-Composite of several: prints the initial value and
    /// every notification until Ctrl-C (or --count). Leaving cancels the observation.
    Observe {
        /// LwM2M endpoint client name.
        endpoint: String,
        /// Paths to observe, e.g. /3/0/9 (several: Observe-Composite).
        #[arg(required = true)]
        paths: Vec<String>,
        /// Content format to ask for (as for `read`). Default: the node's choice.
        #[arg(long, value_name = "FORMAT", value_parser = parse_format)]
        format: Option<ReadFormat>,
        /// Stop after this many notifications (the initial value counts).
        #[arg(long, value_name = "N")]
        count: Option<u64>,
    },
    /// Durable observations: kept in Postgres, re-established after node restarts, their
    /// notifications in the LWM2M_NOTIFY stream (see `notifications`).
    #[command(subcommand)]
    Observation(ObservationCommand),
    /// Follows notifications of durable observations and Send data; reconnects and resumes from
    /// the last sequence + 1 on disconnect. Stop with Ctrl-C.
    Notifications {
        /// Only this endpoint's notifications.
        #[arg(long, value_name = "EP")]
        endpoint: Option<String>,
        /// Start at this stream sequence.
        #[arg(long, value_name = "N", conflicts_with = "from_time")]
        from_seq: Option<u64>,
        /// Start at notifications received at or after this RFC 3339 time.
        #[arg(long, value_name = "RFC3339", value_parser = parse_time)]
        from_time: Option<Timestamp>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ObservationCommand {
    /// Create a durable observation; prints its id and the initial value.
    Create {
        endpoint: String,
        #[arg(required = true)]
        paths: Vec<String>,
        #[arg(long, value_name = "FORMAT", value_parser = parse_format)]
        format: Option<ReadFormat>,
    },
    /// Cancel a durable observation on the device and remove it.
    Delete { id: String },
    /// List durable observations (every page).
    List {
        /// Only this endpoint's observations.
        #[arg(long, value_name = "EP")]
        endpoint: Option<String>,
    },
}

/// Runs `observe` and `observation`; `notifications` goes through `run::follow`.
pub async fn call(
    client: &mut Client,
    cmd: ReportCommand,
    as_json: bool,
    timeout: std::time::Duration,
) -> Result<()> {
    match cmd {
        ReportCommand::Observe {
            endpoint,
            paths,
            format,
            count,
        } => {
            let req = ObserveRequest {
                endpoint,
                paths,
                content_format: format.unwrap_or_default().content_format,
            };
            // No grpc-timeout: the stream lasts until we leave. Opening it is bounded here.
            let mut stream = deadline(timeout, client.observe(Request::new(req)))
                .await?
                .into_inner();
            let mut seen = 0;
            while count.is_none_or(|c| seen < c) {
                let next = tokio::select! {
                    n = stream.message() => n?,
                    r = tokio::signal::ctrl_c() => { r.context("waiting for Ctrl-C")?; None }
                };
                let Some(n) = next else { break };
                emit(&notification_out(&n, as_json))?;
                seen += 1;
            }
            Ok(())
        }
        ReportCommand::Observation(ObservationCommand::Create {
            endpoint,
            paths,
            format,
        }) => {
            let req = CreateObservationRequest {
                endpoint,
                paths,
                content_format: format.unwrap_or_default().content_format,
            };
            let call = client.create_observation(request(req, timeout));
            let resp = deadline(timeout, call).await?.into_inner();
            let obs = resp.observation.unwrap_or_default();
            match as_json {
                true => emit_json(&json!({
                    "observation": observation_json(&obs),
                    "initial": resp.initial.as_ref().map_or(Json::Null, notification_json),
                })),
                false => {
                    let mut out = format!("created observation {}\n", obs.id);
                    if let Some(n) = &resp.initial {
                        out.push_str(&values_text(n));
                    }
                    emit(&out)
                }
            }
        }
        ReportCommand::Observation(ObservationCommand::Delete { id }) => {
            let req = DeleteObservationRequest { observation_id: id };
            deadline(timeout, client.delete_observation(request(req, timeout))).await?;
            match as_json {
                true => emit_json(&json!({ "deleted": true })),
                false => emit("deleted\n"),
            }
        }
        ReportCommand::Observation(ObservationCommand::List { endpoint }) => {
            let mut req = ListObservationsRequest {
                endpoint: endpoint.unwrap_or_default(),
                page_size: 1000,
                page_token: String::new(),
            };
            let mut all = Vec::new();
            loop {
                let call = client.list_observations(request(req.clone(), timeout));
                let page = deadline(timeout, call).await?.into_inner();
                all.extend(page.observations);
                if page.next_page_token.is_empty() || page.next_page_token == req.page_token {
                    break;
                }
                req.page_token = page.next_page_token;
            }
            match as_json {
                true => emit_json(&json!(all.iter().map(observation_json).collect::<Vec<_>>())),
                false => emit(&observation_table(&all)),
            }
        }
        ReportCommand::Notifications { .. } => {
            anyhow::bail!("notifications are followed by run::follow")
        }
    }
}

/// One notification as printed by `observe` and `notifications`.
pub fn notification_out(n: &Notification, as_json: bool) -> String {
    match as_json {
        true => format!("{}\n", notification_json(n)),
        false => notification_line(n),
    }
}

/// `seq  KIND  endpoint  observation  received  /path=value ...`
pub fn notification_line(n: &Notification) -> String {
    let kind = notification::Kind::try_from(n.kind)
        .map(|k| k.as_str_name().to_string())
        .unwrap_or_else(|_| format!("KIND_{}", n.kind));
    let values: Vec<String> = n
        .values
        .iter()
        .map(|v| {
            format!(
                "{}={}",
                v.path,
                v.value.as_ref().map_or("-".into(), value_text)
            )
        })
        .collect();
    let obs = if n.observation_id.is_empty() {
        "-"
    } else {
        &n.observation_id
    };
    format!(
        "{}  {:<7}  {}  {}  {}  {}\n",
        n.sequence,
        kind,
        n.endpoint,
        obs,
        opt_rfc3339(n.received_at.as_ref()),
        values.join(" ")
    )
}

fn values_text(n: &Notification) -> String {
    n.values
        .iter()
        .map(|v| {
            format!(
                "{} = {}\n",
                v.path,
                v.value.as_ref().map_or("-".into(), value_text)
            )
        })
        .collect()
}

pub fn notification_json(n: &Notification) -> Json {
    let kind = notification::Kind::try_from(n.kind)
        .map(|k| k.as_str_name().to_string())
        .unwrap_or_else(|_| format!("KIND_{}", n.kind));
    json!({
        "sequence": n.sequence,
        "kind": kind,
        "endpoint": n.endpoint,
        "registration_id": n.registration_id,
        "observation_id": n.observation_id,
        "paths": n.paths,
        "received_at": timestamp_json(n.received_at.as_ref()),
        "coap_code": n.coap_code,
        "content_format": n.content_format,
        "observe_value": n.observe_value,
        "event_id": n.event_id,
        "values": n.values.iter().map(|v| json!({
            "path": v.path,
            "value": v.value.as_ref().map_or(Json::Null, value_json),
            "device_time": timestamp_json(v.device_time.as_ref()),
        })).collect::<Vec<_>>(),
    })
}

fn observation_json(o: &Observation) -> Json {
    json!({
        "id": o.id,
        "endpoint": o.endpoint,
        "registration_id": o.registration_id,
        "paths": o.paths,
        "content_format": o.content_format,
        "created_at": timestamp_json(o.created_at.as_ref()),
    })
}

fn observation_table(all: &[Observation]) -> String {
    let rows: Vec<Vec<String>> = all
        .iter()
        .map(|o| {
            vec![
                o.id.clone(),
                o.endpoint.clone(),
                o.paths.join(","),
                opt_rfc3339(o.created_at.as_ref()),
            ]
        })
        .collect();
    table(&["ID", "ENDPOINT", "PATHS", "CREATED"], &rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lwm2m_proto::v1::value::Kind;
    use lwm2m_proto::v1::{TimedValue, Value};

    fn sample() -> Notification {
        Notification {
            kind: notification::Kind::Observe as i32,
            endpoint: "dev-1".into(),
            observation_id: "ab12".into(),
            sequence: 7,
            received_at: Some(Timestamp {
                seconds: 1_714_564_800,
                nanos: 0,
            }),
            values: vec![TimedValue {
                path: "/3/0/9".into(),
                value: Some(Value {
                    kind: Some(Kind::IntegerValue(55)),
                }),
                device_time: None,
            }],
            ..Default::default()
        }
    }

    #[test]
    fn notification_line_and_json() {
        assert_eq!(
            notification_line(&sample()),
            "7  OBSERVE  dev-1  ab12  2024-05-01T12:00:00Z  /3/0/9=55\n"
        );
        let j = notification_json(&sample());
        assert_eq!(j["kind"], "OBSERVE");
        assert_eq!(j["values"][0]["value"]["type"], "integer");
        assert_eq!(j["values"][0]["device_time"], Json::Null);
    }

    #[test]
    fn observation_table_has_a_row_each() {
        let o = Observation {
            id: "ab12".into(),
            endpoint: "dev-1".into(),
            paths: vec!["/3/0/9".into(), "/3/0/0".into()],
            ..Default::default()
        };
        let t = observation_table(&[o]);
        assert!(t.contains("ab12") && t.contains("/3/0/9,/3/0/0"), "{t}");
    }
}
