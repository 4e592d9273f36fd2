//! Managed databases against real servers (PostgreSQL 15, MariaDB 10.11 and Redis 7 from
//! the distribution's packages, in images behind the official images' contract): create,
//! link to an app that reads and writes through `DATABASE_URL`, read-only queries the
//! database itself refuses to turn into writes, stop/start, a container removed by hand,
//! deletion — and the password nowhere but in `database_credentials`.

mod common;

use std::process::Command;

use serde_json::{Value, json};

use common::Server;
use common::databases::{
    DB_IMAGE_FLAGS, MARIADB_ITEMS, PG_ITEMS, REDIS_ITEMS, container_of, database_and_app, items, require_db_images,
};

async fn start() -> Server {
    require_db_images();
    Server::start_with(DB_IMAGE_FLAGS)
}

async fn query(server: &Server, db: &str, q: &str) -> (u16, Value) {
    server.call("database_query", json!({"database": db, "query": q})).await
}

/// The password must appear nowhere but in `database_credentials`: not in the host's
/// process list, the server's log, the audit records, or any other tool's answer.
async fn password_stays_secret(server: &Server, db: &str, seen: &[&Value]) {
    let creds = server.must("database_credentials", json!({"database": db})).await;
    let password = creds["password"].as_str().unwrap().to_owned();
    assert!(password.len() >= 32);
    assert!(creds["url"].as_str().unwrap().contains(&password));
    let ps = Command::new("ps").args(["-eo", "args"]).output().unwrap();
    assert!(
        !String::from_utf8_lossy(&ps.stdout).contains(&password),
        "password in the process list"
    );
    let log = server.log();
    let leak = log.lines().find(|l| l.contains(&password));
    assert!(
        leak.is_none(),
        "password in the server log: {}",
        leak.unwrap_or("").replace(&password, "<password>")
    );
    let audit = server.must("audit_list", json!({"limit": 500})).await;
    assert!(!audit.to_string().contains(&password), "password in the audit log");
    for v in seen {
        assert!(!v.to_string().contains(&password), "password in {v}");
    }
    let got = server.must("database_get", json!({"database": db})).await;
    assert!(!got.to_string().contains(&password));
    let list = server.must("database_list", json!({})).await;
    assert!(!list.to_string().contains(&password));
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_end_to_end() {
    let server = start().await;
    let db = database_and_app(&server, "shop", "shopdb", "postgres", "shop-web", PG_ITEMS).await;
    assert_eq!(db["url_without_password"], "postgres://shopdb@shopdb:5432/shopdb");
    assert_eq!(items(&server, "shop-web", "apple").await, "apple");
    assert_eq!(items(&server, "shop-web", "pear").await, "apple,pear");

    let (s, rows) = query(&server, "shopdb", "SELECT v FROM items ORDER BY v").await;
    assert_eq!(s, 200, "{rows}");
    assert_eq!(rows["columns"], json!(["v"]));
    assert_eq!(rows["rows"], json!([["apple"], ["pear"]]));
    let got = server.must("database_get", json!({"database": "shopdb"})).await;
    assert!(got["size_bytes"].as_u64().unwrap() > 1000, "{got}");

    // A function with side effects, made by the database's owner (as an app would).
    let container = container_of(db["id"].as_str().unwrap());
    let made = Command::new("docker")
        .args(["exec", &container, "psql", "-U", "shopdb", "-d", "shopdb", "-c"])
        .arg("CREATE FUNCTION wipe() RETURNS int LANGUAGE sql AS 'DELETE FROM items; SELECT 1'")
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    for write in [
        "INSERT INTO items VALUES ('x')",
        "UPDATE items SET v = 'x'",
        "DELETE FROM items",
        "DROP TABLE items",
        "WITH gone AS (DELETE FROM items RETURNING v) SELECT * FROM gone",
        "SELECT * FROM items FOR UPDATE",
        "SELECT wipe()",
        "COMMIT; SET default_transaction_read_only = off; DELETE FROM items",
        "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE; DELETE FROM items",
        "CREATE TABLE other (v int)",
        // psql's own commands never reach psql: a shell, a reconnection as the owner, a file.
        "\\! id",
        "\\c - shopdb",
        "\\o /tmp/sh0-query-out",
        "SELECT 1; \\! id",
        "BEGIN READ WRITE; DELETE FROM items",
    ] {
        let (s, body) = query(&server, "shopdb", write).await;
        assert_eq!(s, 422, "{write}: {body}");
        assert_eq!(body["error"]["kind"], "unprocessable", "{write}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("the database refused the query"),
            "{body}"
        );
    }
    assert_eq!(
        items(&server, "shop-web", "").await,
        "apple,pear",
        "the data is unchanged"
    );
    // What the query could do without touching a table is rolled back with it.
    let _ = query(&server, "shopdb", "SELECT lo_create(0)").await;
    let (s, body) = query(&server, "shopdb", "SELECT count(*) AS n FROM pg_largeobject_metadata").await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["rows"], json!([["0"]]));
    let (s, body) = query(&server, "shopdb", "SELECT 1 AS \"a?\", NULL AS b, '<x & y>' AS c").await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["columns"], json!(["a?", "b", "c"]));
    assert_eq!(body["rows"], json!([["1", "", "<x & y>"]]));
    let (s, body) = query(&server, "shopdb", "SELECT pg_sleep(5)").await;
    assert_eq!(s, 200, "a query within its time: {body}");
    let (s, body) = server
        .call(
            "database_query",
            json!({"database": "shopdb", "query": "SELECT pg_sleep(30)", "timeout_secs": 1}),
        )
        .await;
    assert_eq!(s, 422, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("statement timeout"),
        "{body}"
    );
    let (s, body) = server
        .call(
            "database_query",
            json!({"database": "shopdb", "query": "SELECT generate_series(1, 500)", "max_rows": 10}),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["rows"].as_array().unwrap().len(), 10);
    assert_eq!(body["truncated"], true);

    // Stop and start keep the data; so does a container removed by hand.
    let stopped = server.must("database_stop", json!({"database": "shopdb"})).await;
    assert_eq!(stopped["status"], "stopped");
    let started = server.must("database_start", json!({"database": "shopdb"})).await;
    assert_eq!(started["status"], "running");
    let rm = Command::new("docker").args(["rm", "-f", &container]).output().unwrap();
    assert!(rm.status.success());
    let got = server.must("database_get", json!({"database": "shopdb"})).await;
    assert_eq!(got["status"], "missing", "{got}");
    let started = server.must("database_start", json!({"database": "shopdb"})).await;
    assert_eq!(started["status"], "running", "{started}");
    assert_eq!(
        items(&server, "shop-web", "").await,
        "apple,pear",
        "the data survived its container"
    );

    password_stays_secret(&server, "shopdb", &[&db, &started]).await;

    // A project with a database is not deleted, even with cascade.
    let (s, body) = server
        .call(
            "project_delete",
            json!({"project": "shop", "cascade": true, "confirm": "shop"}),
        )
        .await;
    assert_eq!(s, 409, "{body}");
    let (s, body) = server.call("database_delete", json!({"database": "shopdb"})).await;
    assert!(s >= 400, "delete without confirmation: {body}");
    server
        .must("database_delete", json!({"database": "shopdb", "confirm": "shopdb"}))
        .await;
    assert_eq!(container_of(db["id"].as_str().unwrap()), "");
    let volumes = Command::new("docker")
        .args([
            "volume",
            "ls",
            "-q",
            "--filter",
            &format!("label=sh0.database={}", db["id"].as_str().unwrap()),
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&volumes.stdout).trim(),
        "",
        "its volume is gone"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn mariadb_end_to_end() {
    let server = start().await;
    let db = database_and_app(&server, "blog", "blogdb", "mariadb", "blog-web", MARIADB_ITEMS).await;
    assert_eq!(items(&server, "blog-web", "first").await, "first");
    assert_eq!(items(&server, "blog-web", "second").await, "first,second");
    let (s, rows) = query(&server, "blogdb", "SELECT v FROM items ORDER BY v").await;
    assert_eq!(s, 200, "{rows}");
    assert_eq!(rows["rows"], json!([["first"], ["second"]]));
    for write in [
        "INSERT INTO items VALUES ('x')",
        "UPDATE items SET v = 'x'",
        "DELETE FROM items",
        "DROP TABLE items",
        "SET SESSION TRANSACTION READ WRITE; DELETE FROM items",
        "SELECT * FROM mysql.user",
        // The client's own commands are not read from the query.
        "system id",
        "\\! id",
        "tee /tmp/sh0-query-out",
    ] {
        let (s, body) = query(&server, "blogdb", write).await;
        assert_eq!(s, 422, "{write}: {body}");
    }
    assert_eq!(
        items(&server, "blog-web", "").await,
        "first,second",
        "the data is unchanged"
    );
    password_stays_secret(&server, "blogdb", &[&db]).await;
    server
        .must("database_delete", json!({"database": "blogdb", "confirm": "blogdb"}))
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_end_to_end() {
    let server = start().await;
    let db = database_and_app(&server, "cache", "cachedb", "redis", "cache-web", REDIS_ITEMS).await;
    assert_eq!(items(&server, "cache-web", "b").await, "b");
    assert_eq!(items(&server, "cache-web", "a").await, "a,b");
    let (s, rows) = query(&server, "cachedb", "SMEMBERS items").await;
    assert_eq!(s, 200, "{rows}");
    let mut got: Vec<String> = rows["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[0].as_str().unwrap().to_owned())
        .collect();
    got.sort();
    assert_eq!(got, vec!["a", "b"]);
    for write in [
        "SET k v",
        "DEL items",
        "FLUSHALL",
        "CONFIG SET requirepass x",
        "SREM items a",
    ] {
        let (s, body) = query(&server, "cachedb", write).await;
        assert_eq!(s, 422, "{write}: {body}");
    }
    let (s, body) = query(&server, "cachedb", "-h elsewhere GET k").await;
    assert_eq!(s, 400, "{body}");
    assert_eq!(items(&server, "cache-web", "").await, "a,b", "the data is unchanged");
    password_stays_secret(&server, "cachedb", &[&db]).await;
    // The server was made with its password in a file, not on its command line.
    let container = container_of(db["id"].as_str().unwrap());
    let top = Command::new("docker").args(["top", &container]).output().unwrap();
    assert!(String::from_utf8_lossy(&top.stdout).contains("redis-server"));
    server
        .must("database_delete", json!({"database": "cachedb", "confirm": "cachedb"}))
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_changes_nothing() {
    let server = start().await;
    server.must("project_create", json!({"name": "p1"})).await;
    for (args, want) in [
        (json!({"name": "Bad_Name", "project": "p1", "engine": "postgres"}), 400),
        (json!({"name": "x1", "project": "p1", "engine": "oracle"}), 400),
        (json!({"name": "x1", "project": "nope", "engine": "postgres"}), 404),
        (
            json!({"name": "x1", "project": "p1", "engine": "postgres", "version": "--rm"}),
            400,
        ),
        (
            json!({"name": "x1", "project": "p1", "engine": "postgres", "public_port": 80}),
            400,
        ),
    ] {
        let (s, body) = server.call("database_create", args.clone()).await;
        assert_eq!(s, want, "{args}: {body}");
    }
    // An image that is not here and cannot be pulled: a clear error, nothing left behind.
    let (s, body) = server
        .call(
            "database_create",
            json!({"name": "x1", "project": "p1", "engine": "mongo"}),
        )
        .await;
    assert_eq!(s, 422, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("--db-image mongo="),
        "{body}"
    );
    let list = server.must("database_list", json!({})).await;
    assert_eq!(list["databases"], json!([]));
    let volumes = Command::new("docker")
        .args(["ps", "-aq", "--filter", "name=sh0-db-x1-"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&volumes.stdout).trim(), "");
}
