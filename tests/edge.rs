//! The edge end to end: certificates issued by a real ACME server (Pebble) over HTTP-01
//! for an app's domains, served over HTTPS with HTTP/2, HTTP redirected, renewal on demand,
//! and a restart that keeps the certificate without a new order; uploaded certificates
//! validated before anything is stored; domain tools refusing bad input.

mod common;

use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use x509_parser::prelude::{FromDer, X509Certificate};

use common::Server;
use common::certs::TestCa;
use common::docker::{require_docker, targz, web_context};
use common::pebble::Pebble;

/// An HTTPS client that trusts only `root` and sends `host` to the proxy's HTTPS port.
fn https_client(server: &Server, root: &str, hosts: &[&str]) -> reqwest::Client {
    let addr: SocketAddr = format!("127.0.0.1:{}", server.https_port).parse().unwrap();
    let mut builder = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(root.as_bytes()).unwrap()])
        .tls_info(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10));
    for h in hosts {
        builder = builder.resolve(h, addr);
    }
    builder.build().unwrap()
}

/// A plain HTTP request for `host` to the proxy, redirects not followed.
async fn plain_get(server: &Server, host: &str, path: &str) -> reqwest::Response {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
        .get(format!("http://127.0.0.1:{}{path}", server.http_port))
        .header("host", host)
        .send()
        .await
        .expect("plain HTTP request to the proxy")
}

/// The serial number (hex, as sh0 reports it) and issuer of the certificate the server presented.
fn peer_cert(resp: &reqwest::Response) -> (String, String) {
    let info = resp.extensions().get::<reqwest::tls::TlsInfo>().expect("TLS info");
    let der = info.peer_certificate().expect("a peer certificate");
    let (_, cert) = X509Certificate::from_der(der).unwrap();
    (cert.raw_serial_as_string(), cert.issuer().to_string())
}

fn domain<'a>(list: &'a Value, name: &str) -> &'a Value {
    list["domains"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["domain"] == name)
        .unwrap_or_else(|| panic!("{name} not in {list}"))
}

