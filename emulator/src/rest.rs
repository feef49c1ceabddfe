//! Pub/Sub's REST/JSON surface (`/v1/projects/P/topics/T`, `…:publish`, `…:pull`, …)
//! and `GET /stats`, served on the gRPC port.

use crate::broker::Broker;
use crate::error::Error;
use crate::names::{subscription_name, topic_name};
use crate::pull;
use crate::rest_json::{
    AcknowledgeRequestJson, EnumEncoding, ListSubscriptionsResponseJson,
    ListTopicSubscriptionsResponseJson, ListTopicsResponseJson, ModifyAckDeadlineRequestJson,
    ModifyPushConfigRequestJson, PublishRequestJson, PublishResponseJson, PullRequestJson,
    PullResponseJson, SubscriptionJson, TopicJson, UpdateSubscriptionRequestJson,
};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use bytes::Bytes;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::sync::Arc;

/// The REST routes over `broker`.
pub fn router(broker: Arc<Broker>) -> Router {
    Router::new()
        .route("/v1/projects/{project}/topics", get(list_topics))
        .route(
            "/v1/projects/{project}/topics/{topic}",
            get(get_topic)
                .put(create_topic)
                .delete(delete_topic)
                .patch(update_topic)
                .post(topic_method),
        )
        .route(
            "/v1/projects/{project}/topics/{topic}/subscriptions",
            get(list_topic_subscriptions),
        )
        .route(
            "/v1/projects/{project}/subscriptions",
            get(list_subscriptions),
        )
        .route(
            "/v1/projects/{project}/subscriptions/{subscription}",
            get(get_subscription)
                .put(create_subscription)
                .delete(delete_subscription)
                .patch(update_subscription)
                .post(subscription_method),
        )
        .route("/stats", get(stats))
        .with_state(broker)
}

/// An error answered in Google's JSON shape: `{"error":{"code","message","status"}}`.
#[derive(Debug)]
pub struct RestError(Error);

impl From<Error> for RestError {
    fn from(error: Error) -> Self {
        Self(error)
    }
}

impl IntoResponse for RestError {
    fn into_response(self) -> Response {
        let (status, name) = match self.0.code() {
            tonic::Code::NotFound => (StatusCode::NOT_FOUND, "NOT_FOUND"),
            tonic::Code::AlreadyExists => (StatusCode::CONFLICT, "ALREADY_EXISTS"),
            tonic::Code::Unimplemented => (StatusCode::NOT_IMPLEMENTED, "UNIMPLEMENTED"),
            _ => (StatusCode::BAD_REQUEST, "INVALID_ARGUMENT"),
        };
        google_error(status, name, &self.0.to_string())
    }
}

/// A response in Google's error shape.
pub fn google_error(status: StatusCode, name: &str, message: &str) -> Response {
    let body = json!({
        "error": {"code": status.as_u16(), "message": message, "status": name}
    });
    (status, Json(body)).into_response()
}

type RestResult<T> = Result<Json<T>, RestError>;

/// Query parameters Google's clients send.
#[derive(Debug, Default, Deserialize)]
struct RestQuery {
    #[serde(rename = "pageSize")]
    page_size: Option<i32>,
    #[serde(rename = "pageToken")]
    page_token: Option<String>,
    #[serde(rename = "$alt")]
    alt: Option<String>,
}

impl RestQuery {
    fn parse(query: Result<Query<RestQuery>, QueryRejection>) -> Result<Self, Error> {
        query
            .map(|Query(query)| query)
            .map_err(|rejection| Error::InvalidArgument(rejection.body_text()))
    }

    fn enums(&self) -> EnumEncoding {
        match &self.alt {
            Some(alt) if alt.contains("enum-encoding=int") => EnumEncoding::Int,
            _ => EnumEncoding::Name,
        }
    }
}

/// Parses a JSON body; an empty body is the empty message.
fn parse_body<T: DeserializeOwned + Default>(body: &Bytes) -> Result<T, Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body)
        .map_err(|error| Error::InvalidArgument(format!("Invalid JSON payload received. {error}")))
}

