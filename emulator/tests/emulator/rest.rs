//! Pub/Sub's REST/JSON surface as curl users and Google's REST clients see it.

use crate::common::{start, subscription, topic};
use pubsub_emulator::Setup;
use reqwest::StatusCode;
use serde_json::{Value, json};

struct Rest {
    client: reqwest::Client,
    base: String,
}

impl Rest {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status();
        let body = response.json().await.expect("a JSON body");
        (status, body)
    }
}

#[tokio::test]
async fn rest_errors_have_googles_shape() {
    let emulator = start(1.0, Setup::new().topic("jobs")).await;
    let rest = Rest {
        client: reqwest::Client::new(),
        base: emulator.endpoint(),
    };
    let path = format!("/v1/{}", topic("jobs"));

    let (status, body) = rest.call(reqwest::Method::PUT, &path, None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        body,
        json!({"error": {
            "code": 409,
            "message": "Resource already exists in the project (resource=jobs).",
            "status": "ALREADY_EXISTS"
        }})
    );

    let (status, body) = rest
        .call(
            reqwest::Method::GET,
            &format!("/v1/{}", topic("missing")),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body,
        json!({"error": {"code": 404, "message": "Resource not found (resource=missing).", "status": "NOT_FOUND"}})
    );

    let (status, body) = rest
        .call(
            reqwest::Method::PUT,
            &format!("/v1/{}", topic("goog-jobs")),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["status"], "INVALID_ARGUMENT");
    assert_eq!(body["error"]["code"], 400);

    let malformed = rest
        .client
        .post(format!("{}{path}:publish", rest.base))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("sent");
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
    let body: Value = malformed.json().await.expect("json");
    assert_eq!(body["error"]["status"], "INVALID_ARGUMENT");

    let (status, body) = rest.call(reqwest::Method::GET, "/v2/elsewhere", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["status"], "NOT_FOUND");

    let (status, body) = rest
        .call(
            reqwest::Method::PUT,
            &format!("/v1/{}", subscription("filtered")),
            Some(json!({"topic": topic("jobs"), "filter": "attributes.x = \"1\""})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_IMPLEMENTED);
    assert_eq!(body["error"]["status"], "UNIMPLEMENTED");
    emulator.shutdown().await;
}

#[tokio::test]
async fn publish_pull_nack_and_ack_over_rest() {
    let emulator = start(1.0, Setup::new()).await;
    let rest = Rest {
        client: reqwest::Client::new(),
        base: emulator.endpoint(),
    };
    let topic_path = format!("/v1/{}", topic("jobs"));
    let sub_path = format!("/v1/{}", subscription("audit"));

    let (status, created) = rest.call(reqwest::Method::PUT, &topic_path, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(created["name"], topic("jobs"));
    let (status, sub) = rest
        .call(
            reqwest::Method::PUT,
            &sub_path,
            Some(json!({"topic": topic("jobs"), "ackDeadlineSeconds": 30})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(sub["ackDeadlineSeconds"], 30);
    assert_eq!(sub["state"], "ACTIVE");
    let (_, with_defaults) = rest
        .call(
            reqwest::Method::PUT,
            &format!("/v1/{}", subscription("defaults")),
            Some(json!({"topic": topic("jobs"), "retryPolicy": {}})),
        )
        .await;
    assert_eq!(with_defaults["ackDeadlineSeconds"], 10);
    assert_eq!(
        with_defaults["retryPolicy"],
        json!({"minimumBackoff": "10s", "maximumBackoff": "600s"})
    );
    let (_, as_ints) = rest
        .call(
            reqwest::Method::GET,
            &format!("{sub_path}?$alt=json;enum-encoding=int"),
            None,
        )
        .await;
    assert_eq!(
        as_ints["state"], 1,
        "Google's REST clients ask for enums as integers"
    );

    let (status, published) = rest
        .call(
            reqwest::Method::POST,
            &format!("{topic_path}:publish"),
            Some(json!({"messages": [{"data": "aGVsbG8=", "attributes": {"k": "v"}}]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let message_id = published["messageIds"][0]
        .as_str()
        .expect("an id")
        .to_owned();

    let pull_path = format!("{sub_path}:pull");
    let pull = || {
        rest.call(
            reqwest::Method::POST,
            &pull_path,
            Some(json!({"maxMessages": 10})),
        )
    };
    let (_, first) = pull().await;
    let received = &first["receivedMessages"][0];
    assert_eq!(received["message"]["data"], "aGVsbG8=");
    assert_eq!(received["message"]["messageId"], message_id.as_str());
    assert_eq!(received["message"]["attributes"]["k"], "v");
    let ack_id = received["ackId"].as_str().expect("ack id").to_owned();

    let (status, _) = rest
        .call(
            reqwest::Method::POST,
            &format!("{sub_path}:modifyAckDeadline"),
            Some(json!({"ackIds": [ack_id], "ackDeadlineSeconds": 0})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, second) = pull().await;
    assert_eq!(
        second["receivedMessages"][0]["message"]["messageId"],
        message_id.as_str()
    );
    let ack_id = second["receivedMessages"][0]["ackId"].clone();
    let (status, acked) = rest
        .call(
            reqwest::Method::POST,
            &format!("{sub_path}:acknowledge"),
            Some(json!({"ackIds": [ack_id]})),
        )
        .await;
    assert_eq!((status, acked), (StatusCode::OK, json!({})));
    let (_, empty) = rest
        .call(
            reqwest::Method::POST,
            &format!("{sub_path}:pull"),
            Some(json!({"maxMessages": 10, "returnImmediately": true})),
        )
        .await;
    assert_eq!(empty, json!({}));

    let (_, stats) = rest.call(reqwest::Method::GET, "/stats", None).await;
    assert_eq!(stats["published"], 1);
    assert_eq!(stats["subscriptions"][subscription("audit")]["acks"], 1);
    assert_eq!(stats["total"]["nacks"], 1);
    emulator.shutdown().await;
}
