//! The client against a real API: every operation of the served OpenAPI
//! document has a method, and the methods do what the API documents.

#[path = "../support/test_api.rs"]
mod test_api;

mod coverage;
mod errors;
mod job_types;
mod jobs;
mod schedules;

use jobs_client::Client;
use test_api::TestApi;

/// A client of `api` with its key.
fn client_of(api: &TestApi) -> Client {
    Client::new(&api.url, &api.key).expect("a client")
}
