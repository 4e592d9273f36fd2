//! API keys: created with a scope and shown once, limited to that scope on every adapter
//! (a read key does not even see write tools over MCP), and refused once revoked or expired.

mod common;

use serde_json::json;

use common::Server;

#[tokio::test(flavor = "multi_thread")]
async fn keys_are_scoped_shown_once_and_stop_working_when_revoked_or_expired() {
    let server = Server::start();
    let (status, reader) = server
        .call("key_create", json!({"name": "reader", "scope": "read"}))
        .await;
    assert_eq!(status, 200, "{reader}");
    let read_key = reader["key"].as_str().unwrap().to_owned();
    assert!(read_key.starts_with("sh0_") && read_key.len() >= 47);
    assert_eq!(reader["role"], "owner");

    // A read key reads, and is refused every change, on REST, the CLI and MCP.
    assert_eq!(server.call_as(&read_key, "project_list", json!({})).await.0, 200);
    let (status, body) = server
        .call_as(&read_key, "project_create", json!({"name": "nope"}))
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        server
            .call_as(&read_key, "key_create", json!({"name": "x", "scope": "read"}))
            .await
            .0,
        403
    );
    let out = std::process::Command::new(common::BIN)
        .args(["project", "create", "--name", "nope"])
        .env("SH0_API_URL", &server.url)
        .env("SH0_API_TOKEN", &read_key)
        .env("HOME", server.dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "forbidden is exit code 4");
    let mcp = server.mcp_client_with(&read_key).await.unwrap();
    let tools: Vec<String> = mcp
        .list_all_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    assert!(tools.contains(&"project_list".to_string()), "{tools:?}");
    for hidden in [
        "project_create",
        "app_delete",
        "key_create",
        "audit_list",
        "cert_upload",
    ] {
        assert!(!tools.contains(&hidden.to_string()), "a read key sees {hidden}");
    }
    mcp.cancel().await.unwrap();

    // Listed without the key itself; the plaintext is stored nowhere.
    let (_, list) = server.call("key_list", json!({})).await;
    let keys = list["keys"].as_array().unwrap();
    let listed = keys.iter().find(|k| k["name"] == "reader").unwrap();
    assert_eq!(listed["state"], "active");
    assert!(listed["last_used_at"].is_string(), "{listed}");
    assert!(
        keys.iter()
            .any(|k| k["current"] == true && k["name"] == "bootstrap owner key")
    );
    assert!(!list.to_string().contains(&read_key));
    let db = std::fs::read(server.data_dir().join("sh0.db")).unwrap_or_default();
    let wal = std::fs::read(server.data_dir().join("sh0.db-wal")).unwrap_or_default();
    for bytes in [db, wal] {
        assert!(!bytes.windows(read_key.len()).any(|w| w == read_key.as_bytes()));
    }
    assert!(!server.log().contains(&read_key));

    // Revoked: refused from then on, and the confirmation is the key's name.
    let id = reader["id"].as_str().unwrap();
    assert_eq!(server.call("key_revoke", json!({"key": id})).await.0, 428);
    let (status, body) = server.call("key_revoke", json!({"key": id, "confirm": "reader"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(server.call_as(&read_key, "project_list", json!({})).await.0, 401);

    // Expired: a key past its expiry is refused like an unknown one.
    let (status, temp) = server
        .call(
            "key_create",
            json!({"name": "temp", "scope": "write", "expires_in_days": 1}),
        )
        .await;
    assert_eq!(status, 200, "{temp}");
    let temp_key = temp["key"].as_str().unwrap();
    assert_eq!(server.call_as(temp_key, "project_list", json!({})).await.0, 200);
    let conn = rusqlite::Connection::open(server.data_dir().join("sh0.db")).unwrap();
    conn.execute(
        "UPDATE api_keys SET expires_at = '2020-01-01T00:00:00Z' WHERE id = ?1",
        [temp["id"].as_str().unwrap()],
    )
    .unwrap();
    assert_eq!(server.call_as(temp_key, "project_list", json!({})).await.0, 401);
    let (_, list) = server.call("key_list", json!({})).await;
    let states: Vec<(&str, &str)> = list["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| (k["name"].as_str().unwrap(), k["state"].as_str().unwrap()))
        .collect();
    assert!(
        states.contains(&("temp", "expired")) && states.contains(&("reader", "revoked")),
        "{states:?}"
    );

    // Bad input changes nothing.
    for args in [
        json!({"name": "", "scope": "read"}),
        json!({"name": "x", "scope": "root"}),
        json!({"name": "x", "scope": "read", "expires_in_days": 0}),
        json!({"name": "line\nbreak", "scope": "read"}),
    ] {
        assert_eq!(server.call("key_create", args.clone()).await.0, 400, "{args}");
    }
    let (_, after) = server.call("key_list", json!({})).await;
    assert_eq!(after["keys"].as_array().unwrap().len(), 3);
}
