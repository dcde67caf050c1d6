//! The `lwm2m` command line (clap derive).

use std::time::Duration;

use clap::{ArgGroup, Parser, Subcommand};
use prost_types::Timestamp;

use super::values::ValueType;

/// Operator CLI of the LwM2M cluster: talks to any lwm2m-gateway over gRPC
/// (`lwm2m.v1.DeviceService`).
///
/// Exit codes: 0 success, 1 the call failed (gRPC error), 2 the gateway cannot be reached
/// (or a usage error).
#[derive(Debug, Parser)]
#[command(name = "lwm2m", version)]
pub struct Cli {
    /// gRPC address of a gateway.
    #[arg(
        long,
        global = true,
        env = "LWM2M_GATEWAY",
        default_value = "http://127.0.0.1:50051",
        value_name = "URL"
    )]
    pub gateway: String,
    /// Machine-readable output: one JSON document per command (`watch`: one JSON object per line).
    #[arg(long, global = true)]
    pub json: bool,
    /// Deadline of each gRPC call, in seconds (for `watch`: of opening the stream).
    #[arg(long, global = true, default_value_t = 30, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: u64,
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// `--timeout` as a duration.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout)
    }
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List registrations, ordered by endpoint, one page at a time (next page token on stderr).
    List {
        /// Only endpoints starting with this prefix.
        #[arg(long, value_name = "P")]
        prefix: Option<String>,
        /// Registrations per page (gateway default 100, at most 1000).
        #[arg(long, value_name = "N")]
        page_size: Option<u32>,
        /// Continue from the token a previous page printed.
        #[arg(long, value_name = "TOKEN", conflicts_with = "all")]
        page_token: Option<String>,
        /// Fetch every page.
        #[arg(long)]
        all: bool,
    },
    /// Show one registration.
    Get {
        /// LwM2M endpoint client name.
        endpoint: String,
    },
    /// LwM2M Read of an object, instance, resource or resource instance.
    Read {
        /// LwM2M endpoint client name.
        endpoint: String,
        /// LwM2M path: /3, /3/0, /3/0/1 or /3/0/11/0.
        path: String,
        /// Content format to ask for: senml-json, senml-cbor, tlv, lwm2m-json, text, or a CoAP
        /// content-format number (0 = text/plain). Default: the node's choice.
        #[arg(long, value_name = "FORMAT", value_parser = parse_format)]
        format: Option<ReadFormat>,
    },
    /// Follow registration events; reconnects and resumes from the last sequence + 1 on
    /// disconnect. Stop with Ctrl-C.
    Watch {
        /// Start at this stream sequence.
        #[arg(long, value_name = "N", conflicts_with = "from_time")]
        from_seq: Option<u64>,
        /// Start at events committed at or after this RFC 3339 time.
        #[arg(long, value_name = "RFC3339", value_parser = parse_time)]
        from_time: Option<Timestamp>,
    },
    #[command(flatten)]
    Manage(ManageCommand),
    #[command(flatten)]
    Report(super::report::ReportCommand),
    /// PSK credentials of endpoints (lwm2m.v1.SecurityService). Keys are never shown: only
    /// their length and a fingerprint (first 8 bytes of SHA-256, hex).
    #[command(subcommand)]
    Security(SecurityCommand),
}

/// `lwm2m security ...`; run by [`super::security`].
#[derive(Debug, Subcommand)]
pub enum SecurityCommand {
    /// Set the PSK credential of an endpoint (replaces the one it had).
    #[command(
        after_help = "Example:\n  lwm2m security put dev-1 --psk-identity dev-1-id --psk-key 000102030405"
    )]
    Put {
        endpoint: String,
        /// The PSK identity the device presents.
        #[arg(long, value_name = "ID")]
        psk_identity: String,
        /// The key in hex (checked by the gateway).
        #[arg(long, value_name = "HEX")]
        psk_key: String,
    },
    /// Show an endpoint's credential.
    Get { endpoint: String },
    /// Delete an endpoint's credential.
    Delete { endpoint: String },
    /// List credentials in endpoint order (every page).
    List,
}

