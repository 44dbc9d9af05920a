//! A fake Kubernetes API server in memory: a tower service that kube's `Client` talks to without
//! a socket. It stores objects by path, answers the verbs pullthrough uses (GET, POST, PUT,
//! server-side apply PATCH, DELETE) with the status codes and `Status` bodies the real one sends,
//! and records every request so tests can assert exactly what was sent.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of the fake"
)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};

/// One request as the API server received it.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    pub method: Method,
    /// Path and query, exactly as sent.
    pub uri: String,
    pub content_type: Option<String>,
    pub body: Option<Value>,
}

#[derive(Debug, Default)]
struct State {
    objects: BTreeMap<String, Value>,
    requests: Vec<Recorded>,
    next_version: u64,
    /// Store this object just before the next create (a POST, or an apply of an absent
    /// object), as if another replica had created it a moment earlier: the POST then gets 409
    /// AlreadyExists, the apply 409 Conflict if it would change what the winner applied.
    race_create: Option<Value>,
    /// The field manager whose server-side apply made each object, by path.
    appliers: BTreeMap<String, String>,
}

/// The manager the object stored by [`FakeApiServer::race_next_create`] was applied by.
pub const RACE_WINNER_MANAGER: &str = "another-replica";

/// The fake server; clone it freely, every clone shares the state.
#[derive(Debug, Clone, Default)]
pub struct FakeApiServer {
    state: Arc<Mutex<State>>,
}

impl FakeApiServer {
    pub fn new() -> Self {
        Self::default()
    }

    /// A kube client whose every request this fake answers.
    pub fn client(&self) -> kube::Client {
        let fake = self.clone();
        let service = tower::service_fn(move |request: Request<kube::client::Body>| {
            let fake = fake.clone();
            async move { Ok::<_, std::convert::Infallible>(fake.handle(request).await) }
        });
        kube::Client::new(service, "default")
    }

    /// Stores an object at `path` (as if created earlier), giving it a resourceVersion.
    pub fn insert(&self, path: &str, mut object: Value) {
        let mut state = self.lock();
        state.next_version += 1;
        object["metadata"]["resourceVersion"] = json!(state.next_version.to_string());
        state.objects.insert(path.to_owned(), object);
    }

    pub fn get(&self, path: &str) -> Option<Value> {
        self.lock().objects.get(path).cloned()
    }

    /// Makes the next create (POST, or apply of an absent object) lose a race against `winner`.
    pub fn race_next_create(&self, winner: Value) {
        self.lock().race_create = Some(winner);
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().requests.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("fake API server state")
    }

    async fn handle(&self, request: Request<kube::client::Body>) -> Response<Full<Bytes>> {
        let (parts, body) = request.into_parts();
        let bytes = body.collect().await.expect("request body").to_bytes();
        let body: Option<Value> = if bytes.is_empty() {
            None
        } else {
            Some(serde_json::from_slice(&bytes).expect("kube sends JSON bodies"))
        };
        let uri = parts
            .uri
            .path_and_query()
            .map(|pq| pq.as_str().to_owned())
            .unwrap_or_default();
        let path = parts.uri.path().to_owned();
        let content_type = parts
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut state = self.lock();
        state.requests.push(Recorded {
            method: parts.method.clone(),
            uri,
            content_type,
            body: body.clone(),
        });
        let name = path.rsplit('/').next().unwrap_or_default().to_owned();
        match parts.method {
            Method::GET => match state.objects.get(&path) {
                Some(object) => reply(StatusCode::OK, object.clone()),
                None => status(
                    StatusCode::NOT_FOUND,
                    "NotFound",
                    &format!("\"{name}\" not found"),
                ),
            },
            Method::POST => {
                let mut object = body.expect("POST has a body");
                let name = object["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                let item_path = format!("{path}/{name}");
                if let Some(mut winner) = state.race_create.take() {
                    state.next_version += 1;
                    winner["metadata"]["resourceVersion"] = json!(state.next_version.to_string());
                    state.objects.insert(item_path.clone(), winner);
                }
                if state.objects.contains_key(&item_path) {
                    return status(
                        StatusCode::CONFLICT,
                        "AlreadyExists",
                        &format!("\"{name}\" already exists"),
                    );
                }
                state.next_version += 1;
                object["metadata"]["resourceVersion"] = json!(state.next_version.to_string());
                state.objects.insert(item_path, object.clone());
                reply(StatusCode::CREATED, object)
            }
            Method::PUT => {
                let mut object = body.expect("PUT has a body");
                let current = state
                    .objects
                    .get(&path)
                    .map(|o| o["metadata"]["resourceVersion"].clone());
                if current != Some(object["metadata"]["resourceVersion"].clone()) {
                    return status(
                        StatusCode::CONFLICT,
                        "Conflict",
                        "the object has been modified; please apply your changes to the latest version and try again",
                    );
                }
                state.next_version += 1;
                object["metadata"]["resourceVersion"] = json!(state.next_version.to_string());
                state.objects.insert(path, object.clone());
                reply(StatusCode::OK, object)
            }
            Method::PATCH => {
                // Server-side apply of a whole object: the applied configuration becomes the
                // object, unless it would change an object another manager applied and the apply
                // is not forced (the real server then names the conflicting fields).
                let mut object = body.expect("PATCH has a body");
                let query = parts.uri.query().unwrap_or_default();
                let manager = query
                    .split('&')
                    .find_map(|pair| pair.strip_prefix("fieldManager="))
                    .unwrap_or_default()
                    .to_owned();
                let force = query.split('&').any(|pair| pair == "force=true");
                if !state.objects.contains_key(&path)
                    && let Some(mut winner) = state.race_create.take()
                {
                    state.next_version += 1;
                    winner["metadata"]["resourceVersion"] = json!(state.next_version.to_string());
                    state.objects.insert(path.clone(), winner);
                    state
                        .appliers
                        .insert(path.clone(), RACE_WINNER_MANAGER.to_owned());
                }
                if let (Some(current), Some(owner)) =
                    (state.objects.get(&path), state.appliers.get(&path))
                {
                    let mut stored = current.clone();
                    stored["metadata"]
                        .as_object_mut()
                        .map(|meta| meta.remove("resourceVersion"));
                    if !force && owner != &manager && stored != object {
                        return status(
                            StatusCode::CONFLICT,
                            "Conflict",
                            &format!("Apply failed with 1 conflict: conflict with \"{owner}\""),
                        );
                    }
                }
                state.appliers.insert(path.clone(), manager);
                state.next_version += 1;
                object["metadata"]["resourceVersion"] = json!(state.next_version.to_string());
                let created = !state.objects.contains_key(&path);
                state.objects.insert(path, object.clone());
                reply(
                    if created {
                        StatusCode::CREATED
                    } else {
                        StatusCode::OK
                    },
                    object,
                )
            }
            Method::DELETE => match state.objects.remove(&path) {
                Some(_) => reply(
                    StatusCode::OK,
                    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}),
                ),
                None => status(
                    StatusCode::NOT_FOUND,
                    "NotFound",
                    &format!("\"{name}\" not found"),
                ),
            },
            _ => status(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                "method not allowed",
            ),
        }
    }
}

fn reply(code: StatusCode, body: Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(code)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("response")
}

fn status(code: StatusCode, reason: &str, message: &str) -> Response<Full<Bytes>> {
    reply(
        code,
        json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": reason,
            "code": code.as_u16(),
        }),
    )
}
