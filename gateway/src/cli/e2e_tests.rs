//! End-to-end tests of the CLI's calls against an in-process fake DeviceService: deadlines and
//! metadata on the wire, paging with `--all`, the watch resume contract, and the management
//! calls.

use std::pin::Pin;
use std::sync::{Arc, Mutex};

use futures::Stream;
use lwm2m_proto::v1::device_service_server::{DeviceService, DeviceServiceServer};
use lwm2m_proto::v1::*;
use tonic::metadata::MetadataValue;
use tonic::{Response, Status};

use super::*;

/// What the fake saw: the `grpc-timeout` of each call, the page tokens asked for, and the
/// `from_sequence` of each watch call.
#[derive(Default)]
struct Seen {
    timeouts: Vec<String>,
    page_tokens: Vec<String>,
    watch_starts: Vec<Option<u64>>,
    /// `grpc-timeout` and request of each Write.
    writes: Vec<(String, WriteRequest)>,
}

#[derive(Clone, Default)]
struct Fake(Arc<Mutex<Seen>>);

fn event(sequence: u64) -> Result<RegistrationEvent, Status> {
    Ok(RegistrationEvent {
        kind: 1,
        sequence,
        ..Default::default()
    })
}

#[tonic::async_trait]
impl DeviceService for Fake {
    async fn get_registration(
        &self,
        _: Request<GetRegistrationRequest>,
    ) -> Result<Response<GetRegistrationResponse>, Status> {
        Err(Status::not_found("dev-1: not registered"))
    }

    async fn list_registrations(
        &self,
        r: Request<ListRegistrationsRequest>,
    ) -> Result<Response<ListRegistrationsResponse>, Status> {
        let mut seen = self.0.lock().unwrap();
        let t = r
            .metadata()
            .get("grpc-timeout")
            .map(|v| v.to_str().unwrap().to_string());
        seen.timeouts.push(t.unwrap_or_default());
        let token = r.into_inner().page_token;
        seen.page_tokens.push(token.clone());
        let (ep, next) = if token.is_empty() {
            ("a", "p2")
        } else {
            ("b", "")
        };
        let registrations = vec![Registration {
            endpoint: ep.into(),
            ..Default::default()
        }];
        Ok(Response::new(ListRegistrationsResponse {
            registrations,
            next_page_token: next.into(),
        }))
    }

    type WatchRegistrationsStream =
        Pin<Box<dyn Stream<Item = Result<RegistrationEvent, Status>> + Send>>;

    /// First call: events 1 and 2, then a stream error; later calls: one event, then the end.
    async fn watch_registrations(
        &self,
        r: Request<WatchRegistrationsRequest>,
    ) -> Result<Response<Self::WatchRegistrationsStream>, Status> {
        let start = match r.into_inner().start {
            Some(watch_registrations_request::Start::FromSequence(n)) => Some(n),
            _ => None,
        };
        let mut seen = self.0.lock().unwrap();
        seen.watch_starts.push(start);
        let items = if seen.watch_starts.len() == 1 {
            vec![event(1), event(2), Err(Status::internal("stream broke"))]
        } else {
            vec![event(start.unwrap_or(0))]
        };
        Ok(Response::new(Box::pin(futures::stream::iter(items))))
    }

    async fn read(&self, _: Request<ReadRequest>) -> Result<Response<ReadResponse>, Status> {
        let mut s = Status::not_found("dev-1: device answered 4.04");
        s.metadata_mut()
            .insert(COAP_CODE_KEY, MetadataValue::from_static("4.04"));
        Err(s)
    }

    async fn write(&self, r: Request<WriteRequest>) -> Result<Response<WriteResponse>, Status> {
        let t = r.metadata().get("grpc-timeout").unwrap().to_str().unwrap();
        let entry = (t.to_string(), r.get_ref().clone());
        self.0.lock().unwrap().writes.push(entry);
        let mut resp = Response::new(WriteResponse {
            coap_code: "2.04".into(),
        });
        resp.metadata_mut()
            .insert(COAP_CODE_KEY, MetadataValue::from_static("2.04"));
        Ok(resp)
    }

    async fn execute(
        &self,
        _: Request<ExecuteRequest>,
    ) -> Result<Response<ExecuteResponse>, Status> {
        Ok(Response::new(ExecuteResponse {
            coap_code: "2.04".into(),
        }))
    }

    async fn create(&self, r: Request<CreateRequest>) -> Result<Response<CreateResponse>, Status> {
        let id = r.into_inner().instance_id.unwrap_or(7);
        Ok(Response::new(CreateResponse {
            coap_code: "2.01".into(),
            location: format!("/3303/{id}"),
        }))
    }

    async fn delete(&self, _: Request<DeleteRequest>) -> Result<Response<DeleteResponse>, Status> {
        let mut s = Status::not_found("dev-1: device answered 4.04");
        s.metadata_mut()
            .insert(COAP_CODE_KEY, MetadataValue::from_static("4.04"));
        Err(s)
    }

    async fn discover(
        &self,
        _: Request<DiscoverRequest>,
    ) -> Result<Response<DiscoverResponse>, Status> {
        Ok(Response::new(DiscoverResponse {
            coap_code: "2.05".into(),
            links: vec![DiscoveredLink {
                path: "/3/0/7".into(),
                attributes: [("dim".to_string(), "2".to_string())].into(),
            }],
            link_format: "</3/0/7>;dim=2".into(),
        }))
    }

    async fn write_attributes(
        &self,
        _: Request<WriteAttributesRequest>,
    ) -> Result<Response<WriteAttributesResponse>, Status> {
        Err(Status::invalid_argument("pmin > pmax"))
    }