/// Device management commands (Write, Execute, Create, Delete, Discover, Write-Attributes);
/// run by [`super::manage`].
#[derive(Debug, Subcommand)]
pub enum ManageCommand {
    /// LwM2M Write of an object instance, resource or resource instance.
    #[command(after_help = "Examples:\n  lwm2m write dev-1 /3/0/14 +01:00\n  \
        lwm2m write dev-1 /1/0 --partial /1/0/1=300 /1/0/6=true")]
    Write {
        /// LwM2M endpoint client name.
        endpoint: String,
        /// Target: /o/i, /o/i/r or /o/i/r/ri.
        path: String,
        /// PATH=VALUE (e.g. /3/0/14=+01:00), at or below the target; a single bare VALUE when
        /// the target is a resource or resource instance.
        #[arg(required = true, value_name = "VALUE", allow_negative_numbers = true)]
        values: Vec<String>,
        /// Type of every value (default: inferred: integer, float with a '.', true/false,
        /// else string).
        #[arg(long = "type", value_name = "TYPE", value_enum)]
        value_type: Option<ValueType>,
        /// Partial update (CoAP POST) of an object instance instead of replace (PUT).
        #[arg(long)]
        partial: bool,
        /// Payload content format: senml-json, senml-cbor, tlv, lwm2m-json, text, or a CoAP
        /// content-format number. Default: the node's choice.
        #[arg(long, value_name = "FORMAT", value_parser = parse_format)]
        format: Option<ReadFormat>,
    },
    /// LwM2M Execute of a resource.
    Execute {
        /// LwM2M endpoint client name.
        endpoint: String,
        /// Target resource /o/i/r.
        path: String,
        /// Arguments (TS 1.1 §5.4.2.5), e.g. "0='v',1".
        #[arg(long = "args", value_name = "ARGS")]
        arguments: Option<String>,
    },
    /// LwM2M Create of an object instance.
    #[command(after_help = "Example:\n  lwm2m create dev-1 /3303 --id 1 5700=21.5 5701=Cel")]
    Create {
        /// LwM2M endpoint client name.
        endpoint: String,
        /// Target object /o.
        path: String,
        /// Id of the new instance (default: the device chooses).
        #[arg(long, value_name = "N")]
        id: Option<u16>,
        /// RESOURCE=VALUE or RESOURCE/INSTANCE=VALUE, e.g. 5700=21.5 or 6/0=1.
        #[arg(value_name = "RESOURCE=VALUE", allow_negative_numbers = true)]
        values: Vec<String>,
        /// Type of every value (default: inferred, as for write).
        #[arg(long = "type", value_name = "TYPE", value_enum)]
        value_type: Option<ValueType>,
        /// Payload content format: senml-json, senml-cbor, tlv, lwm2m-json or a CoAP
        /// content-format number. Default: the node's choice.
        #[arg(long, value_name = "FORMAT", value_parser = parse_format)]
        format: Option<ReadFormat>,
    },
    /// LwM2M Delete of an object instance.
    Delete {
        /// LwM2M endpoint client name.
        endpoint: String,
        /// Target object instance /o/i.
        path: String,
    },
    /// LwM2M Discover: links and attributes below an object, instance or resource.
    Discover {
        /// LwM2M endpoint client name.
        endpoint: String,
        /// LwM2M path: /3, /3/0 or /3/0/7.
        path: String,
    },
    /// LwM2M Write-Attributes: set or unset notification attributes of a path.
    #[command(group(ArgGroup::new("attributes").required(true).multiple(true)))]
    WriteAttributes {
        /// LwM2M endpoint client name.
        endpoint: String,
        /// LwM2M path: /3, /3/0, /3/0/7 or /3/0/7/0.
        path: String,
        /// Minimum period, in seconds.
        #[arg(long, value_name = "SECS", group = "attributes")]
        pmin: Option<u32>,
        /// Maximum period, in seconds.
        #[arg(long, value_name = "SECS", group = "attributes")]
        pmax: Option<u32>,
        /// Greater-than threshold.
        #[arg(
            long,
            value_name = "X",
            group = "attributes",
            allow_negative_numbers = true
        )]
        gt: Option<f64>,
        /// Less-than threshold.
        #[arg(
            long,
            value_name = "X",
            group = "attributes",
            allow_negative_numbers = true
        )]
        lt: Option<f64>,
        /// Step.
        #[arg(long, value_name = "X", group = "attributes")]
        st: Option<f64>,
        /// Minimum evaluation period, in seconds.
        #[arg(long, value_name = "SECS", group = "attributes")]
        epmin: Option<u32>,
        /// Maximum evaluation period, in seconds.
        #[arg(long, value_name = "SECS", group = "attributes")]
        epmax: Option<u32>,
        /// Remove this attribute on the device (repeatable).
        #[arg(
            long,
            value_name = "NAME",
            group = "attributes",
            value_parser = ["pmin", "pmax", "gt", "lt", "st", "epmin", "epmax"]
        )]
        unset: Vec<String>,
    },
}

