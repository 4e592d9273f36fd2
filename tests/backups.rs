//! Backups against real database servers: a dump streamed through compression and
//! encryption to the `local` destination and to an S3-compatible server (moto), verified
//! by restoring it into a throw-away server, restored over dropped data and into a new
//! database; a flipped byte refused before anything is restored; a dump that fails
//! recorded as failed with nothing stored; a stop during a backup; Redis's snapshot
//! loaded in place and still there after a restart.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use common::databases::{
    DB_IMAGE_FLAGS, MARIADB_ITEMS, PG_ITEMS, REDIS_ITEMS, container_of, database_and_app, items, require_db_images,
};
use common::{Server, free_port, python};

async fn start() -> Server {
    require_db_images();
    Server::start_with(DB_IMAGE_FLAGS)
}

fn exec(container: &str, args: &[&str]) {
    let out = Command::new("docker")
        .arg("exec")
        .arg(container)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn backup(server: &Server, args: Value) -> Value {
    let mut args = args;
    args["wait"] = json!(true);
    server.must("backup_create", args).await
}

/// Inserts rows into `busy`, each its own transaction, from one psql session, until
/// stopped.
struct Writer {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<u64>,
}

impl Writer {
    fn start(container: &str) -> Self {
        use std::io::Write;
        use std::sync::atomic::Ordering;
        let mut child = Command::new("docker")
            .args([
                "exec", "-i", container, "psql", "-q", "-U", "ledgerdb", "-d", "ledgerdb",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut input = child.stdin.take().unwrap();
            let mut n = 0;
            while !flag.load(Ordering::Relaxed) {
                writeln!(input, "INSERT INTO busy VALUES ({n});").unwrap();
                input.flush().unwrap();
                n += 1;
                std::thread::sleep(Duration::from_millis(5));
            }
            drop(input);
            assert!(child.wait().unwrap().success());
            n
        });
        Self { stop, thread }
    }

    fn stop(self) -> u64 {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.join().unwrap()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_backup_verify_drop_restore() {
    let server = start().await;
    let db = database_and_app(&server, "ledger", "ledgerdb", "postgres", "ledger-web", PG_ITEMS).await;
    for w in ["apple", "pear", "fig"] {
        items(&server, "ledger-web", w).await;
    }
    // A writer commits a row every few milliseconds all through the backup: the census
    // and the dump share one snapshot, so what it adds meanwhile never makes the backup
    // look damaged.
    let container = container_of(db["id"].as_str().unwrap());
    exec(
        &container,
        &[
            "psql",
            "-U",
            "ledgerdb",
            "-d",
            "ledgerdb",
            "-c",
            "CREATE TABLE busy (n int)",
        ],
    );
    let writer = Writer::start(&container);
    let b = backup(&server, json!({"database": "ledgerdb"})).await;
    let written = writer.stop();
    assert!(written > 20, "the writer ran through the backup ({written} rows)");
    assert_eq!(b["status"], "verified", "{b}");
    assert_eq!(b["verified"], true);
    assert_eq!(b["counts"]["public.items"], 3, "{b}");
    assert!(b["counts"]["public.busy"].as_u64().unwrap() > 0, "{b}");
    assert!(b["size_bytes"].as_u64().unwrap() > 100);
    let id = b["id"].as_str().unwrap().to_owned();

    // The file is encrypted: none of the data is readable in it.
    let file = server.data_dir().join("backups").join(b["path"].as_str().unwrap());
    let bytes = std::fs::read(&file).unwrap();
    assert!(bytes.starts_with(b"SH0BKP01"));
    assert!(!bytes.windows(4).any(|w| w == b"pear"));

    // Drop the data, restore, read it back through the app.
    exec(
        &container,
        &["psql", "-U", "ledgerdb", "-d", "ledgerdb", "-c", "DROP TABLE items"],
    );
    let (s, body) = server.call("backup_restore", json!({"backup": id})).await;
    assert!(s >= 400, "a restore needs confirmation: {body}");
    server
        .must("backup_restore", json!({"backup": id, "confirm": "ledgerdb"}))
        .await;
    assert_eq!(items(&server, "ledger-web", "").await, "apple,fig,pear");

    // Into a new database of the same project.
    let r = server
        .must(
            "backup_restore",
            json!({"backup": id, "new_database": "ledger-copy", "confirm": "ledger-copy"}),
        )
        .await;
    assert_eq!(r["database"], "ledger-copy");
    let rows = server
        .must(
            "database_query",
            json!({"database": "ledger-copy", "query": "SELECT count(*) FROM items"}),
        )
        .await;
    assert_eq!(rows["rows"], json!([["3"]]));

    // One flipped byte: refused before anything is restored, and said so.
    items(&server, "ledger-web", "kiwi").await;
    let mut bad = bytes.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x20;
    std::fs::write(&file, &bad).unwrap();
    let (s, body) = server
        .call("backup_restore", json!({"backup": id, "confirm": "ledgerdb"}))
        .await;
    assert_eq!(s, 503, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("failed authentication"),
        "{body}"
    );
    assert_eq!(
        items(&server, "ledger-web", "").await,
        "apple,fig,kiwi,pear",
        "nothing was restored"
    );

    let list = server.must("backup_list", json!({"database": "ledgerdb"})).await;
    assert_eq!(list["backups"].as_array().unwrap().len(), 1);
    let (s, _) = server.call("backup_delete", json!({"backup": id})).await;
    assert!(s >= 400);
    server.must("backup_delete", json!({"backup": id, "confirm": id})).await;
    assert!(!file.exists());
}

/// `redis-cli` in the database's container (its environment holds the password).
fn redis(container: &str, words: &[&str]) -> String {
    let out = Command::new("docker")
        .args(["exec", container, "redis-cli", "--no-auth-warning"])
        .args(words)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{words:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_snapshot_verify_flush_restore() {
    let server = start().await;
    let db = database_and_app(&server, "kv", "kvdb", "redis", "kv-web", REDIS_ITEMS).await;
    for w in ["x", "y", "z"] {
        items(&server, "kv-web", w).await;
    }
    let container = container_of(db["id"].as_str().unwrap());
    redis(&container, &["SET", "plain", "1"]);
    redis(&container, &["SET", "brief", "1", "EX", "3600"]);
    let b = backup(&server, json!({"database": "kvdb"})).await;
    assert_eq!(b["status"], "verified", "{b}");
    // Keys without an expiry are counted (those with one may expire before the check).
    assert_eq!(b["counts"], json!({"db0": 2}));
    let id = b["id"].as_str().unwrap().to_owned();

    // Everything goes; the restore brings back every key, its expiry with it.
    assert_eq!(redis(&container, &["FLUSHALL"]), "OK");
    assert_eq!(items(&server, "kv-web", "").await, "");
    server
        .must("backup_restore", json!({"backup": id, "confirm": "kvdb"}))
        .await;
    assert_eq!(items(&server, "kv-web", "").await, "x,y,z");
    let ttl: i64 = redis(&container, &["TTL", "brief"]).parse().unwrap();
    assert!(ttl > 0 && ttl <= 3600, "{ttl}");
    // The received snapshot became the server's: none is left beside it.
    exec(&container, &["test", "!", "-e", "/data/sh0-restore.rdb"]);

    // The append-only file was rewritten from the restored data: a restart keeps it.
    server.must("database_restart", json!({"database": "kvdb"})).await;
    assert_eq!(items(&server, "kv-web", "").await, "x,y,z");
    assert_eq!(redis(&container, &["DBSIZE"]), "3");

    // Into a new database of the project.
    server
        .must(
            "backup_restore",
            json!({"backup": id, "new_database": "kv-copy", "confirm": "kv-copy"}),
        )
        .await;
    let rows = server
        .must("database_query", json!({"database": "kv-copy", "query": "SCARD items"}))
        .await;
    assert_eq!(rows["rows"], json!([["3"]]), "{rows}");
}

#[tokio::test(flavor = "multi_thread")]
async fn mariadb_backup_and_a_dump_that_fails() {
    let server = start().await;
    let db = database_and_app(&server, "shop2", "shop2db", "mariadb", "shop2-web", MARIADB_ITEMS).await;
    for w in ["one", "two"] {
        items(&server, "shop2-web", w).await;
    }
    let b = backup(&server, json!({"database": "shop2db"})).await;
    assert_eq!(b["status"], "verified", "{b}");
    assert_eq!(b["counts"], json!({"items": 2}));
    let container = container_of(db["id"].as_str().unwrap());
    let pw = server
        .must("database_credentials", json!({"database": "shop2db"}))
        .await["password"]
        .as_str()
        .unwrap()
        .to_owned();
    let sql = |q: &str| {
        let out = Command::new("docker")
            .args([
                "exec",
                "-e",
                &format!("MYSQL_PWD={pw}"),
                &container,
                "mariadb",
                "-uroot",
                "shop2db",
                "-e",
                q,
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{q}: {}", String::from_utf8_lossy(&out.stderr));
    };
    sql("DELETE FROM items");
    assert_eq!(items(&server, "shop2-web", "").await, "NULL");
    server
        .must("backup_restore", json!({"backup": b["id"], "confirm": "shop2db"}))
        .await;
    assert_eq!(items(&server, "shop2-web", "").await, "one,two");

    // A view over a table that is gone makes the dump tool exit non-zero: the backup is
    // failed with its reason, and nothing is stored.
    sql("CREATE TABLE doomed (x int)");
    sql("CREATE VIEW broken AS SELECT x FROM doomed");
    sql("DROP TABLE doomed");
    let failed = backup(&server, json!({"database": "shop2db"})).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert!(
        failed["reason"].as_str().unwrap().contains("the dump exited with code"),
        "{failed}"
    );
    let dir = server.data_dir().join("backups").join("shop2db");
    let stored: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(stored.len(), 1, "only the good backup is stored: {stored:?}");
    let list = server.must("backup_list", json!({"database": "shop2db"})).await;
    assert_eq!(list["backups"][0]["status"], "failed");
    assert_eq!(list["backups"][0]["verified"], false);
    let audit = server.must("audit_list", json!({"limit": 50})).await;
    assert!(audit.to_string().contains("backup_create"));
}

/// moto's S3 server on a loopback port.
struct Moto(Child, u16);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn moto() -> Moto {
    let port = free_port();
    let bin = python().parent().unwrap().join("moto_server");
    let mut moto = Moto(
        Command::new(bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server (pip install 'moto[server]'; .ci/test does)"),
        port,
    );
    for _ in 0..100 {
        if reqwest::get(format!("http://127.0.0.1:{port}/")).await.is_ok() {
            return moto;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = moto.0.kill();
    panic!("moto_server did not start");
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_destination_with_a_local_s3_server() {
    let s3 = moto().await;
    let endpoint = format!("http://127.0.0.1:{}", s3.1);
    let made = reqwest::Client::new()
        .put(format!("{endpoint}/sh0-backups"))
        .send()
        .await
        .unwrap();
    assert!(made.status().is_success(), "{}", made.status());
    let server = start().await;
    let dest = |name: &str, endpoint: &str, bucket: &str| {
        json!({"name": name, "kind": "s3", "endpoint": endpoint, "bucket": bucket, "region": "us-east-1",
               "access_key_id": "AKIDTEST", "secret_access_key": "s3cr3t-key-never-shown", "prefix": "prod"})
    };
    // Unreachable, or no such bucket: refused with the reason, nothing saved.
    let (s, body) = server
        .call(
            "backup_destination_add",
            dest("offline", "http://127.0.0.1:9", "sh0-backups"),
        )
        .await;
    assert_eq!(s, 422, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("destination `offline`"),
        "{body}"
    );
    let (s, body) = server
        .call("backup_destination_add", dest("nobucket", &endpoint, "no-such-bucket"))
        .await;
    assert_eq!(s, 422, "{body}");
    let escape = json!({"name": "up", "kind": "local", "path": "/tmp", "prefix": "../etc"});
    let (s, body) = server.call("backup_destination_add", escape).await;
    assert_eq!(s, 400, "a prefix never leaves its directory: {body}");
    let (s, body) = server
        .call(
            "backup_destination_add",
            json!({"name": "sys", "kind": "local", "path": "/etc"}),
        )
        .await;
    assert_eq!(s, 400, "{body}");
    let added = server
        .must("backup_destination_add", dest("offsite", &endpoint, "sh0-backups"))
        .await;
    assert!(!added.to_string().contains("s3cr3t"), "{added}");
    let list = server.must("backup_destination_list", json!({})).await;
    let names: Vec<&str> = list["destinations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["local", "offsite"]);
    assert!(!list.to_string().contains("s3cr3t"));
    server
        .must("backup_destination_test", json!({"destination": "offsite"}))
        .await;

    let db = database_and_app(&server, "s3p", "s3db", "postgres", "s3-web", PG_ITEMS).await;
    items(&server, "s3-web", "cloud").await;
    let b = backup(&server, json!({"database": "s3db", "destination": "offsite"})).await;
    assert_eq!(b["status"], "verified", "{b}");
    assert_eq!(b["destination"], "offsite");
    let listing = reqwest::get(format!("{endpoint}/sh0-backups?list-type=2&prefix=prod/"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        listing.contains(&format!("<Key>prod/{}</Key>", b["path"].as_str().unwrap())),
        "the object is in the bucket under the prefix: {listing}"
    );
    let container = container_of(db["id"].as_str().unwrap());
    exec(
        &container,
        &["psql", "-U", "s3db", "-d", "s3db", "-c", "DELETE FROM items"],
    );
    server
        .must("backup_restore", json!({"backup": b["id"], "confirm": "s3db"}))
        .await;
    assert_eq!(items(&server, "s3-web", "").await, "cloud");

    // The destination goes away: the next backup fails with the reason, never `verified`.
    drop(s3);
    let failed = backup(&server, json!({"database": "s3db", "destination": "offsite"})).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert!(failed["reason"].as_str().unwrap().contains("offsite"), "{failed}");
    let (s, _) = server
        .call(
            "backup_destination_remove",
            json!({"destination": "offsite", "confirm": "offsite"}),
        )
        .await;
    assert_eq!(s, 409, "a destination holding a backup is not removed");
    assert!(!server.log().contains("s3cr3t-key-never-shown"));
}

fn verify_servers_of(backup: &str) -> String {
    let out = Command::new("docker")
        .args(["ps", "-aq", "--filter", &format!("label=sh0.verify={backup}")])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stop_mid_backup_then_a_schedule_that_keeps_the_last_two() {
    let mut server = start().await;
    server.must("project_create", json!({"name": "sched"})).await;
    server
        .must(
            "database_create",
            json!({"name": "nightly", "project": "sched", "engine": "postgres"}),
        )
        .await;

    // kill -9 while a backup runs: at the next start it is failed with the reason, its
    // throw-away server is gone, and system_info says the latest backup is not verified.
    let b = server.must("backup_create", json!({"database": "nightly"})).await;
    assert_eq!(b["status"], "running", "{b}");
    let id = b["id"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.restart();
    let got = server.must("backup_get", json!({"backup": id})).await;
    assert!(got["status"] == "failed" || got["status"] == "unverified", "{got}");
    assert!(got["reason"].as_str().unwrap().contains("sh0 stopped"), "{got}");
    assert_eq!(verify_servers_of(&id), "", "no throw-away server is left");
    let info = server.must("system_info", json!({})).await;
    assert_eq!(info["backup_problems"][0]["database"], "nightly", "{info}");
    let db = server.must("database_get", json!({"database": "nightly"})).await;
    assert_eq!(db["latest_backup"]["verified"], false);

    // Every two seconds, keeping the last two verified backups; a schedule runs as the
    // user who set it.
    let owner = common::accounts::setup_owner(&server, "owner@example.com").await;
    let (s, set) = owner
        .call(
            &server,
            "backup_schedule_set",
            json!({"database": "nightly", "cron": "*/2 * * * * *", "keep_last": 2}),
            true,
        )
        .await;
    assert_eq!(s, 200, "{set}");
    assert_eq!(set["schedule"], "backup-nightly");
    let started = std::time::Instant::now();
    let verified_runs = || async {
        let audit = server
            .must("audit_list", json!({"limit": 500, "tool": "backup_result"}))
            .await;
        audit["records"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["outcome"] == "ok")
            .count()
    };
    while verified_runs().await < 4 {
        assert!(
            started.elapsed() < Duration::from_secs(240),
            "the schedule did not make four backups"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let (s, body) = owner
        .call(
            &server,
            "backup_schedule_set",
            json!({"database": "nightly", "cron": "*/2 * * * * *", "keep_last": 2, "enabled": false}),
            true,
        )
        .await;
    assert_eq!(s, 200, "{body}");
    // Let a run in flight end, then look.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let list = server.must("backup_list", json!({"database": "nightly"})).await;
    let verified: Vec<&Value> = list["backups"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["status"] == "verified")
        .collect();
    assert_eq!(verified.len(), 2, "{list}");
    assert!(verified.iter().all(|b| b["trigger"] == "schedule"), "{list}");
    for b in &verified {
        let file = server.data_dir().join("backups").join(b["path"].as_str().unwrap());
        assert!(file.exists());
    }
    // On disk: exactly the files of the backups still listed (the two verified ones, and
    // the one the stop interrupted if it got as far as verifying); pruned ones are gone.
    let mut on_disk: Vec<String> = std::fs::read_dir(server.data_dir().join("backups/nightly"))
        .unwrap()
        .map(|e| format!("nightly/{}", e.unwrap().file_name().to_string_lossy()))
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = list["backups"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["status"] != "failed")
        .map(|b| b["path"].as_str().unwrap().to_owned())
        .collect();
    listed.sort();
    assert_eq!(on_disk, listed, "pruned backups' files are gone");
    let info = server.must("system_info", json!({})).await;
    assert_eq!(info["backup_problems"], json!([]), "{info}");

    // Deleting the database keeps its backups by default; one restores into a new database.
    let gone = server
        .must("database_delete", json!({"database": "nightly", "confirm": "nightly"}))
        .await;
    assert_eq!(
        gone["backups_kept"].as_u64().unwrap(),
        list["backups"].as_array().unwrap().len() as u64
    );
    let newest = verified[0]["id"].as_str().unwrap();
    let (s, body) = server
        .call("backup_restore", json!({"backup": newest, "confirm": "nightly"}))
        .await;
    assert_eq!(s, 404, "its database is gone: {body}");
    server
        .must(
            "backup_restore",
            json!({"backup": newest, "new_database": "nightly-again", "confirm": "nightly-again"}),
        )
        .await;
    let back = server.must("database_get", json!({"database": "nightly-again"})).await;
    assert_eq!(back["status"], "running");
}

/// The `mysql` engine is the MySQL family's code path with `mysql` and `mysqldump`; here it
/// runs on the MariaDB image (`--db-image mysql=...`), which carries both tools.
#[tokio::test(flavor = "multi_thread")]
async fn mysql_engine_queries_and_backs_up() {
    let server = start().await;
    server.must("project_create", json!({"name": "my"})).await;
    let db = server
        .must(
            "database_create",
            json!({"name": "mydb", "project": "my", "engine": "mysql"}),
        )
        .await;
    assert_eq!(db["url_without_password"], "mysql://mydb@mydb:3306/mydb");
    let pw = server.must("database_credentials", json!({"database": "mydb"})).await["password"]
        .as_str()
        .unwrap()
        .to_owned();
    let container = container_of(db["id"].as_str().unwrap());
    let out = Command::new("docker")
        .args([
            "exec",
            "-e",
            &format!("MYSQL_PWD={pw}"),
            &container,
            "mysql",
            "-umydb",
            "mydb",
            "-e",
        ])
        .arg("CREATE TABLE t (v int); INSERT INTO t VALUES (1), (2), (3);")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rows = server
        .must(
            "database_query",
            json!({"database": "mydb", "query": "SELECT SUM(v) AS total FROM t"}),
        )
        .await;
    assert_eq!(rows["rows"], json!([["6"]]));
    let (s, body) = server
        .call("database_query", json!({"database": "mydb", "query": "DELETE FROM t"}))
        .await;
    assert_eq!(s, 422, "{body}");
    let b = backup(&server, json!({"database": "mydb"})).await;
    assert_eq!(b["status"], "verified", "{b}");
    assert_eq!(b["counts"], json!({"t": 3}));
}