    // The CLI has no composite commands; the fake only has to implement the trait.
    async fn read_composite(
        &self,
        _: Request<ReadCompositeRequest>,
    ) -> Result<Response<ReadCompositeResponse>, Status> {
        Err(Status::unimplemented("not used by the CLI"))
    }

    async fn write_composite(
        &self,
        _: Request<WriteCompositeRequest>,
    ) -> Result<Response<WriteCompositeResponse>, Status> {
        Err(Status::unimplemented("not used by the CLI"))
    }

    type ObserveStream = Pin<Box<dyn Stream<Item = Result<Notification, Status>> + Send>>;

    async fn observe(
        &self,
        _: Request<ObserveRequest>,
    ) -> Result<Response<Self::ObserveStream>, Status> {
        Err(Status::unimplemented("not used by the CLI"))
    }

    async fn create_observation(
        &self,
        _: Request<CreateObservationRequest>,
    ) -> Result<Response<CreateObservationResponse>, Status> {
        Err(Status::unimplemented("not used by the CLI"))
    }

    async fn delete_observation(
        &self,
        _: Request<DeleteObservationRequest>,
    ) -> Result<Response<DeleteObservationResponse>, Status> {
        Err(Status::unimplemented("not used by the CLI"))
    }

    async fn list_observations(
        &self,
        _: Request<ListObservationsRequest>,
    ) -> Result<Response<ListObservationsResponse>, Status> {
        Err(Status::unimplemented("not used by the CLI"))
    }

    type SubscribeNotificationsStream =
        Pin<Box<dyn Stream<Item = Result<Notification, Status>> + Send>>;

    async fn subscribe_notifications(
        &self,
        _: Request<SubscribeNotificationsRequest>,
    ) -> Result<Response<Self::SubscribeNotificationsStream>, Status> {
        Err(Status::unimplemented("not used by the CLI"))
    }
}

async fn serve(fake: Fake) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(DeviceServiceServer::new(fake))
            .serve_with_incoming(incoming),
    );
    url
}

#[tokio::test]
async fn list_all_follows_tokens_and_sends_the_deadline() {
    let fake = Fake::default();
    let mut client = connect(&serve(fake.clone()).await, Duration::from_secs(5))
        .await
        .unwrap();
    list(
        &mut client,
        ListRegistrationsRequest::default(),
        true,
        true,
        Duration::from_secs(7),
    )
    .await
    .unwrap();
    let seen = fake.0.lock().unwrap();
    assert_eq!(seen.page_tokens, vec!["", "p2"]);
    assert_eq!(seen.timeouts, vec!["7000000u", "7000000u"]);
}

#[tokio::test]
async fn errors_carry_code_and_coap_metadata() {
    let mut client = connect(&serve(Fake::default()).await, Duration::from_secs(5))
        .await
        .unwrap();
    let t = Duration::from_secs(5);
    let req = ReadRequest {
        endpoint: "dev-1".into(),
        path: "/3/0".into(),
        ..Default::default()
    };
    let s = client.read(request(req, t)).await.unwrap_err();
    assert_eq!(
        status_line(&s),
        "NOT_FOUND: dev-1: device answered 4.04 (device answered 4.04)"
    );
    let s = client
        .get_registration(request(GetRegistrationRequest::default(), t))
        .await
        .unwrap_err();
    assert_eq!(status_line(&s), "NOT_FOUND: dev-1: not registered");
}

#[tokio::test]
async fn watch_resumes_from_the_last_sequence_plus_one() {
    let fake = Fake::default();
    let mut client = connect(&serve(fake.clone()).await, Duration::from_secs(5))
        .await
        .unwrap();
    let run = follow(
        &mut client,
        Feed::Registrations,
        Resume::Sequence(1),
        true,
        Duration::from_secs(5),
    );
    // Runs until Ctrl-C; give it time for the error, two reconnects and their back-offs.
    let _ = tokio::time::timeout(Duration::from_millis(2500), run).await;
    let seen = fake.0.lock().unwrap();
    assert_eq!(seen.watch_starts[..3], [Some(1), Some(3), Some(4)]);
}

#[tokio::test]
async fn management_calls_send_the_deadline_and_report_errors() {
    use super::super::manage::{call, Op};
    let fake = Fake::default();
    let mut client = connect(&serve(fake.clone()).await, Duration::from_secs(5))
        .await
        .unwrap();
    let t = Duration::from_secs(3);
    let write = WriteRequest {
        endpoint: "dev-1".into(),
        path: "/3/0/14".into(),
        values: vec![PathValue {
            path: "/3/0/14".into(),
            value: None,
        }],
        ..Default::default()
    };
    call(&mut client, Op::Write(write.clone()), false, t)
        .await
        .unwrap();
    assert_eq!(
        fake.0.lock().unwrap().writes,
        vec![("3000000u".into(), write)]
    );
    for op in [
        Op::Execute(ExecuteRequest::default()),
        Op::Create(CreateRequest::default()),
        Op::Discover(DiscoverRequest::default()),
    ] {
        call(&mut client, op, true, t).await.unwrap();
    }
    let e = call(&mut client, Op::Delete(DeleteRequest::default()), false, t)
        .await
        .unwrap_err();
    assert_eq!(
        status_line(e.downcast_ref::<Status>().unwrap()),
        "NOT_FOUND: dev-1: device answered 4.04 (device answered 4.04)"
    );
    let op = Op::WriteAttributes(WriteAttributesRequest::default());
    let e = call(&mut client, op, false, t).await.unwrap_err();
    assert_eq!(
        status_line(e.downcast_ref::<Status>().unwrap()),
        "INVALID_ARGUMENT: pmin > pmax"
    );
}
