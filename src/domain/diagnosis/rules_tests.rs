use super::*;
use crate::domain::diagnosis::{ContainerFacts, HealthFacts, Listener};

fn dep() -> DeploymentId {
    "dep_00000000000000000000000000000001".to_owned().try_into().unwrap()
}

fn base() -> DeploymentFacts {
    DeploymentFacts {
        config: ConfigSnapshot {
            image: Some("sh0/web:dep_1".into()),
            port: 8080,
            health_path: "/".into(),
            memory_mb: Some(64),
            env_names: vec!["PORT".into()],
        },
        stage: Some(FailedStage::Health),
        reason: Some("health check failed".into()),
        health: Some(HealthFacts {
            path: "/".into(),
            last: Some(HealthAnswer::NoConnection),
            attempts: 4,
            container_exited: false,
        }),
        container: Some(ContainerFacts {
            running: true,
            exit_code: None,
            oom_killed: false,
            restart_count: 0,
            listening: Some(Vec::new()),
        }),
        app_log: Vec::new(),
        build_log: Vec::new(),
    }
}

fn causes(f: &DeploymentFacts, previous: Option<&ConfigSnapshot>) -> Vec<Cause> {
    analyze(&dep(), "web", DeploymentStatus::Failed, f, previous, Timestamp::now())
        .findings
        .iter()
        .map(|f| f.cause)
        .collect()
}

fn listen(ip: &str, port: u16) -> Listener {
    Listener {
        ip: ip.parse().unwrap(),
        port,
    }
}

#[test]
fn sockets_name_the_address_or_the_port() {
    let mut f = base();
    f.container.as_mut().unwrap().listening = Some(vec![listen("127.0.0.1", 8080)]);
    assert_eq!(causes(&f, None), [Cause::ListensOnLoopback]);
    f.container.as_mut().unwrap().listening = Some(vec![listen("0.0.0.0", 3000)]);
    let d = analyze(&dep(), "web", DeploymentStatus::Failed, &f, None, Timestamp::now());
    assert_eq!(d.findings[0].cause, Cause::PortMismatch);
    assert_eq!(d.findings[0].fixes[0].arguments["port"], 3000);
    f.container.as_mut().unwrap().listening = Some(vec![listen("::", 8080)]);
    assert_eq!(causes(&f, None), [Cause::Unknown], "listening rightly is no finding");
    f.container.as_mut().unwrap().listening = Some(Vec::new());
    assert_eq!(causes(&f, None), [Cause::NothingListening]);
}

#[test]
fn missing_variables_are_read_from_the_log_in_many_wordings() {
    for line in [
        "Error: environment variable DATABASE_URL is not set",
        "KeyError: 'DATABASE_URL'",
        "panic: missing required env var DATABASE_URL",
        "DATABASE_URL must be set",
        "config error: env var `DATABASE_URL` is required",
    ] {
        let mut f = base();
        f.container = Some(ContainerFacts {
            running: false,
            exit_code: Some(1),
            oom_killed: false,
            restart_count: 0,
            listening: None,
        });
        f.app_log = vec!["starting".into(), line.into()];
        let d = analyze(&dep(), "web", DeploymentStatus::Failed, &f, None, Timestamp::now());
        assert_eq!(d.findings[0].cause, Cause::MissingEnv, "{line}");
        assert_eq!(d.findings[0].fixes[0].arguments["key"], "DATABASE_URL", "{line}");
        assert_eq!(d.findings.len(), 1, "the crash is explained: {line}");
        // A variable that is set is not reported.
        f.config.env_names.push("DATABASE_URL".into());
        assert_eq!(causes(&f, None), [Cause::Crashed], "{line}");
    }
}

#[test]
fn memory_health_and_crashes() {
    let mut f = base();
    f.container = Some(ContainerFacts {
        running: false,
        exit_code: Some(137),
        oom_killed: true,
        restart_count: 0,
        listening: None,
    });
    let d = analyze(&dep(), "web", DeploymentStatus::Failed, &f, None, Timestamp::now());
    assert_eq!(d.findings[0].cause, Cause::OutOfMemory);
    assert_eq!(d.findings[0].fixes[0].arguments["memory_mb"], 256);

    // Docker can miss the OOM flag; a SIGKILL nobody sent under a limit is still memory…
    let mut f = base();
    f.config.memory_mb = Some(16);
    f.container = Some(ContainerFacts {
        running: false,
        exit_code: Some(137),
        oom_killed: false,
        restart_count: 0,
        listening: None,
    });
    f.health.as_mut().unwrap().container_exited = true;
    let d = analyze(&dep(), "web", DeploymentStatus::Failed, &f, None, Timestamp::now());
    assert_eq!(d.findings[0].cause, Cause::OutOfMemory);
    assert!(
        d.findings[0].summary.contains("most likely"),
        "{}",
        d.findings[0].summary
    );
    // …but not without a limit, nor when the gate did not see it end by itself.
    f.config.memory_mb = None;
    assert_eq!(causes(&f, None)[0], Cause::Crashed);
    f.config.memory_mb = Some(16);
    f.health.as_mut().unwrap().container_exited = false;
    assert_ne!(causes(&f, None)[0], Cause::OutOfMemory);

    let mut f = base();
    f.container.as_mut().unwrap().listening = Some(vec![listen("0.0.0.0", 8080)]);
    f.health.as_mut().unwrap().last = Some(HealthAnswer::Status { code: 500 });
    f.app_log = vec!["ERROR cannot reach redis".into()];
    let d = analyze(&dep(), "web", DeploymentStatus::Failed, &f, None, Timestamp::now());
    assert_eq!(d.findings[0].cause, Cause::HealthCheckError);
    assert!(d.findings[0].evidence.iter().any(|e| e.detail.contains("answered 500")));
    assert!(d.findings[0].evidence.iter().any(|e| e.quote.is_some()));
}

#[test]
fn builds_cite_the_failing_step_and_changes_are_listed() {
    let mut f = base();
    f.stage = Some(FailedStage::Build);
    f.container = None;
    f.build_log = vec![
        "Step 1/3 : FROM x".into(),
        "Step 2/3 : RUN make".into(),
        "make: *** No rule to make target 'all'.  Stop.".into(),
        "The command '/bin/sh -c make' returned a non-zero code: 2".into(),
    ];
    let d = analyze(&dep(), "web", DeploymentStatus::Failed, &f, None, Timestamp::now());
    assert_eq!(d.findings[0].cause, Cause::BuildFailed);
    assert!(d.summary.contains("RUN make"), "{}", d.summary);

    let mut f = base();
    f.container.as_mut().unwrap().listening = Some(vec![listen("0.0.0.0", 3000)]);
    let mut before = f.config.clone();
    before.port = 3000;
    before.env_names.push("SECRET_KEY".into());
    let d = analyze(
        &dep(),
        "web",
        DeploymentStatus::Failed,
        &f,
        Some(&before),
        Timestamp::now(),
    );
    let changed = d
        .findings
        .iter()
        .find(|f| f.cause == Cause::ChangedSinceLastGood)
        .unwrap();
    let text: Vec<&str> = changed.evidence.iter().map(|e| e.detail.as_str()).collect();
    assert!(text.contains(&"port 3000 → 8080"), "{text:?}");
    assert!(text.iter().any(|t| t.contains("removed since: SECRET_KEY")), "{text:?}");
}
