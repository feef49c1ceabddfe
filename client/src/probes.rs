//! The probes and metrics, which need no API key.

use crate::{Client, Error};
use reqwest::Method;

impl Client {
    /// `GET /healthz`: the API process is up.
    pub async fn health(&self) -> Result<(), Error> {
        let request = self.http.request(Method::GET, self.url(&["healthz"])?);
        self.execute(request).await
    }

    /// `GET /readyz`: the API can serve requests (its database answers);
    /// [`Error::Unavailable`] otherwise.
    pub async fn ready(&self) -> Result<(), Error> {
        let request = self.http.request(Method::GET, self.url(&["readyz"])?);
        self.execute(request).await
    }

    /// `GET /metrics`: the API process's metrics, in the OpenMetrics text
    /// format.
    pub async fn metrics(&self) -> Result<String, Error> {
        let request = self.http.request(Method::GET, self.url(&["metrics"])?);
        let response = self.send(request).await?;
        response.text().await.map_err(Error::Transport)
    }
}
