use serde_json::json;

use super::*;

#[test]
fn the_patch_is_guarded_by_the_scanned_values() {
    let object = json!({
        "metadata": {"name": "web", "annotations": {"a": "b"}},
        "spec": {"template": {"spec": {"containers": [
            {"name": "app", "image": "nginx:1.27"},
            {"name": "side", "image": "m.example/side:1"},
        ]}}}
    });
    let ops = vec![
        json!({"op": "add", "path": "/metadata/annotations/pullthrough.dev~1original-images", "value": "{\"app\":\"nginx:1.27\"}"}),
        json!({"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "m.example/library/nginx:1.27"}),
    ];
    let Verdict::Changes { images, patch } = changes(&object, ops.clone()) else {
        panic!("changes expected");
    };
    assert_eq!(
        images,
        vec![ImageChange {
            container: "app".into(),
            path: "/spec/template/spec/containers/0/image".into(),
            from: "nginx:1.27".into(),
            to: "m.example/library/nginx:1.27".into(),
        }]
    );
    assert_eq!(
        patch,
        json!([
            {"op": "test", "path": "/metadata/annotations/pullthrough.dev~1original-images", "value": null},
            {"op": "test", "path": "/spec/template/spec/containers/0/image", "value": "nginx:1.27"},
            {"op": "test", "path": "/spec/template/spec/containers/0/name", "value": "app"},
            ops[0],
            ops[1],
        ])
    );
}

#[test]
fn an_image_volume_is_a_change_named_by_its_volume() {
    let object = json!({"spec": {
        "containers": [{"name": "app", "image": "m.example/app:1"}],
        "volumes": [{"name": "config", "configMap": {"name": "c"}},
                    {"name": "models", "image": {"reference": "ghcr.io/o/models:v3"}}]
    }});
    let op = json!({"op": "replace", "path": "/spec/volumes/1/image/reference", "value": "m.example/o/models:v3"});
    let Verdict::Changes { images, patch } = changes(&object, vec![op.clone()]) else {
        panic!("changes expected");
    };
    assert_eq!(
        images,
        vec![ImageChange {
            container: "volume:models".into(),
            path: "/spec/volumes/1/image/reference".into(),
            from: "ghcr.io/o/models:v3".into(),
            to: "m.example/o/models:v3".into(),
        }]
    );
    assert_eq!(
        patch,
        json!([
            {"op": "test", "path": "/spec/volumes/1/image/reference", "value": "ghcr.io/o/models:v3"},
            {"op": "test", "path": "/spec/volumes/1/name", "value": "models"},
            op,
        ])
    );
}

#[test]
fn a_patch_without_image_changes_is_no_change() {
    let object = json!({"metadata": {}});
    let ops = vec![json!({"op": "add", "path": "/metadata/labels", "value": {"a": "b"}})];
    assert_eq!(changes(&object, ops), Verdict::Unchanged);
}

#[test]
fn namespaces_are_filtered_like_the_webhook_does() {
    let filter = NamespaceFilter {
        excluded: vec!["kube-system".into(), "pullthrough".into()],
        only: vec![],
    };
    assert!(filter.admits("shop"));
    assert!(filter.admits(""));
    assert!(!filter.admits("kube-system"));
    let only = NamespaceFilter {
        only: vec!["shop".into()],
        ..filter
    };
    assert!(only.admits("shop"));
    assert!(!only.admits("blog"));
    assert!(!only.admits("pullthrough"));
}

#[test]
fn names_and_controllers_are_read_from_metadata() {
    let object = json!({"metadata": {"generateName": "web-", "ownerReferences": [
        {"kind": "Node", "name": "n1", "uid": "1"},
        {"kind": "ReplicaSet", "name": "web-5d", "uid": "2", "controller": true},
    ]}});
    assert_eq!(name_of(&object), "web-*");
    assert_eq!(
        controller_of(&object),
        Some(Owner {
            kind: "ReplicaSet".into(),
            name: "web-5d".into(),
            uid: Some("2".into())
        })
    );
    assert_eq!(controller_of(&json!({"metadata": {}})), None);
}
