//! What `pullthrough scan` asks the API server: every object of a kind, page by page, as the
//! raw JSON it sends (no typed round trip, so the policy sees exactly what is stored); and one
//! JSON patch per object to fix.

use kube::api::ListParams;
use kube::core::Request;
use serde::de::DeserializeSeed as _;
use serde_json::Value;

use super::Cluster;
use crate::scan::input::Document;
use crate::scan::{Kind, ObjectRef, PatchOutcome};

/// The field manager the scan's patches are recorded under.
pub const SCAN_FIELD_MANAGER: &str = "pullthrough-scan";

/// Objects per page: large enough for few round trips, small enough for a bounded page.
const PAGE_SIZE: u32 = 500;

/// Why listing failed.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    #[error("could not list {resource}")]
    Request {
        resource: String,
        #[source]
        source: Box<kube::Error>,
    },
    #[error("the API server's list of {resource} is not valid JSON")]
    Parse {
        resource: String,
        #[source]
        source: serde_json::Error,
    },
}

impl Cluster {
    /// Hands every object of `kind` to `sink` as each page is parsed: in `namespaces`, or in
    /// all when it is empty.
    pub async fn list_raw(
        &self,
        kind: Kind,
        namespaces: &[String],
        sink: &mut dyn FnMut(Value),
    ) -> Result<(), ListError> {
        let all = [None];
        let scopes: Vec<Option<&str>> = if namespaces.is_empty() {
            all.to_vec()
        } else {
            namespaces.iter().map(|n| Some(n.as_str())).collect()
        };
        for namespace in scopes {
            let path = collection_path(kind, namespace);
            let mut token: Option<String> = None;
            loop {
                let mut params = ListParams::default().limit(PAGE_SIZE);
                if let Some(token) = &token {
                    params = params.continue_token(token);
                }
                let request_error = |source| ListError::Request {
                    resource: path.clone(),
                    source: Box::new(source),
                };
                let request = Request::new(&path)
                    .list(&params)
                    .map_err(|e| request_error(kube::Error::BuildRequest(e)))?;
                let text = self
                    .client
                    .request_text(request)
                    .await
                    .map_err(request_error)?;
                let rest = Document { sink: &mut *sink }
                    .deserialize(&mut serde_json::Deserializer::from_str(&text))
                    .map_err(|source| ListError::Parse {
                        resource: path.clone(),
                        source,
                    })?;
                token = rest
                    .as_ref()
                    .and_then(|fields| fields.get("metadata"))
                    .and_then(|m| m.get("continue"))
                    .and_then(Value::as_str)
                    .filter(|t| !t.is_empty())
                    .map(str::to_owned);
                if token.is_none() {
                    break;
                }
            }
        }
        Ok(())
    }

    /// Sends one JSON patch. A failed `test` (the object changed since it was read) comes back
    /// as [`PatchOutcome::Conflict`], a deleted object as [`PatchOutcome::Gone`].
    pub async fn json_patch(&self, object: &ObjectRef, patch: &Value) -> PatchOutcome {
        let namespace = Some(object.namespace.as_str()).filter(|n| !n.is_empty());
        // Names are DNS labels or subdomains: nothing in them needs escaping in a URL.
        let url = format!(
            "{}/{}?fieldManager={SCAN_FIELD_MANAGER}",
            collection_path(object.kind, namespace),
            object.name
        );
        let request = http::Request::patch(url)
            .header(http::header::ACCEPT, "application/json")
            .header(http::header::CONTENT_TYPE, "application/json-patch+json")
            .body(patch.to_string().into_bytes());
        let request = match request {
            Ok(request) => request,
            Err(error) => {
                return PatchOutcome::Failed(format!("cannot build the request: {error}"));
            }
        };
        match self.client.request_text(request).await {
            Ok(_) => PatchOutcome::Patched,
            Err(kube::Error::Api(status)) => outcome_of(&status),
            Err(error) => PatchOutcome::Failed(crate::report::one_line(&error)),
        }
    }
}

/// What a refused patch means. The API server answers a JSON patch that does not apply with
/// 422 and a generic message; the patch library's own words (`testing value … failed` for a
/// `test`) are in the status's causes.
fn outcome_of(status: &kube::core::Status) -> PatchOutcome {
    let causes: Vec<&str> = status
        .details
        .iter()
        .flat_map(|details| &details.causes)
        .map(|cause| cause.message.as_str())
        .filter(|message| !message.is_empty())
        .collect();
    let message = if causes.is_empty() {
        status.message.clone()
    } else {
        format!("{}: {}", status.message, causes.join("; "))
    };
    if status.is_not_found() {
        PatchOutcome::Gone
    } else if status.code == 409
        || (status.code == 422 && causes.iter().any(|c| c.starts_with("testing value")))
    {
        PatchOutcome::Conflict(message)
    } else {
        PatchOutcome::Failed(message)
    }
}

/// `/apis/apps/v1/namespaces/shop/deployments`, or the cluster-wide collection.
fn collection_path(kind: Kind, namespace: Option<&str>) -> String {
    let prefix = match kind.group() {
        "" => format!("/api/{}", kind.version()),
        group => format!("/apis/{group}/{}", kind.version()),
    };
    match namespace {
        Some(namespace) => format!("{prefix}/namespaces/{namespace}/{}", kind.plural()),
        None => format!("{prefix}/{}", kind.plural()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collections_are_where_the_api_serves_them() {
        assert_eq!(collection_path(Kind::Pod, None), "/api/v1/pods");
        assert_eq!(
            collection_path(Kind::Deployment, Some("shop")),
            "/apis/apps/v1/namespaces/shop/deployments"
        );
        assert_eq!(
            collection_path(Kind::CronJob, Some("a")),
            "/apis/batch/v1/namespaces/a/cronjobs"
        );
    }
}
