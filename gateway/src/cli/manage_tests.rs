//! Command line → request, exactly: clap parsing plus [`Op::build`].

use clap::Parser;
use lwm2m_proto::v1::value::Kind;
use lwm2m_proto::v1::{CreateValue, PathValue, Value, WriteResponse};

use super::*;
use crate::cli::args::{Cli, Command};

fn op(args: &[&str]) -> Result<Op, UsageError> {
    let cli = Cli::try_parse_from(std::iter::once("lwm2m").chain(args.iter().copied()))
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    match cli.command {
        Command::Manage(m) => Op::build(&m),
        other => panic!("{args:?} parsed as {other:?}"),
    }
}

fn parse_fails(args: &[&str]) -> bool {
    Cli::try_parse_from(std::iter::once("lwm2m").chain(args.iter().copied())).is_err()
}

fn v(kind: Kind) -> Option<Value> {
    Some(Value { kind: Some(kind) })
}

fn pv(path: &str, value: Option<Value>) -> PathValue {
    PathValue {
        path: path.into(),
        value,
    }
}

#[test]
fn write_replace_by_default_with_the_nodes_format() {
    assert_eq!(
        op(&["write", "dev-1", "/3/0/14", "+01:00"]),
        Ok(Op::Write(WriteRequest {
            endpoint: "dev-1".into(),
            path: "/3/0/14".into(),
            mode: Mode::Replace.into(),
            values: vec![pv("/3/0/14", v(Kind::StringValue("+01:00".into())))],
            content_format: 0,
            text_plain: false,
        }))
    );
}

#[test]
fn write_partial_typed_with_format_and_negative_values() {
    let args = [
        "write",
        "dev-1",
        "/1/0",
        "--partial",
        "/1/0/1=300",
        "/1/0/2=-5",
        "--type",
        "integer",
        "--format",
        "tlv",
    ];
    assert_eq!(
        op(&args),
        Ok(Op::Write(WriteRequest {
            endpoint: "dev-1".into(),
            path: "/1/0".into(),
            mode: Mode::PartialUpdate.into(),
            values: vec![
                pv("/1/0/1", v(Kind::IntegerValue(300))),
                pv("/1/0/2", v(Kind::IntegerValue(-5))),
            ],
            content_format: 11542,
            text_plain: false,
        }))
    );
    // A bare negative number is a value, not a flag; `--format text` asks for text/plain.
    let Ok(Op::Write(w)) = op(&["write", "d", "/3/0/13", "-5", "--format", "text"]) else {
        panic!("not a write");
    };
    assert_eq!(w.values, vec![pv("/3/0/13", v(Kind::IntegerValue(-5)))]);
    assert_eq!((w.content_format, w.text_plain), (0, true));
}

#[test]
fn write_usage_errors() {
    assert!(parse_fails(&["write", "dev-1", "/3/0/14"])); // no value
    assert!(parse_fails(&[
        "write", "dev-1", "/3/0/14", "x", "--type", "text"
    ]));
    assert!(parse_fails(&[
        "write", "dev-1", "/3/0/14", "x", "--format", "xml"
    ]));
    let e = op(&["write", "dev-1", "/3/0", "x"]).unwrap_err();
    assert!(e.0.starts_with("\"x\": give values as PATH=VALUE"), "{e}");
}

#[test]
fn execute_with_and_without_arguments() {
    assert_eq!(
        op(&["execute", "dev-1", "/3/0/4"]),
        Ok(Op::Execute(ExecuteRequest {
            endpoint: "dev-1".into(),
            path: "/3/0/4".into(),
            arguments: String::new(),
        }))
    );
    assert_eq!(
        op(&["execute", "dev-1", "/5/0/2", "--args", "0='v',1"]),
        Ok(Op::Execute(ExecuteRequest {
            endpoint: "dev-1".into(),
            path: "/5/0/2".into(),
            arguments: "0='v',1".into(),
        }))
    );
    assert!(op(&["execute", "dev-1", "/5/0/2", "--args", "0=v"]).is_err());
}

