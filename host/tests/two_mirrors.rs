//! Two mirrors in priority order through the registry and the real `policy.wasm`: the mirror check
//! (against two local registries' `GET /v2/`, stopped in turn) picks the first that answers, an
//! image on the other moves to it, and only when neither answers is a request admitted unchanged.
//! The cluster suite does the same on the real control plane (`e2e-cluster/86-two-mirrors.bats`).

mod common;

use std::time::Duration;

use base64::Engine as _;
use pullthrough::admission::AdmissionResponse;
use pullthrough::policies::{EMBEDDED_POLICY_WASM, FetchConfig, PolicyRegistry, PolicySource};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A registry that answers every request 200, until dropped.
struct Answering {
    port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl Answering {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    continue;
                };
                tokio::spawn(async move {
                    let mut buffer = [0u8; 1024];
                    let _ = stream.read(&mut buffer).await;
                    let _ = stream
                        .write_all(
                            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                        )
                        .await;
                });
            }
        });
        Self { port, task }
    }
}

impl Drop for Answering {
    fn drop(&mut self) {
        // The listener lives in the task: aborting it closes the port.
        self.task.abort();
    }
}

/// The image the answer puts into the Pod's container, or `None` when it leaves it.
fn image_of(response: &AdmissionResponse) -> Option<String> {
    let patch = response.patch.as_deref()?;
    let ops: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD
            .decode(patch)
            .expect("base64"),
    )
    .expect("a JSON patch");
    ops.as_array()?
        .iter()
        .find(|op| op["path"] == "/spec/containers/0/image")
        .and_then(|op| op["value"].as_str().map(str::to_owned))
}

async fn answer(registry: &PolicyRegistry, image: &str) -> AdmissionResponse {
    registry
        .evaluate("pullthrough", common::pod_request("u", image))
        .await
        .expect("evaluates")
        .response
}

/// Waits until `image` is answered with `want`; fails after 10 s (a bound, not a measurement).
async fn until(registry: &PolicyRegistry, image: &str, want: Option<&str>) -> AdmissionResponse {
    for _ in 0..200 {
        let response = answer(registry, image).await;
        if image_of(&response).as_deref() == want {
            return response;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{image} never became {want:?}");
}

#[tokio::test]
async fn the_first_mirror_that_answers_is_rewritten_to() {
    let first = Answering::start().await;
    let second = Answering::start().await;
    let (a, b) = (
        format!("127.0.0.1:{}", first.port),
        format!("127.0.0.1:{}", second.port),
    );
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("policy.wasm"), EMBEDDED_POLICY_WASM).expect("module");
    let config = dir.path().join("policies.yml");
    std::fs::write(
        &config,
        format!(
            "pullthrough:\n  module: policy.wasm\n  allowedToMutate: true\n  settings:\n    \
             mirrors: ['{a}', '{b}']\n  mirrorCheck:\n    urls: ['http://{a}', 'http://{b}']\n    \
             intervalSeconds: 1\n    failureThreshold: 1\n"
        ),
    )
    .expect("policies file");
    let registry = PolicyRegistry::load_checked(
        common::runtime(),
        PolicySource::File(config),
        None,
        FetchConfig::default(),
    )
    .await
    .expect("loads");
    let on = |mirror: &str, path: &str| format!("{mirror}/{path}");

    until(&registry, "nginx:1.27", Some(&on(&a, "library/nginx:1.27"))).await;
    // On the first already: left alone.
    let kept = answer(&registry, &on(&a, "library/redis:7")).await;
    assert_eq!(image_of(&kept), None);

    drop(first);
    until(&registry, "nginx:1.27", Some(&on(&b, "library/nginx:1.27"))).await;
    // An image on the stopped first mirror moves to the second.
    let moved = answer(&registry, &on(&a, "library/redis:7")).await;
    assert_eq!(image_of(&moved), Some(on(&b, "library/redis:7")));
    let statuses = registry.mirror_statuses();
    assert_eq!(
        (statuses[0].choice, statuses[0].url.as_str()),
        (Some(1), format!("http://{b}").as_str())
    );

    drop(second);
    let unchanged = until(&registry, "nginx:1.27", None).await;
    assert_eq!(
        unchanged.warnings,
        Some(vec![
            "pullthrough: none of the 2 mirrors is answering; images left unchanged".to_owned()
        ])
    );
    let statuses = registry.mirror_statuses();
    assert_eq!((statuses[0].choice, statuses[0].transitions), (None, 2));
}

#[tokio::test]
async fn a_check_of_one_url_for_two_mirrors_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("policy.wasm"), EMBEDDED_POLICY_WASM).expect("module");
    let config = dir.path().join("policies.yml");
    std::fs::write(
        &config,
        "pullthrough:\n  module: policy.wasm\n  allowedToMutate: true\n  settings:\n    \
         mirrors: [a.example.com, b.example.com]\n  mirrorCheck:\n    url: https://a.example.com\n",
    )
    .expect("policies file");
    let error = PolicyRegistry::load_checked(
        common::runtime(),
        PolicySource::File(config.clone()),
        None,
        FetchConfig::default(),
    )
    .await
    .expect_err("refused");
    assert_eq!(
        pullthrough::report::one_line(&error),
        format!(
            "policies file {}: pullthrough.mirrorCheck.url has 1 URL(s) for the 2 mirrors of settings.mirrors: give urls, one per mirror in the same order",
            config.display()
        )
    );
}
