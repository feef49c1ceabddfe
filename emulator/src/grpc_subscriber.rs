//! The `google.pubsub.v1.Subscriber` gRPC service over the broker.

use crate::broker::Broker;
use crate::error::Error;
use crate::grpc_publisher::unimplemented;
use crate::proto::subscriber_server::Subscriber;
use crate::proto::{
    AcknowledgeRequest, CreateSnapshotRequest, DeleteSnapshotRequest, DeleteSubscriptionRequest,
    Empty, GetSnapshotRequest, GetSubscriptionRequest, ListSnapshotsRequest, ListSnapshotsResponse,
    ListSubscriptionsRequest, ListSubscriptionsResponse, ModifyAckDeadlineRequest,
    ModifyPushConfigRequest, PullRequest, PullResponse, SeekRequest, SeekResponse, Snapshot,
    StreamingPullRequest, Subscription, UpdateSnapshotRequest, UpdateSubscriptionRequest,
};
use crate::{names, pull, streaming_pull};
use std::sync::Arc;
use tonic::{Request, Response, Status, Streaming};

/// Serves subscription administration, pull and streaming pull.
#[derive(Debug, Clone)]
pub struct SubscriberService {
    broker: Arc<Broker>,
}

impl SubscriberService {
    /// A service over `broker`.
    pub fn new(broker: Arc<Broker>) -> Self {
        Self { broker }
    }
}

#[tonic::async_trait]
impl Subscriber for SubscriberService {
    async fn create_subscription(
        &self,
        request: Request<Subscription>,
    ) -> Result<Response<Subscription>, Status> {
        Ok(Response::new(
            self.broker.create_subscription(request.into_inner())?,
        ))
    }

    async fn get_subscription(
        &self,
        request: Request<GetSubscriptionRequest>,
    ) -> Result<Response<Subscription>, Status> {
        Ok(Response::new(
            self.broker
                .get_subscription(&request.into_inner().subscription)?,
        ))
    }

    async fn update_subscription(
        &self,
        request: Request<UpdateSubscriptionRequest>,
    ) -> Result<Response<Subscription>, Status> {
        let request = request.into_inner();
        let subscription = request
            .subscription
            .ok_or_else(|| Status::invalid_argument("The subscription is required"))?;
        let paths = request
            .update_mask
            .map(|mask| mask.paths)
            .unwrap_or_default();
        Ok(Response::new(
            self.broker.update_subscription(subscription, &paths)?,
        ))
    }

    async fn list_subscriptions(
        &self,
        request: Request<ListSubscriptionsRequest>,
    ) -> Result<Response<ListSubscriptionsResponse>, Status> {
        let request = request.into_inner();
        let page = self.broker.list_subscriptions(
            &request.project,
            request.page_size,
            &request.page_token,
        )?;
        Ok(Response::new(ListSubscriptionsResponse {
            subscriptions: page.items,
            next_page_token: page.next_page_token,
        }))
    }

    async fn delete_subscription(
        &self,
        request: Request<DeleteSubscriptionRequest>,
    ) -> Result<Response<Empty>, Status> {
        self.broker
            .delete_subscription(&request.into_inner().subscription)?;
        Ok(Response::new(()))
    }

    async fn modify_ack_deadline(
        &self,
        request: Request<ModifyAckDeadlineRequest>,
    ) -> Result<Response<Empty>, Status> {
        let request = request.into_inner();
        self.broker.modify_ack_deadline(
            &request.subscription,
            &request.ack_ids,
            request.ack_deadline_seconds,
        )?;
        Ok(Response::new(()))
    }

    async fn acknowledge(
        &self,
        request: Request<AcknowledgeRequest>,
    ) -> Result<Response<Empty>, Status> {
        let request = request.into_inner();
        self.broker
            .acknowledge(&request.subscription, &request.ack_ids)?;
        Ok(Response::new(()))
    }

    async fn pull(&self, request: Request<PullRequest>) -> Result<Response<PullResponse>, Status> {
        let request = request.into_inner();
        #[allow(deprecated)]
        let return_immediately = request.return_immediately;
        let received_messages = pull::pull(
            &self.broker,
            &request.subscription,
            request.max_messages,
            return_immediately,
        )
        .await?;
        Ok(Response::new(PullResponse { received_messages }))
    }

    type StreamingPullStream = streaming_pull::ResponseStream;

    async fn streaming_pull(
        &self,
        request: Request<Streaming<StreamingPullRequest>>,
    ) -> Result<Response<Self::StreamingPullStream>, Status> {
        let stream = streaming_pull::open(Arc::clone(&self.broker), request.into_inner()).await?;
        Ok(Response::new(stream))
    }

    async fn modify_push_config(
        &self,
        request: Request<ModifyPushConfigRequest>,
    ) -> Result<Response<Empty>, Status> {
        let request = request.into_inner();
        self.broker
            .modify_push_config(&request.subscription, request.push_config)?;
        Ok(Response::new(()))
    }

    async fn get_snapshot(
        &self,
        request: Request<GetSnapshotRequest>,
    ) -> Result<Response<Snapshot>, Status> {
        // The emulator never has snapshots.
        Err(Error::not_found(&request.into_inner().snapshot).into())
    }

    async fn list_snapshots(
        &self,
        request: Request<ListSnapshotsRequest>,
    ) -> Result<Response<ListSnapshotsResponse>, Status> {
        names::parse_project(&request.into_inner().project).map_err(Error::from)?;
        Ok(Response::new(ListSnapshotsResponse::default()))
    }

    async fn create_snapshot(
        &self,
        _request: Request<CreateSnapshotRequest>,
    ) -> Result<Response<Snapshot>, Status> {
        Err(unimplemented("CreateSnapshot"))
    }

    async fn update_snapshot(
        &self,
        _request: Request<UpdateSnapshotRequest>,
    ) -> Result<Response<Snapshot>, Status> {
        Err(unimplemented("UpdateSnapshot"))
    }

    async fn delete_snapshot(
        &self,
        _request: Request<DeleteSnapshotRequest>,
    ) -> Result<Response<Empty>, Status> {
        Err(unimplemented("DeleteSnapshot"))
    }

    async fn seek(&self, _request: Request<SeekRequest>) -> Result<Response<SeekResponse>, Status> {
        Err(unimplemented("Seek"))
    }
}