#[test]
fn create_with_id_values_and_format() {
    let args = [
        "create",
        "dev-1",
        "/3303",
        "--id",
        "1",
        "5700=21.5",
        "5701=Cel",
        "6/0=1",
        "--format",
        "senml-json",
    ];
    let value = |resource_id, resource_instance_id, value| CreateValue {
        resource_id,
        resource_instance_id,
        value,
    };
    assert_eq!(
        op(&args),
        Ok(Op::Create(CreateRequest {
            endpoint: "dev-1".into(),
            path: "/3303".into(),
            instance_id: Some(1),
            values: vec![
                value(5700, None, v(Kind::FloatValue(21.5))),
                value(5701, None, v(Kind::StringValue("Cel".into()))),
                value(6, Some(0), v(Kind::IntegerValue(1))),
            ],
            content_format: 110,
        }))
    );
    // No id and no values: the device chooses the id, the instance starts with its defaults.
    assert_eq!(
        op(&["create", "dev-1", "/3303"]),
        Ok(Op::Create(CreateRequest {
            endpoint: "dev-1".into(),
            path: "/3303".into(),
            ..Default::default()
        }))
    );
    assert!(op(&["create", "dev-1", "/3303", "--format", "text"]).is_err());
    assert!(op(&["create", "dev-1", "/3303", "5700"]).is_err());
    assert!(parse_fails(&["create", "dev-1", "/3303", "--id", "65536"]));
}

#[test]
fn delete_and_discover() {
    assert_eq!(
        op(&["delete", "dev-1", "/3303/1"]),
        Ok(Op::Delete(DeleteRequest {
            endpoint: "dev-1".into(),
            path: "/3303/1".into(),
        }))
    );
    assert_eq!(
        op(&["discover", "dev-1", "/3/0"]),
        Ok(Op::Discover(DiscoverRequest {
            endpoint: "dev-1".into(),
            path: "/3/0".into(),
        }))
    );
    assert!(parse_fails(&["delete", "dev-1"]));
}

#[test]
fn write_attributes_sets_and_unsets() {
    let args = [
        "write-attributes",
        "dev-1",
        "/3/0/7",
        "--pmin",
        "10",
        "--pmax",
        "60",
        "--gt",
        "-5",
        "--lt",
        "2.5",
        "--st",
        "0.5",
        "--epmin",
        "1",
        "--epmax",
        "30",
    ];
    assert_eq!(
        op(&args),
        Ok(Op::WriteAttributes(WriteAttributesRequest {
            endpoint: "dev-1".into(),
            path: "/3/0/7".into(),
            attributes: Some(Attributes {
                pmin: Some(10),
                pmax: Some(60),
                gt: Some(-5.0),
                lt: Some(2.5),
                st: Some(0.5),
                epmin: Some(1),
                epmax: Some(30),
                unset: vec![],
            }),
        }))
    );
    let args = [
        "write-attributes",
        "d",
        "/3/0/7",
        "--unset",
        "gt",
        "--unset",
        "pmax",
    ];
    let Ok(Op::WriteAttributes(w)) = op(&args) else {
        panic!("not write-attributes");
    };
    assert_eq!(
        w.attributes,
        Some(Attributes {
            unset: vec!["gt".into(), "pmax".into()],
            ..Default::default()
        })
    );
}

#[test]
fn write_attributes_usage_errors() {
    assert!(parse_fails(&["write-attributes", "d", "/3/0/7"])); // nothing to write
    assert!(parse_fails(&[
        "write-attributes",
        "d",
        "/3/0/7",
        "--unset",
        "dim"
    ]));
    assert!(parse_fails(&[
        "write-attributes",
        "d",
        "/3/0/7",
        "--pmin",
        "-1"
    ]));
    assert_eq!(
        op(&[
            "write-attributes",
            "d",
            "/3/0/7",
            "--pmin",
            "1",
            "--unset",
            "pmin"
        ]),
        Err(UsageError(
            "--pmin and --unset pmin contradict each other".into()
        ))
    );
    assert_eq!(
        op(&[
            "write-attributes",
            "d",
            "/3",
            "--unset",
            "st",
            "--unset",
            "st"
        ]),
        Err(UsageError("--unset st given twice".into()))
    );
    assert_eq!(
        op(&["write-attributes", "d", "/3", "--gt", "NaN"]),
        Err(UsageError("--gt must be a finite number".into()))
    );
}

#[test]
fn coap_code_prefers_the_metadata() {
    use tonic::metadata::MetadataValue;
    let mut resp = Response::new(WriteResponse {
        coap_code: "2.04".into(),
    });
    assert_eq!(coap_code(&resp, |r| &r.coap_code), "2.04");
    resp.metadata_mut()
        .insert(COAP_CODE_KEY, MetadataValue::from_static("2.31"));
    assert_eq!(coap_code(&resp, |r| &r.coap_code), "2.31");
}