/// Splits `name:verb` from the last path segment.
fn custom_method(segment: &str) -> (&str, Option<&str>) {
    match segment.split_once(':') {
        Some((name, verb)) => (name, Some(verb)),
        None => (segment, None),
    }
}

fn empty() -> Json<Value> {
    Json(json!({}))
}

async fn list_topics(
    State(broker): State<Arc<Broker>>,
    Path(project): Path<String>,
    query: Result<Query<RestQuery>, QueryRejection>,
) -> RestResult<ListTopicsResponseJson> {
    let query = RestQuery::parse(query)?;
    let page = broker.list_topics(
        &format!("projects/{project}"),
        query.page_size.unwrap_or(0),
        query.page_token.as_deref().unwrap_or(""),
    )?;
    Ok(Json(ListTopicsResponseJson {
        topics: page
            .items
            .into_iter()
            .map(|topic| TopicJson::from_proto(topic, query.enums()))
            .collect(),
        next_page_token: page.next_page_token,
    }))
}

async fn get_topic(
    State(broker): State<Arc<Broker>>,
    Path((project, topic)): Path<(String, String)>,
    query: Result<Query<RestQuery>, QueryRejection>,
) -> RestResult<TopicJson> {
    let query = RestQuery::parse(query)?;
    let topic = broker.get_topic(&topic_name(&project, &topic))?;
    Ok(Json(TopicJson::from_proto(topic, query.enums())))
}

async fn create_topic(
    State(broker): State<Arc<Broker>>,
    Path((project, topic)): Path<(String, String)>,
    query: Result<Query<RestQuery>, QueryRejection>,
    body: Bytes,
) -> RestResult<TopicJson> {
    let query = RestQuery::parse(query)?;
    let request: TopicJson = parse_body(&body)?;
    let topic = broker.create_topic(request.into_proto(topic_name(&project, &topic))?)?;
    Ok(Json(TopicJson::from_proto(topic, query.enums())))
}

async fn update_topic() -> RestResult<Value> {
    Err(
        Error::Unimplemented("UpdateTopic is not supported by the Pub/Sub emulator".to_owned())
            .into(),
    )
}

async fn delete_topic(
    State(broker): State<Arc<Broker>>,
    Path((project, topic)): Path<(String, String)>,
) -> RestResult<Value> {
    broker.delete_topic(&topic_name(&project, &topic))?;
    Ok(empty())
}

