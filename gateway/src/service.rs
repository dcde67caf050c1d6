//! `lwm2m.v1.DeviceService`: registrations from Postgres and JetStream, device operations routed
//! to the owning node over NATS. The gateway holds no state of its own.

use std::pin::Pin;
use std::time::Duration;

use futures::Stream;
use lwm2m_node::store::{get_registration, list_registrations, registration_proto, StoreError};
use lwm2m_proto::v1::bus::{result, route_request};
use lwm2m_proto::v1::device_service_server::DeviceService;
use lwm2m_proto::v1::*;
use sqlx::PgPool;
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::deadline::request_deadline;
use crate::reporting::NotificationStream;
use crate::route::RouteClient;
use crate::status::{status_for_result, with_coap_code};

pub struct Service {
    pub pool: PgPool,
    pub js: async_nats::jetstream::Context,
    pub router: RouteClient,
    /// Deadline of a device call whose caller set none.
    pub default_timeout: Duration,
}

const MAX_PAGE: u32 = 1000;
const DEFAULT_PAGE: u32 = 100;

pub(crate) fn check_endpoint(endpoint: &str) -> Result<(), Status> {
    if endpoint.is_empty() || endpoint.len() > 255 {
        return Err(Status::invalid_argument("endpoint must be 1..=255 bytes"));
    }
    Ok(())
}

pub(crate) fn store_status(e: StoreError) -> Status {
    match e {
        StoreError::BadPageToken => {
            Status::invalid_argument("page_token is not one this API returned")
        }
        other => Status::unavailable(format!("registration store: {other}")),
    }
}

/// Routes `$op(request)` to the owning node and answers with the matching response, the device's
/// CoAP code in metadata, or the mapped error status.
macro_rules! routed {
    ($self:ident, $endpoint:ident, $deadline:ident, $op:ident($req:ident)) => {{
        let result = $self
            .router
            .call(&$endpoint, route_request::Operation::$op($req), $deadline)
            .await?;
        if let Some(status) = status_for_result(&$endpoint, &result) {
            return Err(status);
        }
        match result.response {
            Some(result::Response::$op(body)) => {
                let mut response = Response::new(body);
                with_coap_code(response.metadata_mut(), &result.coap_code);
                Ok(response)
            }
            _ => Err(Status::internal(format!(
                "{}: node answered with another operation's result",
                $endpoint
            ))),
        }
    }};
}

pub(crate) use routed;

type EventStream = Pin<Box<dyn Stream<Item = Result<RegistrationEvent, Status>> + Send>>;

#[tonic::async_trait]
impl DeviceService for Service {
    async fn get_registration(
        &self,
        request: Request<GetRegistrationRequest>,
    ) -> Result<Response<GetRegistrationResponse>, Status> {
        let endpoint = request.into_inner().endpoint;
        check_endpoint(&endpoint)?;
        match get_registration(&self.pool, &endpoint)
            .await
            .map_err(store_status)?
        {
            Some(row) => Ok(Response::new(GetRegistrationResponse {
                registration: Some(registration_proto(&row)),
            })),
            None => Err(Status::not_found(format!("{endpoint}: not registered"))),
        }
    }