/// What `ReadRequest` asks the device for (and `WriteRequest` / `CreateRequest` send): `content_format` (0 = the node's choice) and
/// `text_plain` (the explicit text/plain request, since 0 is also text/plain's number).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReadFormat {
    pub content_format: u32,
    pub text_plain: bool,
}

/// Parses `--format`: a name or a CoAP content-format number (at most 65535).
pub fn parse_format(s: &str) -> Result<ReadFormat, String> {
    let cf = |content_format| {
        Ok(ReadFormat {
            content_format,
            text_plain: false,
        })
    };
    match s.to_ascii_lowercase().as_str() {
        "text" | "text-plain" | "0" => Ok(ReadFormat {
            content_format: 0,
            text_plain: true,
        }),
        "senml-json" => cf(110),
        "senml-cbor" => cf(112),
        "tlv" => cf(11542),
        "lwm2m-json" => cf(11543),
        other => match other.parse::<u16>() {
            Ok(n) => cf(u32::from(n)),
            Err(_) => Err(format!(
                "unknown format {s:?}: use senml-json, senml-cbor, tlv, lwm2m-json, text or a \
                 content-format number (0-65535)"
            )),
        },
    }
}

/// Parses `--from-time` (RFC 3339, any offset) into a protobuf timestamp.
pub fn parse_time(s: &str) -> Result<Timestamp, String> {
    let t = chrono::DateTime::parse_from_rfc3339(s)
        .map_err(|e| format!("not an RFC 3339 time ({e}), e.g. 2024-05-01T12:00:00Z"))?;
    Ok(Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_names_and_numbers() {
        let cf = |n| ReadFormat {
            content_format: n,
            text_plain: false,
        };
        assert_eq!(parse_format("senml-json"), Ok(cf(110)));
        assert_eq!(parse_format("TLV"), Ok(cf(11542)));
        assert_eq!(parse_format("60"), Ok(cf(60)));
        assert_eq!(
            parse_format("text"),
            Ok(ReadFormat {
                content_format: 0,
                text_plain: true
            })
        );
        assert_eq!(
            parse_format("0"),
            Ok(ReadFormat {
                content_format: 0,
                text_plain: true
            })
        );
        assert!(parse_format("70000").is_err());
        assert!(parse_format("xml").is_err());
    }

    #[test]
    fn from_time_accepts_offsets() {
        let t = parse_time("2024-05-01T14:00:00.5+02:00").unwrap();
        assert_eq!((t.seconds, t.nanos), (1_714_564_800, 500_000_000));
        assert!(parse_time("yesterday").is_err());
    }

    #[test]
    fn global_flags_and_defaults() {
        let cli =
            Cli::try_parse_from(["lwm2m", "read", "dev-1", "/3/0", "--json", "--timeout", "5"])
                .unwrap();
        assert!(cli.json);
        assert_eq!(cli.timeout(), Duration::from_secs(5));
        match cli.command {
            Command::Read {
                endpoint,
                path,
                format,
            } => {
                assert_eq!(
                    (endpoint.as_str(), path.as_str(), format),
                    ("dev-1", "/3/0", None)
                );
            }
            other => panic!("parsed as {other:?}"),
        }
        assert!(Cli::try_parse_from([
            "lwm2m",
            "watch",
            "--from-seq",
            "1",
            "--from-time",
            "2024-05-01T00:00:00Z"
        ])
        .is_err());
        assert!(Cli::try_parse_from(["lwm2m", "list", "--timeout", "0"]).is_err());
    }

    #[test]
    fn clap_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
