//! The `google.pubsub.v1.Publisher` gRPC service over the broker.

use crate::broker::Broker;
use crate::proto::publisher_server::Publisher;
use crate::proto::{
    DeleteTopicRequest, DetachSubscriptionRequest, DetachSubscriptionResponse, Empty,
    GetTopicRequest, ListTopicSnapshotsRequest, ListTopicSnapshotsResponse,
    ListTopicSubscriptionsRequest, ListTopicSubscriptionsResponse, ListTopicsRequest,
    ListTopicsResponse, PublishRequest, PublishResponse, Topic, UpdateTopicRequest,
};
use std::sync::Arc;
use tonic::{Request, Response, Status};

/// Serves topic administration and publishing.
#[derive(Debug, Clone)]
pub struct PublisherService {
    broker: Arc<Broker>,
}

impl PublisherService {
    /// A service over `broker`.
    pub fn new(broker: Arc<Broker>) -> Self {
        Self { broker }
    }
}

#[tonic::async_trait]
impl Publisher for PublisherService {
    async fn create_topic(&self, request: Request<Topic>) -> Result<Response<Topic>, Status> {
        Ok(Response::new(
            self.broker.create_topic(request.into_inner())?,
        ))
    }

    async fn update_topic(
        &self,
        _request: Request<UpdateTopicRequest>,
    ) -> Result<Response<Topic>, Status> {
        Err(unimplemented("UpdateTopic"))
    }

    async fn publish(
        &self,
        request: Request<PublishRequest>,
    ) -> Result<Response<PublishResponse>, Status> {
        let request = request.into_inner();
        let message_ids = self.broker.publish(&request.topic, request.messages)?;
        Ok(Response::new(PublishResponse { message_ids }))
    }

    async fn get_topic(
        &self,
        request: Request<GetTopicRequest>,
    ) -> Result<Response<Topic>, Status> {
        Ok(Response::new(
            self.broker.get_topic(&request.into_inner().topic)?,
        ))
    }

    async fn list_topics(
        &self,
        request: Request<ListTopicsRequest>,
    ) -> Result<Response<ListTopicsResponse>, Status> {
        let request = request.into_inner();
        let page =
            self.broker
                .list_topics(&request.project, request.page_size, &request.page_token)?;
        Ok(Response::new(ListTopicsResponse {
            topics: page.items,
            next_page_token: page.next_page_token,
        }))
    }

    async fn list_topic_subscriptions(
        &self,
        request: Request<ListTopicSubscriptionsRequest>,
    ) -> Result<Response<ListTopicSubscriptionsResponse>, Status> {
        let request = request.into_inner();
        let page = self.broker.list_topic_subscriptions(
            &request.topic,
            request.page_size,
            &request.page_token,
        )?;
        Ok(Response::new(ListTopicSubscriptionsResponse {
            subscriptions: page.items,
            next_page_token: page.next_page_token,
        }))
    }

    async fn list_topic_snapshots(
        &self,
        request: Request<ListTopicSnapshotsRequest>,
    ) -> Result<Response<ListTopicSnapshotsResponse>, Status> {
        // The emulator has no snapshots, so every existing topic has none.
        self.broker.get_topic(&request.into_inner().topic)?;
        Ok(Response::new(ListTopicSnapshotsResponse::default()))
    }

    async fn delete_topic(
        &self,
        request: Request<DeleteTopicRequest>,
    ) -> Result<Response<Empty>, Status> {
        self.broker.delete_topic(&request.into_inner().topic)?;
        Ok(Response::new(()))
    }

    async fn detach_subscription(
        &self,
        _request: Request<DetachSubscriptionRequest>,
    ) -> Result<Response<DetachSubscriptionResponse>, Status> {
        Err(unimplemented("DetachSubscription"))
    }
}

/// The status for an RPC this emulator does not implement.
pub fn unimplemented(method: &str) -> Status {
    Status::unimplemented(format!("{method} is not supported by the Pub/Sub emulator"))
}