    async fn list_registrations(
        &self,
        request: Request<ListRegistrationsRequest>,
    ) -> Result<Response<ListRegistrationsResponse>, Status> {
        let r = request.into_inner();
        let size = match r.page_size {
            0 => DEFAULT_PAGE,
            n => n.min(MAX_PAGE),
        };
        let page = list_registrations(&self.pool, &r.endpoint_prefix, size, &r.page_token)
            .await
            .map_err(store_status)?;
        Ok(Response::new(ListRegistrationsResponse {
            registrations: page.rows.iter().map(registration_proto).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    type WatchRegistrationsStream = EventStream;

    async fn watch_registrations(
        &self,
        request: Request<WatchRegistrationsRequest>,
    ) -> Result<Response<Self::WatchRegistrationsStream>, Status> {
        let rx = crate::watch::watch(&self.js, request.into_inner()).await?;
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn read(&self, request: Request<ReadRequest>) -> Result<Response<ReadResponse>, Status> {
        let (deadline, r) = self.device_call(request, |r| (&r.endpoint, &r.path))?;
        if r.content_format > u32::from(u16::MAX) {
            return Err(Status::invalid_argument(
                "content_format must be a CoAP content-format number",
            ));
        }
        let endpoint = r.endpoint.clone();
        routed!(self, endpoint, deadline, Read(r))
    }

    async fn write(
        &self,
        request: Request<WriteRequest>,
    ) -> Result<Response<WriteResponse>, Status> {
        let (deadline, r) = self.device_call(request, |r| (&r.endpoint, &r.path))?;
        if r.values.is_empty() {
            return Err(Status::invalid_argument(
                "values: at least one value to write",
            ));
        }
        for v in &r.values {
            check_path(&v.path)?;
        }
        let endpoint = r.endpoint.clone();
        routed!(self, endpoint, deadline, Write(r))
    }

    async fn execute(
        &self,
        request: Request<ExecuteRequest>,
    ) -> Result<Response<ExecuteResponse>, Status> {
        let (deadline, r) = self.device_call(request, |r| (&r.endpoint, &r.path))?;
        let endpoint = r.endpoint.clone();
        routed!(self, endpoint, deadline, Execute(r))
    }

    async fn create(
        &self,
        request: Request<CreateRequest>,
    ) -> Result<Response<CreateResponse>, Status> {
        let (deadline, r) = self.device_call(request, |r| (&r.endpoint, &r.path))?;
        let endpoint = r.endpoint.clone();
        routed!(self, endpoint, deadline, Create(r))
    }

    async fn delete(
        &self,
        request: Request<DeleteRequest>,
    ) -> Result<Response<DeleteResponse>, Status> {
        let (deadline, r) = self.device_call(request, |r| (&r.endpoint, &r.path))?;
        let endpoint = r.endpoint.clone();
        routed!(self, endpoint, deadline, Delete(r))
    }

    async fn discover(
        &self,
        request: Request<DiscoverRequest>,
    ) -> Result<Response<DiscoverResponse>, Status> {
        let (deadline, r) = self.device_call(request, |r| (&r.endpoint, &r.path))?;
        let endpoint = r.endpoint.clone();
        routed!(self, endpoint, deadline, Discover(r))
    }

    async fn write_attributes(
        &self,
        request: Request<WriteAttributesRequest>,
    ) -> Result<Response<WriteAttributesResponse>, Status> {
        let (deadline, r) = self.device_call(request, |r| (&r.endpoint, &r.path))?;
        if r.attributes.is_none() {
            return Err(Status::invalid_argument("attributes: nothing to write"));
        }
        let endpoint = r.endpoint.clone();
        routed!(self, endpoint, deadline, WriteAttributes(r))
    }

    async fn read_composite(
        &self,
        request: Request<ReadCompositeRequest>,
    ) -> Result<Response<ReadCompositeResponse>, Status> {
        self.read_composite_call(request).await
    }

    async fn write_composite(
        &self,
        request: Request<WriteCompositeRequest>,
    ) -> Result<Response<WriteCompositeResponse>, Status> {
        self.write_composite_call(request).await
    }

    type ObserveStream = NotificationStream;

    async fn observe(
        &self,
        request: Request<ObserveRequest>,
    ) -> Result<Response<Self::ObserveStream>, Status> {
        self.observe_call(request).await
    }

    async fn create_observation(
        &self,
        request: Request<CreateObservationRequest>,
    ) -> Result<Response<CreateObservationResponse>, Status> {
        self.create_observation_call(request).await
    }

    async fn delete_observation(
        &self,
        request: Request<DeleteObservationRequest>,
    ) -> Result<Response<DeleteObservationResponse>, Status> {
        self.delete_observation_call(request).await
    }

    async fn list_observations(
        &self,
        request: Request<ListObservationsRequest>,
    ) -> Result<Response<ListObservationsResponse>, Status> {
        self.list_observations_call(request).await
    }

    type SubscribeNotificationsStream = NotificationStream;

    async fn subscribe_notifications(
        &self,
        request: Request<SubscribeNotificationsRequest>,
    ) -> Result<Response<Self::SubscribeNotificationsStream>, Status> {
        self.subscribe_notifications_call(request).await
    }
}

impl Service {
    /// When a device call must end: the caller's gRPC deadline (a little before it) or the default.
    pub(crate) fn deadline(&self, md: &tonic::metadata::MetadataMap) -> Instant {
        Instant::now() + call_budget(request_deadline(md), self.default_timeout)
    }

    async fn read_composite_call(
        &self,
        request: Request<ReadCompositeRequest>,
    ) -> Result<Response<ReadCompositeResponse>, Status> {
        let deadline = self.deadline(request.metadata());
        let r = request.into_inner();
        check_endpoint(&r.endpoint)?;
        if r.paths.is_empty() {
            return Err(Status::invalid_argument("paths: at least one path to read"));
        }
        for p in &r.paths {
            check_path(p)?;
        }
        let endpoint = r.endpoint.clone();
        routed!(self, endpoint, deadline, ReadComposite(r))
    }

    async fn write_composite_call(
        &self,
        request: Request<WriteCompositeRequest>,
    ) -> Result<Response<WriteCompositeResponse>, Status> {
        let deadline = self.deadline(request.metadata());
        let r = request.into_inner();
        check_endpoint(&r.endpoint)?;
        if r.values.is_empty() {
            return Err(Status::invalid_argument(
                "values: at least one value to write",
            ));
        }
        for v in &r.values {
            check_path(&v.path)?;
        }
        let endpoint = r.endpoint.clone();
        routed!(self, endpoint, deadline, WriteComposite(r))
    }

    /// Checks what every device call has (endpoint, path) before anything is sent, and fixes the
    /// call's deadline.
    fn device_call<T>(
        &self,
        request: Request<T>,
        target: impl Fn(&T) -> (&String, &String),
    ) -> Result<(Instant, T), Status> {
        let deadline = self.deadline(request.metadata());
        let r = request.into_inner();
        let (endpoint, path) = target(&r);
        check_endpoint(endpoint)?;
        check_path(path)?;
        Ok((deadline, r))
    }
}

/// Time the gateway gives a device call. With a caller deadline, a little less than it, so that
/// our DEADLINE_EXCEEDED (and its cancel) reaches the caller before its own timer fires.
fn call_budget(caller: Option<Duration>, default: Duration) -> Duration {
    match caller {
        Some(d) => d.saturating_sub((d / 10).min(Duration::from_millis(50))),
        None => default,
    }
}

/// Validates a path before anything is sent, so a bad argument never reaches a device.
pub(crate) fn check_path(path: &str) -> Result<(), Status> {
    lwm2m_core::content::Path::parse(path)
        .map(|_| ())
        .map_err(|e| Status::invalid_argument(format!("path: {e}")))
}