async fn wait_https(server: &Server, names: &[&str], pebble: &Pebble) -> Value {
    let started = Instant::now();
    loop {
        let (status, list) = server.call("domain_list", json!({})).await;
        assert_eq!(status, 200, "{list}");
        if names.iter().all(|n| domain(&list, n)["https"] == true) {
            return list;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "no certificate in time: {list}\n--- server log ---\n{}\n--- pebble ---\n{}",
            server.log(),
            pebble.log()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn acme_issues_serves_renews_and_survives_restart() {
    require_docker();
    // Pebble validates on the proxy's HTTP port, so the server picks its ports first and
    // learns the directory URL from a Pebble started right after it.
    let acme_port = common::free_port();
    let dir = tempfile::tempdir().unwrap();
    let root_path = dir.path().join("pebble-https-root.pem");
    let directory = format!("https://127.0.0.1:{acme_port}/dir");
    let mut server = Server::start_with(&[
        "--acme-directory",
        &directory,
        "--acme-ca-root",
        root_path.to_str().unwrap(),
        "--acme-email",
        "ops@example.test",
        "--panel-domain",
        "panel.example.test",
    ]);
    let mut pebble = Pebble::start_on(server.http_port, acme_port);
    std::fs::copy(&pebble.https_root, &root_path).unwrap();

    let (status, created) = server.upload(None, "web", targz(&web_context("served over tls"))).await;
    assert_eq!(status, 201, "{created}");
    let dep = server.wait_deployment(created["deployment_id"].as_str().unwrap()).await;
    assert_eq!(dep["status"], "running", "{dep}");

    let (status, added) = server
        .call(
            "domain_add",
            json!({"app": "web", "domain": "web.example.test", "www_redirect": true}),
        )
        .await;
    assert_eq!(status, 200, "{added}");
    assert_eq!(added["domains"].as_array().unwrap().len(), 2, "{added}");
    assert_eq!(
        domain(&added, "www.web.example.test")["redirect_to"],
        "web.example.test"
    );

    let list = wait_https(&server, &["web.example.test", "www.web.example.test"], &pebble).await;
    let web = domain(&list, "web.example.test");
    assert_eq!(web["acme"]["state"], "valid", "{web}");
    assert_eq!(web["acme"]["orders"], 1, "{web}");
    assert_eq!(web["certificate"]["source"], "acme");
    assert_eq!(web["url"], format!("https://web.example.test:{}", server.https_port));

    // HTTPS with only Pebble's root trusted: the app answers, over HTTP/2 (ALPN).
    let root = pebble.issuing_root().await;
    let client = https_client(&server, &root, &["web.example.test", "www.web.example.test"]);
    let url = format!("https://web.example.test:{}/", server.https_port);
    let resp = client.get(&url).send().await.expect("HTTPS request");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    let (first_serial, issuer) = peer_cert(&resp);
    assert!(issuer.contains("Pebble"), "issuer {issuer}");
    assert!(resp.text().await.unwrap().contains("served over tls"));
    // The app sees the original scheme.
    let headers = client
        .get(format!("{url}cgi-bin/headers"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(headers.contains("proto=https"), "{headers}");

    // Plain HTTP redirects to HTTPS, keeping path and query; www redirects to the apex.
    let resp = plain_get(&server, "web.example.test", "/a/b?c=1").await;
    assert_eq!(resp.status(), 308);
    assert_eq!(
        resp.headers()["location"],
        format!("https://web.example.test:{}/a/b?c=1", server.https_port).as_str()
    );
    let resp = client
        .get(format!("https://www.web.example.test:{}/x", server.https_port))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 308);
    assert_eq!(resp.headers()["location"], format!("{url}x").as_str());

    // The panel's own domain: its first order ran at start, before this test started
    // Pebble, and is backing off; renewing it now orders at once. It then serves the API.
    let (status, panel_cert) = server.call("cert_renew", json!({"domain": "panel.example.test"})).await;
    assert_eq!(status, 200, "{panel_cert}");
    let (_, certs) = server.call("cert_list", json!({})).await;
    let certs = certs["certificates"].as_array().unwrap().clone();
    assert_eq!(certs.len(), 3, "{certs:?}");
    let panel = https_client(&server, &root, &["panel.example.test"]);
    let resp = panel
        .get(format!(
            "https://panel.example.test:{}/api/v1/system",
            server.https_port
        ))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let system: Value = resp.json().await.unwrap();
    assert_eq!(
        system["edge"]["panel_url"],
        format!("https://panel.example.test:{}", server.https_port)
    );
    assert!(
        certs
            .iter()
            .all(|c| c["source"] == "acme" && c["issuer"].as_str().unwrap().contains("Pebble"))
    );

    // The orders the maintenance loop placed went through dispatch as sh0's system
    // principal — audited as such — and each ran as a certificate-order job with its log;
    // the one placed on demand names the key that asked.
    let (_, audit) = server.call("audit_list", json!({"tool": "cert_renew"})).await;
    let entries = audit["records"].as_array().unwrap();
    assert!(
        entries.iter().any(|e| e["principal"] == "system:certificate_renewal"
            && e["adapter"] == "system"
            && e["outcome"] == "ok"),
        "{audit}"
    );
    let jobs = server.must("job_list", json!({"target": "web.example.test"})).await;
    let order = jobs["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["status"] == "succeeded")
        .unwrap_or_else(|| panic!("{jobs}"));
    assert_eq!(order["kind"], "certificate_order");
    assert_eq!(order["principal"], "system:certificate_renewal");
    let log = server.must("job_get", json!({"job": order["id"]})).await;
    assert!(
        log["log"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l.as_str().unwrap().starts_with("issued")),
        "{log}"
    );
    let panel_jobs = server.must("job_list", json!({"target": "panel.example.test"})).await;
    assert!(
        panel_jobs["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|j| j["principal"].as_str().unwrap().starts_with("key:")),
        "{panel_jobs}"
    );

    // Renewal on demand: a new order, a new certificate served at once.
    let (status, renewed) = server.call("cert_renew", json!({"domain": "web.example.test"})).await;
    assert_eq!(status, 200, "{renewed}\n{}", server.log());
    let renewed_serial = renewed["serial"].as_str().unwrap().to_owned();
    assert_ne!(renewed_serial.replace(':', ""), first_serial.replace(':', ""));
    let client = https_client(&server, &root, &["web.example.test"]);
    let resp = client.get(&url).send().await.unwrap();
    assert_eq!(peer_cert(&resp).0, renewed_serial);

    // A restart, with the CA gone: the certificate is served from the store, no new order.
    pebble.stop();
    server.restart();
    let client = https_client(&server, &root, &["web.example.test"]);
    let resp = client.get(&url).send().await.expect("HTTPS after restart");
    assert_eq!(resp.status(), 200);
    assert_eq!(peer_cert(&resp).0, renewed_serial);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (_, list) = server.call("domain_list", json!({})).await;
    let web = domain(&list, "web.example.test");
    assert_eq!(web["acme"]["state"], "valid", "{web}");
    assert_eq!(web["acme"]["orders"], 2, "{web}");

    // Traffic was counted per app, by status class.
    let (_, traffic) = server.call("app_traffic", json!({"app": "web"})).await;
    assert!(traffic["apps"][0]["requests"].as_u64().unwrap() >= 1, "{traffic}");
    assert!(traffic["apps"][0]["status"]["2xx"].as_u64().unwrap() >= 1, "{traffic}");
}

#[tokio::test(flavor = "multi_thread")]
async fn uploaded_certificates_are_validated_and_served() {
    let server = Server::start_with(&["--no-acme"]);
    server.seed_app("shop", "shop").await;
    let (status, body) = server
        .call("domain_add", json!({"app": "shop", "domain": "shop.example.test"}))
        .await;
    assert_eq!(status, 200, "{body}");

    let ca = TestCa::new("sh0 test CA");
    let good = ca.leaf(&["shop.example.test"]);
    let other = ca.leaf(&["other.example.test"]);
    let now = time::OffsetDateTime::now_utc();
    let expired = ca.leaf_between(
        &["shop.example.test"],
        now - time::Duration::days(100),
        now - time::Duration::days(10),
    );
    let upload =
        |cert: &str, key: &str| json!({"domain": "shop.example.test", "certificate_pem": cert, "private_key_pem": key});
    let cases = [
        ("wrong key", upload(&good.cert_pem, &other.key_pem), "does not match"),
        ("expired", upload(&expired.cert_pem, &expired.key_pem), "expired on"),
        (
            "wrong name",
            upload(&other.cert_pem, &other.key_pem),
            "does not cover shop.example.test",
        ),
        ("not PEM", upload("hello", &good.key_pem), "no PEM"),
        ("key not PEM", upload(&good.cert_pem, "not a key"), "private key is not"),
    ];
    for (what, args, message) in cases {
        let (status, body) = server.call("cert_upload", args).await;
        assert_eq!(status, 400, "{what}: {body}");
        let text = body["error"]["message"].as_str().unwrap();
        assert!(text.contains(message), "{what}: {text}");
    }
    let (_, certs) = server.call("cert_list", json!({})).await;
    assert_eq!(certs["certificates"], json!([]), "a refused upload stored something");

    let (status, cert) = server.call("cert_upload", upload(&good.cert_pem, &good.key_pem)).await;
    assert_eq!(status, 200, "{cert}");
    assert_eq!(cert["source"], "uploaded");
    assert_eq!(cert["names"], json!(["shop.example.test"]));
    assert!(cert.get("private_key_pem").is_none());

    // Served at once over TLS (the app has no container yet: the proxy's 503 page).
    let client = https_client(&server, &ca.pem, &["shop.example.test"]);
    let url = format!("https://shop.example.test:{}/", server.https_port);
    let resp = client
        .get(&url)
        .send()
        .await
        .expect("HTTPS with the uploaded certificate");
    assert_eq!(resp.status(), 503);
    assert_eq!(peer_cert(&resp).0, cert["serial"].as_str().unwrap());
    let resp = plain_get(&server, "shop.example.test", "/").await;
    assert_eq!(resp.status(), 308);

    // The private key is nowhere in plaintext: not in the database, the audit trail or the log.
    let key_body: String = good.key_pem.lines().nth(1).unwrap().to_owned();
    for file in ["sh0.db", "sh0.db-wal"] {
        let bytes = std::fs::read(server.data_dir().join(file)).unwrap_or_default();
        assert!(
            !bytes.windows(key_body.len()).any(|w| w == key_body.as_bytes()),
            "key in {file}"
        );
    }
    assert!(!server.log().contains(&key_body), "key in the server log");
    let (tool, args) = {
        let conn = rusqlite::Connection::open(server.data_dir().join("sh0.db")).unwrap();
        conn.query_row(
            "SELECT tool, args FROM audit WHERE tool = 'cert_upload' AND outcome = 'ok'",
            [],
            |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
        )
        .unwrap()
    };
    assert_eq!(tool, "cert_upload");
    assert!(args.contains("[redacted]") && !args.contains(&key_body), "{args}");

    // Deleting it (confirmed) stops HTTPS for the name, and HTTP no longer redirects.
    let id = cert["id"].as_str().unwrap();
    let (status, _) = server.call("cert_delete", json!({"certificate": id})).await;
    assert_eq!(status, 428);
    let (status, body) = server
        .call(
            "cert_delete",
            json!({"certificate": id, "confirm": "shop.example.test"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // (A new client: open connections keep the certificate they were made with.)
    let client = https_client(&server, &ca.pem, &["shop.example.test"]);
    assert!(std::net::TcpStream::connect(("127.0.0.1", server.https_port)).is_ok());
    assert!(client.get(&url).send().await.is_err(), "TLS still served");
    let resp = plain_get(&server, "shop.example.test", "/").await;
    assert_eq!(resp.status(), 503);

    // The CLI reads PEM files given as @FILE, so the key never sits in the command line.
    let files = tempfile::tempdir().unwrap();
    let (chain, key) = (files.path().join("chain.pem"), files.path().join("key.pem"));
    std::fs::write(&chain, &good.cert_pem).unwrap();
    std::fs::write(&key, &good.key_pem).unwrap();
    let (code, out, err) = server.cli(&[
        "cert",
        "upload",
        "--domain",
        "shop.example.test",
        "--certificate-pem",
        &format!("@{}", chain.display()),
        "--private-key-pem",
        &format!("@{}", key.display()),
        "--json",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let uploaded: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(uploaded["serial"], cert["serial"]);
    let (code, _, err) = server.cli(&[
        "cert",
        "upload",
        "--domain",
        "shop.example.test",
        "--certificate-pem",
        "@/nonexistent.pem",
        "--private-key-pem",
        "@-",
    ]);
    assert_eq!(code, 2, "{err}");

    // Without ACME, the domain says so rather than pretending an order is coming.
    let (status, body) = server.call("cert_renew", json!({"domain": "shop.example.test"})).await;
    assert_eq!(status, 422, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn domain_tools_refuse_bad_input_and_change_nothing() {
    let server = Server::start_with(&["--no-acme"]);
    server.seed_app("p", "one").await;
    server.seed_app("q", "two").await;
    let add = |app: &str, domain: &str| json!({"app": app, "domain": domain});
    let (status, _) = server.call("domain_add", add("one", "one.example.test")).await;
    assert_eq!(status, 200);
    for (args, expected) in [
        (add("two", "one.example.test"), 409),
        (add("two", "ONE.example.test."), 409),
        (add("two", "two.localhost"), 400),
        (add("two", "not a domain"), 400),
        (add("two", "*.example.test"), 400),
        (add("two", "localhost"), 400),
        (add("two", "10.0.0.1"), 400),
        (add("missing", "m.example.test"), 404),
        (json!({"app": "two", "domain": "www.com", "www_redirect": true}), 400),
    ] {
        let (status, body) = server.call("domain_add", args.clone()).await;
        assert_eq!(status, expected, "{args}: {body}");
    }
    let (_, list) = server.call("domain_list", json!({})).await;
    assert_eq!(list["domains"].as_array().unwrap().len(), 1, "{list}");

    // The name routes to its app; removing it needs the name typed, and then it is gone.
    let resp = plain_get(&server, "one.example.test", "/").await;
    assert_eq!(resp.status(), 503);
    let (status, _) = server
        .call("domain_remove", json!({"app": "two", "domain": "one.example.test"}))
        .await;
    assert_eq!(status, 404, "another app's domain");
    let (status, _) = server
        .call(
            "domain_remove",
            json!({"app": "one", "domain": "one.example.test", "confirm": "nope"}),
        )
        .await;
    assert_eq!(status, 428);
    let (status, body) = server
        .call(
            "domain_remove",
            json!({"app": "one", "domain": "one.example.test", "confirm": "one.example.test"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let resp = plain_get(&server, "one.example.test", "/").await;
    assert_eq!(resp.status(), 404);

    // domain_verify checks only names attached to the caller's apps (tests/doors.rs has more).
    let (status, verify) = server.call("domain_verify", json!({"domain": "nothing.invalid"})).await;
    assert_eq!(status, 404, "{verify}");

    // Deleting an app takes its domains with it.
    let (status, _) = server
        .call(
            "domain_add",
            json!({"app": "two", "domain": "two.example.test", "www_redirect": true}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = server.call("app_delete", json!({"app": "two", "confirm": "two"})).await;
    assert_eq!(status, 200);
    let (_, list) = server.call("domain_list", json!({})).await;
    assert_eq!(list["domains"], json!([]));
}