/// `POST …/topics/T:publish`.
async fn topic_method(
    State(broker): State<Arc<Broker>>,
    Path((project, segment)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, RestError> {
    let (topic, verb) = custom_method(&segment);
    let name = topic_name(&project, topic);
    match verb {
        Some("publish") => {
            let request: PublishRequestJson = parse_body(&body)?;
            let message_ids = broker.publish(&name, request.into_messages()?)?;
            Ok(Json(PublishResponseJson { message_ids }).into_response())
        }
        _ => Err(unsupported_method(&segment).into()),
    }
}

async fn list_topic_subscriptions(
    State(broker): State<Arc<Broker>>,
    Path((project, topic)): Path<(String, String)>,
    query: Result<Query<RestQuery>, QueryRejection>,
) -> RestResult<ListTopicSubscriptionsResponseJson> {
    let query = RestQuery::parse(query)?;
    let page = broker.list_topic_subscriptions(
        &topic_name(&project, &topic),
        query.page_size.unwrap_or(0),
        query.page_token.as_deref().unwrap_or(""),
    )?;
    Ok(Json(ListTopicSubscriptionsResponseJson {
        subscriptions: page.items,
        next_page_token: page.next_page_token,
    }))
}

async fn list_subscriptions(
    State(broker): State<Arc<Broker>>,
    Path(project): Path<String>,
    query: Result<Query<RestQuery>, QueryRejection>,
) -> RestResult<ListSubscriptionsResponseJson> {
    let query = RestQuery::parse(query)?;
    let page = broker.list_subscriptions(
        &format!("projects/{project}"),
        query.page_size.unwrap_or(0),
        query.page_token.as_deref().unwrap_or(""),
    )?;
    Ok(Json(ListSubscriptionsResponseJson {
        subscriptions: page
            .items
            .into_iter()
            .map(|sub| SubscriptionJson::from_proto(sub, query.enums()))
            .collect(),
        next_page_token: page.next_page_token,
    }))
}

async fn get_subscription(
    State(broker): State<Arc<Broker>>,
    Path((project, subscription)): Path<(String, String)>,
    query: Result<Query<RestQuery>, QueryRejection>,
) -> RestResult<SubscriptionJson> {
    let query = RestQuery::parse(query)?;
    let sub = broker.get_subscription(&subscription_name(&project, &subscription))?;
    Ok(Json(SubscriptionJson::from_proto(sub, query.enums())))
}

async fn create_subscription(
    State(broker): State<Arc<Broker>>,
    Path((project, subscription)): Path<(String, String)>,
    query: Result<Query<RestQuery>, QueryRejection>,
    body: Bytes,
) -> RestResult<SubscriptionJson> {
    let query = RestQuery::parse(query)?;
    let request: SubscriptionJson = parse_body(&body)?;
    let sub = broker
        .create_subscription(request.into_proto(subscription_name(&project, &subscription))?)?;
    Ok(Json(SubscriptionJson::from_proto(sub, query.enums())))
}

async fn update_subscription(
    State(broker): State<Arc<Broker>>,
    Path((project, subscription)): Path<(String, String)>,
    query: Result<Query<RestQuery>, QueryRejection>,
    body: Bytes,
) -> RestResult<SubscriptionJson> {
    let query = RestQuery::parse(query)?;
    let request: UpdateSubscriptionRequestJson = parse_body(&body)?;
    let paths = request.paths();
    let update = request
        .subscription
        .into_proto(subscription_name(&project, &subscription))?;
    let sub = broker.update_subscription(update, &paths)?;
    Ok(Json(SubscriptionJson::from_proto(sub, query.enums())))
}

async fn delete_subscription(
    State(broker): State<Arc<Broker>>,
    Path((project, subscription)): Path<(String, String)>,
) -> RestResult<Value> {
    broker.delete_subscription(&subscription_name(&project, &subscription))?;
    Ok(empty())
}

/// `POST …/subscriptions/S:pull`, `:acknowledge`, `:modifyAckDeadline`, `:modifyPushConfig`.
async fn subscription_method(
    State(broker): State<Arc<Broker>>,
    Path((project, segment)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, RestError> {
    let (subscription, verb) = custom_method(&segment);
    let name = subscription_name(&project, subscription);
    match verb {
        Some("pull") => {
            let request: PullRequestJson = parse_body(&body)?;
            let received = pull::pull(
                &broker,
                &name,
                request.max_messages,
                request.return_immediately,
            )
            .await?;
            Ok(Json(PullResponseJson::from_proto(received)).into_response())
        }
        Some("acknowledge") => {
            let request: AcknowledgeRequestJson = parse_body(&body)?;
            broker.acknowledge(&name, &request.ack_ids)?;
            Ok(empty().into_response())
        }
        Some("modifyAckDeadline") => {
            let request: ModifyAckDeadlineRequestJson = parse_body(&body)?;
            broker.modify_ack_deadline(&name, &request.ack_ids, request.ack_deadline_seconds)?;
            Ok(empty().into_response())
        }
        Some("modifyPushConfig") => {
            let request: ModifyPushConfigRequestJson = parse_body(&body)?;
            let push_config = request.push_config.map(|push| push.into_proto());
            broker.modify_push_config(&name, push_config)?;
            Ok(empty().into_response())
        }
        _ => Err(unsupported_method(&segment).into()),
    }
}

async fn stats(State(broker): State<Arc<Broker>>) -> Json<crate::stats::Stats> {
    Json(broker.stats())
}

fn unsupported_method(segment: &str) -> Error {
    Error::Unimplemented(format!(
        "POST {segment} is not supported by the Pub/Sub emulator"
    ))
}
