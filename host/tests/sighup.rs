//! SIGHUP reloads the policies. Its own test binary: the signal goes to the whole process.

mod common;

use std::time::Duration;

use common::guests;
use pullthrough::policies::{PolicyRegistry, PolicySource};

#[tokio::test]
async fn sighup_reloads_a_changed_module() {
    let dir = tempfile::tempdir().expect("temp dir");
    let module = dir.path().join("versioned.wasm");
    std::fs::write(&module, guests::versioned(1)).expect("write module");
    let config = dir.path().join("policies.yml");
    std::fs::write(&config, "versioned:\n  module: versioned.wasm\n").expect("write config");
    let registry = PolicyRegistry::load(common::runtime(), PolicySource::File(config))
        .await
        .expect("loads");
    // No file watcher: only the signal can trigger this reload.
    let _reloader = registry
        .spawn_reloader_on(false, true)
        .expect("handler installed");

    common::replace_atomically(&module, &guests::versioned(2));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        message(&registry).await,
        "version 1",
        "nothing reloads without a trigger"
    );

    let status = std::process::Command::new("kill")
        .args(["-HUP", &std::process::id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
    let reloaded = common::eventually(Duration::from_secs(10), || {
        registry.statuses()[0].reloads_ok == 1
    })
    .await;
    assert!(reloaded, "SIGHUP did not reload");
    assert_eq!(message(&registry).await, "version 2");
}

async fn message(registry: &PolicyRegistry) -> String {
    registry
        .evaluate("versioned", common::pod_request("u", "x"))
        .await
        .expect("evaluates")
        .response
        .status
        .and_then(|status| status.message)
        .expect("message")
}
