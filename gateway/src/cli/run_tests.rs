//! Unit tests of the error reporting and connection handling of `run`.

use super::*;
use tonic::metadata::MetadataValue;

#[test]
fn status_line_names_code_message_and_coap_code() {
    let mut s = Status::not_found("dev-1: not found");
    assert_eq!(status_line(&s), "NOT_FOUND: dev-1: not found");
    s.metadata_mut()
        .insert(COAP_CODE_KEY, MetadataValue::from_static("4.04"));
    assert_eq!(
        status_line(&s),
        "NOT_FOUND: dev-1: not found (device answered 4.04)"
    );
    assert_eq!(status_line(&Status::unavailable("")), "UNAVAILABLE");
}

#[test]
fn only_refusals_stop_watch() {
    assert!(is_fatal(Code::InvalidArgument));
    assert!(!is_fatal(Code::Unavailable));
    assert!(!is_fatal(Code::Internal));
}

#[test]
fn chain_text_drops_repeated_causes() {
    let e = anyhow::anyhow!("refused")
        .context("tcp connect error: refused")
        .context("transport error");
    assert_eq!(
        chain_text(&e),
        "transport error: tcp connect error: refused"
    );
}

#[tokio::test]
async fn unreachable_gateway_is_a_connect_error() {
    // Port 1 on loopback: nothing listens there, so the connection is refused at once.
    let e = connect("http://127.0.0.1:1", Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(e.downcast_ref::<ConnectError>().is_some());
    assert!(
        e.to_string()
            .starts_with("cannot connect to gateway http://127.0.0.1:1: "),
        "{e}"
    );
    let e = connect("not a url", Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("cannot connect to gateway not a url: invalid URL"),
        "{e}"
    );
}
