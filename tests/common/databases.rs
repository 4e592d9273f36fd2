//! Database servers for tests: images made from the distribution's packages by
//! `tests/db-images/build` (once per machine, rebuilt when their folder changes), and app
//! contexts that read and write a database through `DATABASE_URL` with the engine's own
//! client, served by busybox httpd as CGI.

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use serde_json::{Value, json};

use super::Server;
use super::docker::{require_docker, targz};

/// Builds the test images of every engine (postgres, mariadb, redis) once per test binary.
pub fn require_db_images() {
    static READY: OnceLock<()> = OnceLock::new();
    READY.get_or_init(|| {
        require_docker();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/db-images/build");
        let out = Command::new("bash")
            .arg(script)
            .output()
            .expect("running tests/db-images/build");
        assert!(
            out.status.success(),
            "building the database test images failed (needs debootstrap and the Debian archive): {}",
            String::from_utf8_lossy(&out.stderr)
        );
    });
}

/// `--db-image` flags pointing every tested engine at its local image.
pub const DB_IMAGE_FLAGS: &[&str] = &[
    "--db-image",
    "postgres=sh0-test/postgres:latest",
    "--db-image",
    "mariadb=sh0-test/mariadb:latest",
    "--db-image",
    "mysql=sh0-test/mariadb:latest",
    "--db-image",
    "redis=sh0-test/redis:latest",
];

/// An app built `FROM` the engine's image (for its client), serving `/cgi-bin/items`:
/// `?add=<word>` stores a word, and every call prints the stored words, comma-separated.
pub fn items_app(image: &str, script_body: &str) -> Vec<(String, Vec<u8>, u32)> {
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("busybox-static");
    let script = format!(
        "#!/bin/sh\necho 'Content-Type: text/plain'\necho\n[ -n \"$DATABASE_URL\" ] || {{ echo 'no database'; exit 0; }}\n\
         word=''\ncase \"$QUERY_STRING\" in add=*) word=\"${{QUERY_STRING#add=}}\" ;; esac\n{script_body}"
    );
    vec![
        (
            "Dockerfile".into(),
            format!(
                "FROM {image}\nCOPY busybox /bin/busybox\nCOPY www /www\n\
                 CMD [\"/bin/busybox\", \"httpd\", \"-f\", \"-p\", \"8080\", \"-h\", \"/www\"]\n"
            )
            .into_bytes(),
            0o644,
        ),
        ("busybox".into(), std::fs::read(busybox).unwrap(), 0o755),
        ("www/index.html".into(), b"items app\n".to_vec(), 0o644),
        ("www/cgi-bin/items".into(), script.into_bytes(), 0o755),
    ]
}

/// The CGI body of each engine's items app.
pub const PG_ITEMS: &str = "psql \"$DATABASE_URL\" -qtA -c 'CREATE TABLE IF NOT EXISTS items (v text)' >/dev/null\n\
[ -z \"$word\" ] || psql \"$DATABASE_URL\" -qtA -c \"INSERT INTO items VALUES ('$word')\" >/dev/null\n\
psql \"$DATABASE_URL\" -qtA -c \"SELECT string_agg(v, ',' ORDER BY v) FROM items\"\n";

pub const MARIADB_ITEMS: &str = "rest=\"${DATABASE_URL#mysql://}\"; creds=\"${rest%%@*}\"; hostpart=\"${rest#*@}\"\n\
export MYSQL_PWD=\"${creds#*:}\"\n\
q() { mariadb -h \"${hostpart%%:*}\" -u \"${creds%%:*}\" -N -B \"${hostpart#*/}\" -e \"$1\"; }\n\
q 'CREATE TABLE IF NOT EXISTS items (v varchar(100))'\n\
[ -z \"$word\" ] || q \"INSERT INTO items VALUES ('$word')\"\n\
q \"SELECT GROUP_CONCAT(v ORDER BY v) FROM items\"\n";

pub const REDIS_ITEMS: &str = "[ -z \"$word\" ] || redis-cli --no-auth-warning -u \"$DATABASE_URL\" SADD items \"$word\" >/dev/null\n\
redis-cli --no-auth-warning -u \"$DATABASE_URL\" SORT items ALPHA | paste -sd, -\n";

/// Creates `db` of `engine` in project `project` and app `app` serving the items script,
/// linked to it with a redeploy; returns the database record.
pub async fn database_and_app(
    server: &Server,
    project: &str,
    db: &str,
    engine: &str,
    app: &str,
    script: &str,
) -> Value {
    server.must("project_create", json!({"name": project})).await;
    let created = server
        .must(
            "database_create",
            json!({"name": db, "project": project, "engine": engine}),
        )
        .await;
    assert_eq!(created["status"], "running", "{created}");
    assert_eq!(created["public"], false);
    server
        .must("app_create", json!({"name": app, "project": project, "port": 8080}))
        .await;
    let image = format!(
        "sh0-test/{}:latest",
        if engine == "postgres" { "postgres" } else { engine }
    );
    let (status, body) = server.upload(Some(app), app, targz(&items_app(&image, script))).await;
    assert!(status < 300, "{body}");
    let dep = server.wait_deployment(body["deployment_id"].as_str().unwrap()).await;
    assert_eq!(dep["status"], "running", "{dep}");
    assert_eq!(items(server, app, "").await, "no database");
    let linked = server
        .must("database_link", json!({"database": db, "app": app, "redeploy": true}))
        .await;
    assert_eq!(linked["key"], "DATABASE_URL");
    let dep = server
        .wait_deployment(linked["deployment"]["deployment_id"].as_str().unwrap())
        .await;
    assert_eq!(dep["status"], "running", "{dep}");
    created
}

pub async fn items(server: &Server, app: &str, add: &str) -> String {
    let path = if add.is_empty() {
        "/cgi-bin/items".to_owned()
    } else {
        format!("/cgi-bin/items?add={add}")
    };
    let (status, body) = server.via_proxy(app, &path).await.unwrap();
    assert_eq!(status, 200, "{body}");
    body.trim().to_owned()
}

/// The container of the database with this id.
pub fn container_of(db_id: &str) -> String {
    let out = Command::new("docker")
        .args(["ps", "-aq", "--filter", &format!("label=sh0.database={db_id}")])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}
