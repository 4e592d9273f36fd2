//! The audit log is a hash chain: `audit_verify` finds an edited or deleted record, and an
//! intact log verifies, through REST and the CLI.

mod common;

use serde_json::{Value, json};

use common::Server;

async fn verify(server: &Server) -> Value {
    let (status, report) = server.call("audit_verify", json!({})).await;
    assert_eq!(status, 200, "{report}");
    report
}

#[tokio::test(flavor = "multi_thread")]
async fn edits_and_deletions_break_the_chain_where_they_happened() {
    let server = Server::start();
    for name in ["alpha", "beta", "gamma", "delta"] {
        let (status, body) = server.call("project_create", json!({ "name": name })).await;
        assert_eq!(status, 200, "{body}");
    }
    let report = verify(&server).await;
    assert_eq!(report["first_broken_seq"], Value::Null, "{report}");
    assert_eq!(report["unchained"], 0);
    assert!(report["records"].as_i64().unwrap() >= 4);
    assert_eq!(report["head_hash"].as_str().unwrap().len(), 64);

    let db = rusqlite::Connection::open(server.data_dir().join("sh0.db")).unwrap();
    let seq_of = |name: &str| -> i64 {
        db.query_row(
            "SELECT seq FROM audit WHERE tool = 'project_create' AND args LIKE ?1",
            [format!("%\"{name}\"%")],
            |r| r.get(0),
        )
        .unwrap()
    };

    // An edited record breaks the chain at that record; putting it back mends it.
    let beta = seq_of("beta");
    let original: String = db
        .query_row("SELECT args FROM audit WHERE seq = ?1", [beta], |r| r.get(0))
        .unwrap();
    db.execute(
        "UPDATE audit SET args = '{\"name\":\"mallory\"}' WHERE seq = ?1",
        [beta],
    )
    .unwrap();
    assert_eq!(verify(&server).await["first_broken_seq"], beta);
    db.execute(
        "UPDATE audit SET args = ?1 WHERE seq = ?2",
        rusqlite::params![original, beta],
    )
    .unwrap();
    assert_eq!(verify(&server).await["first_broken_seq"], Value::Null);

    // A deleted record breaks the chain at the record after it.
    let gamma = seq_of("gamma");
    let delta = seq_of("delta");
    db.execute("DELETE FROM audit WHERE seq = ?1", [gamma]).unwrap();
    assert_eq!(verify(&server).await["first_broken_seq"], delta);

    // The CLI says the same.
    let (code, out, err) = server.cli(&["audit", "verify", "--json"]);
    assert_eq!(code, 0, "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["first_broken_seq"], delta);
}
