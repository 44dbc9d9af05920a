//! Hot swap: a module or policies file replaced while evaluations run is swapped in atomically;
//! a corrupt one is rejected and the old version keeps answering.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::guests;
use pullthrough::policies::{PolicyRegistry, PolicySource, PolicyStatus};

const WAIT: Duration = Duration::from_secs(10);

struct Setup {
    _dir: tempfile::TempDir,
    module: PathBuf,
    config: PathBuf,
    registry: PolicyRegistry,
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().expect("temp dir");
    let module = dir.path().join("versioned.wasm");
    std::fs::write(&module, guests::versioned(1)).expect("write module");
    let config = dir.path().join("policies.yml");
    std::fs::write(&config, "versioned:\n  module: versioned.wasm\n").expect("write config");
    let registry = PolicyRegistry::load(common::runtime(), PolicySource::File(config.clone()))
        .await
        .expect("loads");
    Setup {
        _dir: dir,
        module,
        config,
        registry,
    }
}

async fn answer(registry: &PolicyRegistry, policy: &str) -> String {
    let evaluation = registry
        .evaluate(policy, common::pod_request("u", "nginx"))
        .await
        .expect("evaluates");
    evaluation
        .response
        .status
        .and_then(|status| status.message)
        .expect("versioned guests answer with a message")
}

fn status(registry: &PolicyRegistry, policy: &str) -> PolicyStatus {
    registry
        .statuses()
        .into_iter()
        .find(|status| status.name == policy)
        .expect("policy has a status")
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replacing_the_module_under_load_loses_no_evaluation() {
    let setup = setup().await;
    let _reloader = setup
        .registry
        .spawn_reloader_on(true, false)
        .expect("watcher starts");
    let first = status(&setup.registry, "versioned");
    assert_eq!(first.module_sha256, Some(sha256_hex(&guests::versioned(1))));
    assert_eq!(first.module_path.as_deref(), Some(setup.module.as_path()));

    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let registry = setup.registry.clone();
            let stop = Arc::clone(&stop);
            tokio::spawn(async move {
                let mut answers = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    answers.push(answer(&registry, "versioned").await);
                }
                answers
            })
        })
        .collect();

    tokio::time::sleep(Duration::from_millis(200)).await;
    common::replace_atomically(&setup.module, &guests::versioned(2));
    let v2 = sha256_hex(&guests::versioned(2));
    assert!(
        common::eventually(WAIT, || status(&setup.registry, "versioned").module_sha256
            == Some(v2.clone()))
        .await,
        "version 2 was never swapped in"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);

    let mut total = 0;
    for worker in workers {
        let answers = worker
            .await
            .expect("worker did not panic (no evaluation failed)");
        total += answers.len();
        // Each answer is exactly one version's, and once a worker saw version 2 it never sees 1.
        let switch = answers
            .iter()
            .position(|a| a == "version 2")
            .unwrap_or(answers.len());
        assert!(
            answers[..switch].iter().all(|a| a == "version 1"),
            "{answers:?}"
        );
        assert!(
            answers[switch..].iter().all(|a| a == "version 2"),
            "{answers:?}"
        );
        assert!(switch < answers.len(), "a worker never saw version 2");
    }
    assert!(total > 16, "only {total} evaluations ran");
    let after = status(&setup.registry, "versioned");
    assert_eq!((after.reloads_ok, after.reloads_rejected), (1, 0));
    assert!(after.loaded_at > first.loaded_at);
}

#[tokio::test]
async fn a_corrupt_module_is_rejected_and_the_old_version_keeps_answering() {
    let setup = setup().await;
    let _reloader = setup
        .registry
        .spawn_reloader_on(true, false)
        .expect("watcher starts");

    common::replace_atomically(&setup.module, b"\0asm garbage");
    assert!(
        common::eventually(WAIT, || status(&setup.registry, "versioned")
            .reloads_rejected
            == 1)
        .await,
        "the corrupt module was never looked at"
    );
    let rejected = status(&setup.registry, "versioned");
    assert_eq!(
        rejected.module_sha256,
        Some(sha256_hex(&guests::versioned(1)))
    );
    let reason = rejected.last_error.expect("reason recorded");
    assert!(
        reason.starts_with("policy \"versioned\" does not load: module does not compile: "),
        "{reason}"
    );
    assert_eq!(answer(&setup.registry, "versioned").await, "version 1");
    assert!(setup.registry.is_ready());

    // A module refusing its settings is rejected the same way.
    common::replace_atomically(
        &setup.module,
        &guests::guest(guests::ACCEPT, guests::SETTINGS_INVALID),
    );
    assert!(
        common::eventually(WAIT, || status(&setup.registry, "versioned")
            .reloads_rejected
            == 2)
        .await
    );
    assert_eq!(
        status(&setup.registry, "versioned").last_error.as_deref(),
        Some("policy \"versioned\" refused its settings: mirror is required")
    );
    assert_eq!(answer(&setup.registry, "versioned").await, "version 1");

    // A good module after the bad ones is swapped in.
    common::replace_atomically(&setup.module, &guests::versioned(3));
    assert!(
        common::eventually(WAIT, || status(&setup.registry, "versioned").reloads_ok
            == 1)
        .await
    );
    assert_eq!(answer(&setup.registry, "versioned").await, "version 3");
}

