//! Base images as a run-time setting: stored with `base_images_set`, used by the next
//! generated Dockerfile, kept across a restart, validated all-or-nothing, and reset to the
//! server's flag or sh0's default.

mod common;

use serde_json::{Value, json};

use common::Server;
use common::docker::{BASE_IMAGE, require_docker, targz};

fn image<'a>(list: &'a Value, key: &str) -> (&'a str, &'a str) {
    let row = list["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == key)
        .unwrap_or_else(|| panic!("no `{key}` in {list}"));
    (row["image"].as_str().unwrap(), row["source"].as_str().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_base_image_builds_the_next_deploy_and_survives_a_restart() {
    require_docker();
    let mut server = Server::start_with(&["--base-image", &format!("runtime={BASE_IMAGE}")]);
    let before = server.must("base_images_list", json!({})).await;
    assert_eq!(image(&before, "static"), ("busybox:stable", "default"));
    assert_eq!(image(&before, "runtime"), (BASE_IMAGE, "flag"));

    // Bad changes are refused whole, with a message that says why, and change nothing.
    for (bad, says) in [
        (
            json!({"set": [{"key": "nope", "image": "x"}]}),
            "unknown base image `nope`",
        ),
        (json!({"set": [{"key": "static", "image": "Not An Image"}]}), "image"),
        (
            json!({"set": [{"key": "static", "image": BASE_IMAGE}, {"key": "nope", "image": "x"}]}),
            "unknown base image",
        ),
        (
            json!({"set": [{"key": "static", "image": "a"}, {"key": "static", "image": "b"}]}),
            "given twice",
        ),
        (
            json!({"set": [{"key": "static", "image": "a"}], "reset": ["static"]}),
            "both set and reset",
        ),
        (json!({"reset": ["nope"]}), "unknown base image `nope`"),
    ] {
        let (status, body) = server.call("base_images_set", bad.clone()).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body.to_string().contains(says), "{bad}: {body}");
    }
    assert_eq!(server.must("base_images_list", json!({})).await, before);
    assert_eq!(
        server.must("base_images_set", json!({})).await,
        before,
        "an empty change is none"
    );

    // A read key sees them and cannot change them.
    let reader = server
        .must("key_create", json!({"name": "reader", "scope": "read"}))
        .await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(server.must_as(&reader, "base_images_list", json!({})).await, before);
    let (status, body) = server
        .call_as(
            &reader,
            "base_images_set",
            json!({"set": [{"key": "static", "image": "evil/busybox"}]}),
        )
        .await;
    assert_eq!(status, 403, "{body}");

    // The default `busybox:stable` cannot be pulled here (no registry): a static site builds
    // only because the stored choice is used.
    let set = server
        .must(
            "base_images_set",
            json!({"set": [{"key": "static", "image": BASE_IMAGE}]}),
        )
        .await;
    assert_eq!(image(&set, "static"), (BASE_IMAGE, "settings"));
    let site = targz(&[("index.html".into(), b"built on the stored image".to_vec(), 0o644)]);
    let (status, resp) = server.upload(None, "site", site).await;
    assert_eq!(status, 201, "{resp}");
    let dep = server.wait_deployment(resp["deployment_id"].as_str().unwrap()).await;
    assert_eq!(dep["status"], "running", "{dep}");
    let got = server
        .must("deployment_get", json!({"deployment": dep["id"], "log_limit": 500}))
        .await;
    assert!(
        got["log"].to_string().contains(&format!("FROM {BASE_IMAGE}")),
        "the generated Dockerfile starts from the stored image: {}",
        got["log"]
    );
    assert_eq!(
        server.via_proxy("site", "/").await.unwrap(),
        (200, "built on the stored image".into())
    );

    // Stored, so it outlives a kill -9; a reset brings back the default, the flag stays.
    server.restart();
    let after = server.must("base_images_list", json!({})).await;
    assert_eq!(image(&after, "static"), (BASE_IMAGE, "settings"));
    let reset = server.must("base_images_set", json!({"reset": ["static"]})).await;
    assert_eq!(image(&reset, "static"), ("busybox:stable", "default"));
    assert_eq!(reset, before);
    let (_, tool, outcome, _, _) = server.last_audit();
    assert_eq!((tool.as_str(), outcome.as_str()), ("base_images_set", "ok"));
}
