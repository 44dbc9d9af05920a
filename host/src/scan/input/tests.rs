use serde_json::json;

use super::*;

fn objects(text: &str) -> Result<Vec<Value>, InputError> {
    let mut out = Vec::new();
    objects_in(text.as_bytes(), "test.yaml", &mut |v| out.push(v))?;
    Ok(out)
}

#[test]
fn yaml_documents_lists_and_json_streams_become_objects() {
    let cases: [(&str, &str, Vec<Value>); 7] = [
        (
            "multi-document YAML with an empty document and comments",
            "# head\n---\nkind: Pod\nmetadata: {name: a}\n---\n---\nkind: Deployment\nmetadata: {name: b}\n",
            vec![
                json!({"kind": "Pod", "metadata": {"name": "a"}}),
                json!({"kind": "Deployment", "metadata": {"name": "b"}}),
            ],
        ),
        (
            "a kubectl List: items keep their own kind",
            r#"{"apiVersion": "v1", "items": [{"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "a"}}, {"kind": "Job", "apiVersion": "batch/v1"}], "kind": "List", "metadata": {"resourceVersion": ""}}"#,
            vec![
                json!({"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "a"}}),
                json!({"kind": "Job", "apiVersion": "batch/v1"}),
            ],
        ),
        (
            "an API page: items get the list's kind and apiVersion",
            r#"{"kind": "DeploymentList", "apiVersion": "apps/v1", "metadata": {"continue": "x"}, "items": [{"metadata": {"name": "a"}}]}"#,
            vec![json!({"kind": "Deployment", "apiVersion": "apps/v1", "metadata": {"name": "a"}})],
        ),
        (
            "concatenated JSON documents",
            "{\"kind\": \"Pod\"}\n{\"kind\": \"Job\"}\n",
            vec![json!({"kind": "Pod"}), json!({"kind": "Job"})],
        ),
        (
            "a JSON array",
            r#"[{"kind": "Pod"}, {"kind": "CronJob"}]"#,
            vec![json!({"kind": "Pod"}), json!({"kind": "CronJob"})],
        ),
        (
            "a YAML List",
            "kind: List\nitems:\n- kind: Pod\n- kind: DaemonSet\n",
            vec![json!({"kind": "Pod"}), json!({"kind": "DaemonSet"})],
        ),
        (
            "an object whose items field is not an array is an object",
            "kind: ConfigMap\nitems: {a: 1}\n",
            vec![json!({"kind": "ConfigMap", "items": {"a": 1}})],
        ),
    ];
    for (name, text, expected) in cases {
        assert_eq!(objects(text).expect(name), expected, "{name}");
    }
    assert_eq!(objects("  \n").expect("blank"), Vec::<Value>::new());
}

#[test]
fn a_directory_is_read_with_its_subdirectories_as_kubectl_r_does() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    for (path, text) in [
        ("b.yaml", "kind: Pod\nmetadata: {name: top}\n"),
        (
            "apps/web/deploy.yml",
            "kind: Deployment\nmetadata: {name: web}\n",
        ),
        (
            "apps/api.json",
            r#"{"kind": "Job", "metadata": {"name": "api"}}"#,
        ),
        ("apps/web/README.md", "kind: Pod\n"),
        (".github/workflows/ci.yml", "on: push\njobs: {}\n"),
    ] {
        let file = root.join(path);
        std::fs::create_dir_all(file.parent().expect("a parent")).expect("directories");
        std::fs::write(file, text).expect("write");
    }
    // A link back up the tree is not followed: no loop, no file twice.
    std::os::unix::fs::symlink(root, root.join("apps/loop")).expect("link");
    let mut names = Vec::new();
    read_paths(&[root.to_path_buf()], &mut |object| {
        names.push(
            object["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
    })
    .expect("reads");
    assert_eq!(names, ["api", "web", "top"]);
}

#[test]
fn bad_documents_name_the_input_and_the_document() {
    let cases = [
        (
            "{\"kind\": \"Pod\"}\n{\"kind\": ",
            "test.yaml: document 2 is not valid JSON",
            "EOF while parsing a value at line 2 column 9",
        ),
        (
            "kind: Pod\n---\nkind: [\n",
            "test.yaml: document 2 is not valid YAML",
            "",
        ),
        (
            "kind: Pod\n---\n42\n",
            "test.yaml: document 2 is not valid YAML",
            "invalid type: integer `42`, expected a Kubernetes object, a list of objects, or an array of objects",
        ),
    ];
    for (text, message, cause) in cases {
        let error = objects(text).expect_err(text);
        assert_eq!(error.to_string(), message);
        let source = std::error::Error::source(&error)
            .map(ToString::to_string)
            .unwrap_or_default();
        assert!(source.starts_with(cause), "{text:?}: {source}");
    }
}