#[tokio::test]
async fn a_module_written_in_place_is_picked_up() {
    let setup = setup().await;
    let _reloader = setup
        .registry
        .spawn_reloader_on(true, false)
        .expect("watcher starts");
    std::fs::write(&setup.module, guests::versioned(2)).expect("write in place");
    let v2 = sha256_hex(&guests::versioned(2));
    assert!(
        common::eventually(WAIT, || status(&setup.registry, "versioned").module_sha256
            == Some(v2.clone()))
        .await
    );
    assert_eq!(answer(&setup.registry, "versioned").await, "version 2");
}

#[tokio::test]
async fn policies_file_changes_add_policies_and_wait_for_new_module_files() {
    let setup = setup().await;
    let _reloader = setup
        .registry
        .spawn_reloader_on(true, false)
        .expect("watcher starts");
    let dir = setup.config.parent().expect("dir").to_owned();

    // A new policy whose module does not exist yet: configured, not ready.
    std::fs::write(
        &setup.config,
        "versioned:\n  module: versioned.wasm\nlater:\n  module: later.wasm\n",
    )
    .expect("rewrite config");
    assert!(
        common::eventually(WAIT, || setup.registry.policy_names()
            == ["later".to_owned(), "versioned".to_owned()])
        .await
    );
    assert!(!setup.registry.is_ready());
    let error = setup
        .registry
        .evaluate("later", common::pod_request("u", "x"))
        .await
        .expect_err("not loaded");
    assert_eq!(error.to_string(), "policy \"later\" is not loaded");
    assert_eq!(error.kind(), "not_loaded");

    // The module file appearing completes it.
    common::replace_atomically(&dir.join("later.wasm"), &guests::versioned(7));
    assert!(common::eventually(WAIT, || setup.registry.is_ready()).await);
    assert_eq!(answer(&setup.registry, "later").await, "version 7");
    assert_eq!(answer(&setup.registry, "versioned").await, "version 1");
}

#[tokio::test]
async fn an_invalid_policies_file_changes_nothing() {
    let setup = setup().await;
    std::fs::write(&setup.config, "versioned:\n  modul: typo.wasm\n").expect("rewrite");
    let report = setup.registry.reload().await;
    let error = report.config_error.expect("file rejected");
    assert!(
        error.starts_with(&format!(
            "policies file {}: versioned: unknown field `modul`",
            setup.config.display()
        )),
        "{error}"
    );
    assert!(report.swapped.is_empty() && report.rejected.is_empty());
    assert_eq!(answer(&setup.registry, "versioned").await, "version 1");

    // Removing a policy from the file removes it from the registry.
    std::fs::write(
        dir_of(&setup.config).join("other.wasm"),
        guests::versioned(5),
    )
    .expect("write module");
    std::fs::write(&setup.config, "other:\n  module: other.wasm\n").expect("rewrite");
    let report = setup.registry.reload().await;
    assert_eq!(report.swapped, ["other".to_owned()]);
    assert_eq!(setup.registry.policy_names(), ["other".to_owned()]);
    assert_eq!(answer(&setup.registry, "other").await, "version 5");
}

fn dir_of(path: &Path) -> &Path {
    path.parent().expect("has a parent")
}

