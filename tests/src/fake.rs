//! A local fake of a platform's HTTP API (X, Meta, a generic callback): records every request
//! and answers from a script (status, headers, body), then with a default answer. Tests point
//! `channels.x_api_base` / `channels.meta_api_base` / an account's `callback_url` at it.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The method.
    pub method: String,
    /// The path and query.
    pub path: String,
    /// The headers, names lower-case.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Recorded {
    /// The body as JSON.
    ///
    /// # Panics
    /// When it is not JSON.
    #[allow(clippy::unwrap_used)]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }
}

/// An answer to give.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The status.
    pub status: u16,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// The JSON body.
    pub body: String,
}

impl Answer {
    /// `status` with `body`.
    pub fn new(status: u16, body: &str) -> Self {
        Self { status, headers: Vec::new(), body: body.to_owned() }
    }

    /// With a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

#[derive(Default)]
struct Inner {
    requests: Vec<Recorded>,
    script: VecDeque<Answer>,
    fallback: Option<Answer>,
}

/// A running fake.
#[derive(Clone)]
pub struct FakePlatform {
    /// Its address.
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
}

impl FakePlatform {
    /// Starts a fake answering `fallback` once the script is used up.
    ///
    /// # Panics
    /// When it cannot listen.
    #[allow(clippy::unwrap_used)]
    pub async fn start(fallback: Answer) -> Self {
        let inner = Arc::new(Mutex::new(Inner { fallback: Some(fallback), ..Inner::default() }));
        let router = Router::new().fallback(record).with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self { addr, inner }
    }

    /// Its base URL, e.g. `http://127.0.0.1:1234`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Queues answers for the next requests.
    #[allow(clippy::unwrap_used)]
    pub fn script(&self, answers: impl IntoIterator<Item = Answer>) {
        self.inner.lock().unwrap().script.extend(answers);
    }

    /// Every request so far.
    #[allow(clippy::unwrap_used)]
    pub fn requests(&self) -> Vec<Recorded> {
        self.inner.lock().unwrap().requests.clone()
    }
}

#[allow(clippy::unwrap_used)]
async fn record(
    State(inner): State<Arc<Mutex<Inner>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let answer = {
        let mut inner = inner.lock().unwrap();
        inner.requests.push(Recorded {
            method: method.to_string(),
            path: uri.path_and_query().map(|p| p.to_string()).unwrap_or_default(),
            headers: headers
                .iter()
                .filter_map(|(name, value)| Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned())))
                .collect(),
            body: body.to_vec(),
        });
        match inner.script.pop_front() {
            Some(answer) => answer,
            None => inner.fallback.clone().unwrap(),
        }
    };
    let mut response = (StatusCode::from_u16(answer.status).unwrap(), answer.body).into_response();
    response.headers_mut().insert("content-type", "application/json".parse().unwrap());
    for (name, value) in answer.headers {
        response.headers_mut().insert(axum::http::HeaderName::try_from(name).unwrap(), value.parse().unwrap());
    }
    response
}
