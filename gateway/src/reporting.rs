//! The information-reporting RPCs of `lwm2m.v1.DeviceService`: streaming Observe, durable
//! observations (Create / Delete / List) and SubscribeNotifications.

use std::pin::Pin;

use futures::{Stream, StreamExt};
use lwm2m_node::observe::observation_proto;
use lwm2m_node::store::observations::{delete_observation, get_observation, list_observations};
use lwm2m_proto::v1::bus::{result, route_request};
use lwm2m_proto::v1::*;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Code, Request, Response, Status};

use crate::deadline::request_deadline;
use crate::service::{check_endpoint, check_path, routed, store_status, Service};
use crate::status::{status_for_result, with_coap_code};

pub type NotificationStream = Pin<Box<dyn Stream<Item = Result<Notification, Status>> + Send>>;

/// Paths one observation may name (a composite observation is one CoAP FETCH).
const MAX_PATHS: usize = 64;

fn check_observed(endpoint: &str, paths: &[String], content_format: u32) -> Result<(), Status> {
    check_endpoint(endpoint)?;
    if paths.is_empty() || paths.len() > MAX_PATHS {
        return Err(Status::invalid_argument(format!(
            "paths: 1..={MAX_PATHS} paths to observe"
        )));
    }
    for p in paths {
        check_path(p)?;
    }
    if content_format > u32::from(u16::MAX) {
        return Err(Status::invalid_argument(
            "content_format must be a CoAP content-format number",
        ));
    }
    Ok(())
}

impl Service {
    pub(crate) async fn observe_call(
        &self,
        request: Request<ObserveRequest>,
    ) -> Result<Response<NotificationStream>, Status> {
        let first_deadline = self.deadline(request.metadata());
        // The stream lasts while the call does: until the caller's own deadline, if it set one.
        let until = request_deadline(request.metadata()).map(|d| tokio::time::Instant::now() + d);
        let r = request.into_inner();
        check_observed(&r.endpoint, &r.paths, r.content_format)?;
        let endpoint = r.endpoint.clone();
        let (initial, rx) = self
            .router
            .observe(
                &endpoint,
                route_request::Operation::Observe(r),
                first_deadline,
                until,
            )
            .await?;
        let code = initial.coap_code.clone();
        let stream =
            futures::stream::once(async move { Ok(initial) }).chain(ReceiverStream::new(rx));
        let mut response = Response::new(Box::pin(stream) as NotificationStream);
        with_coap_code(response.metadata_mut(), &code);
        Ok(response)
    }

    pub(crate) async fn create_observation_call(
        &self,
        request: Request<CreateObservationRequest>,
    ) -> Result<Response<CreateObservationResponse>, Status> {
        let deadline = self.deadline(request.metadata());
        let r = request.into_inner();
        check_observed(&r.endpoint, &r.paths, r.content_format)?;
        let endpoint = r.endpoint.clone();
        routed!(self, endpoint, deadline, CreateObservation(r))
    }

    pub(crate) async fn delete_observation_call(
        &self,
        request: Request<DeleteObservationRequest>,
    ) -> Result<Response<DeleteObservationResponse>, Status> {
        let deadline = self.deadline(request.metadata());
        let r = request.into_inner();
        if r.observation_id.is_empty() || r.observation_id.len() > 64 {
            return Err(Status::invalid_argument(
                "observation_id must be 1..=64 bytes",
            ));
        }
        let id = r.observation_id.clone();
        let Some(row) = get_observation(&self.pool, &id)
            .await
            .map_err(store_status)?
        else {
            return Err(Status::not_found(format!("no observation {id}")));
        };
        // The owning node forgets the token (the device's next notification gets RST) and
        // removes the row. Without a reachable owner the row goes anyway: no node will accept
        // the observation's notifications again.
        let routed = self
            .router
            .call(
                &row.endpoint,
                route_request::Operation::DeleteObservation(r),
                deadline,
            )
            .await;
        match routed {
            Ok(result) => match status_for_result(&row.endpoint, &result) {
                None => Ok(Response::new(DeleteObservationResponse {})),
                Some(status) => Err(status),
            },
            Err(s) if matches!(s.code(), Code::Unavailable | Code::NotFound) => {
                tracing::info!(observation = %id, "no owner reachable; removing the observation directly");
                match delete_observation(&self.pool, &id)
                    .await
                    .map_err(store_status)?
                {
                    true => Ok(Response::new(DeleteObservationResponse {})),
                    false => Err(Status::not_found(format!("no observation {id}"))),
                }
            }
            Err(s) => Err(s),
        }
    }

    pub(crate) async fn list_observations_call(
        &self,
        request: Request<ListObservationsRequest>,
    ) -> Result<Response<ListObservationsResponse>, Status> {
        let r = request.into_inner();
        if !r.endpoint.is_empty() {
            check_endpoint(&r.endpoint)?;
        }
        let size = match r.page_size {
            0 => 100,
            n => n.min(1000),
        };
        let page = list_observations(&self.pool, &r.endpoint, size, &r.page_token)
            .await
            .map_err(store_status)?;
        Ok(Response::new(ListObservationsResponse {
            observations: page.rows.iter().map(observation_proto).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    pub(crate) async fn subscribe_notifications_call(
        &self,
        request: Request<SubscribeNotificationsRequest>,
    ) -> Result<Response<NotificationStream>, Status> {
        let r = request.into_inner();
        if !r.endpoint.is_empty() {
            check_endpoint(&r.endpoint)?;
        }
        let rx = crate::watch::notifications(&self.js, r).await?;
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}