#[tokio::test]
async fn a_module_in_a_directory_named_later_is_watched_too() {
    let setup = setup().await;
    let _reloader = setup
        .registry
        .spawn_reloader_on(true, false)
        .expect("watcher starts");
    let elsewhere = tempfile::tempdir().expect("second dir");
    let module = elsewhere.path().join("moved.wasm");
    std::fs::write(&module, guests::versioned(8)).expect("write module");
    std::fs::write(
        &setup.config,
        format!("versioned:\n  module: {}\n", module.display()),
    )
    .expect("rewrite config");
    assert!(
        common::eventually(WAIT, || status(&setup.registry, "versioned")
            .module_path
            .as_deref()
            == Some(module.as_path()))
        .await
    );
    assert_eq!(answer(&setup.registry, "versioned").await, "version 8");

    // The new directory is now watched: replacing the module there swaps it in.
    common::replace_atomically(&module, &guests::versioned(9));
    let v9 = sha256_hex(&guests::versioned(9));
    assert!(
        common::eventually(WAIT, || status(&setup.registry, "versioned").module_sha256
            == Some(v9.clone()))
        .await,
        "a change in the new directory was missed"
    );
    assert_eq!(answer(&setup.registry, "versioned").await, "version 9");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_evaluation_in_flight_finishes_on_the_version_it_started_with() {
    let dir = tempfile::tempdir().expect("temp dir");
    let module = dir.path().join("slow.wasm");
    std::fs::write(&module, guests::slow_versioned(1, 1_000_000_000)).expect("write module");
    let config = dir.path().join("policies.yml");
    std::fs::write(
        &config,
        "slow:\n  module: slow.wasm\n  timeoutEvalSeconds: 30\n",
    )
    .expect("write config");
    let registry = PolicyRegistry::load(common::runtime(), PolicySource::File(config))
        .await
        .expect("loads");

    let in_flight = {
        let registry = registry.clone();
        tokio::spawn(async move { answer(&registry, "slow").await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    std::fs::write(&module, guests::versioned(2)).expect("replace module");
    let report = registry.reload().await;
    assert_eq!(report.swapped, ["slow".to_owned()]);
    assert!(
        !in_flight.is_finished(),
        "the slow evaluation ended before the swap; the test proves nothing"
    );
    assert_eq!(answer(&registry, "slow").await, "version 2");
    assert_eq!(in_flight.await.expect("task"), "version 1");
}

/// A ConfigMap volume as the kubelet writes it: `..2026_12_01_10_00_00.1/` holds the files,
/// `..data -> ..2026_…`, and each key is `key -> ..data/key`.
fn configmap_version(dir: &Path, stamp: &str, module: &[u8]) -> PathBuf {
    let version = dir.join(format!("..{stamp}"));
    std::fs::create_dir(&version).expect("version directory");
    std::fs::write(version.join("versioned.wasm"), module).expect("module");
    std::fs::write(
        version.join("policies.yml"),
        "versioned:\n  module: versioned.wasm\n",
    )
    .expect("policies file");
    version
}

#[tokio::test]
async fn a_configmap_volume_updated_the_kubelet_way_is_swapped_in() {
    let dir = tempfile::tempdir().expect("temp dir");
    let first = configmap_version(dir.path(), "2026_12_01_10_00_00.1", &guests::versioned(1));
    std::os::unix::fs::symlink(first.file_name().expect("name"), dir.path().join("..data"))
        .expect("..data");
    for key in ["policies.yml", "versioned.wasm"] {
        std::os::unix::fs::symlink(format!("..data/{key}"), dir.path().join(key))
            .expect("key link");
    }
    let config = dir.path().join("policies.yml");
    let registry = PolicyRegistry::load(common::runtime(), PolicySource::File(config))
        .await
        .expect("loads");
    let _reloader = registry
        .spawn_reloader_on(true, false)
        .expect("watcher starts");
    assert_eq!(answer(&registry, "versioned").await, "version 1");

    // The kubelet's update (atomic_writer.go): new directory, a `..data_tmp` link to it renamed
    // over `..data`, then the old directory removed. The key links never change.
    let second = configmap_version(dir.path(), "2026_12_01_10_05_00.2", &guests::versioned(2));
    let tmp = dir.path().join("..data_tmp");
    std::os::unix::fs::symlink(second.file_name().expect("name"), &tmp).expect("..data_tmp");
    std::fs::rename(&tmp, dir.path().join("..data")).expect("swap ..data");
    std::fs::remove_dir_all(&first).expect("remove the old version");

    let v2 = sha256_hex(&guests::versioned(2));
    assert!(
        common::eventually(WAIT, || status(&registry, "versioned").module_sha256
            == Some(v2.clone()))
        .await,
        "the swapped ..data was not picked up"
    );
    assert_eq!(answer(&registry, "versioned").await, "version 2");
}
