//! Append-only numbered migrations tracked in `PRAGMA user_version`. Never edit a shipped
//! entry: add a new one at the end. Each runs in its own transaction with the version bump.

use rusqlite::Connection;

const MIGRATIONS: &[&str] = &[
    // 1: projects, apps, environment, API keys, audit log.
    r#"
    CREATE TABLE projects (
        id          TEXT PRIMARY KEY,
        name        TEXT NOT NULL UNIQUE,
        description TEXT NOT NULL DEFAULT '',
        created_at  TEXT NOT NULL,
        updated_at  TEXT NOT NULL
    );
    CREATE TABLE apps (
        id          TEXT PRIMARY KEY,
        project_id  TEXT NOT NULL REFERENCES projects(id),
        name        TEXT NOT NULL UNIQUE,
        port        INTEGER,
        image       TEXT,
        description TEXT NOT NULL DEFAULT '',
        created_at  TEXT NOT NULL,
        updated_at  TEXT NOT NULL
    );
    CREATE INDEX apps_project ON apps(project_id);
    CREATE TABLE env_vars (
        app_id     TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
        key        TEXT NOT NULL,
        sealed     BLOB NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (app_id, key)
    );
    CREATE TABLE api_keys (
        id           TEXT PRIMARY KEY,
        name         TEXT NOT NULL,
        prefix       TEXT NOT NULL,
        hash         TEXT NOT NULL UNIQUE,
        scope        TEXT NOT NULL,
        role         TEXT NOT NULL,
        created_at   TEXT NOT NULL,
        last_used_at TEXT,
        revoked_at   TEXT
    );
    CREATE TABLE audit (
        seq         INTEGER PRIMARY KEY AUTOINCREMENT,
        at          TEXT NOT NULL,
        principal   TEXT NOT NULL,
        adapter     TEXT NOT NULL,
        tool        TEXT NOT NULL,
        args        TEXT NOT NULL,
        outcome     TEXT NOT NULL,
        error_kind  TEXT,
        duration_ms INTEGER NOT NULL
    );
    CREATE INDEX audit_tool ON audit(tool);
    "#,
    // 2: deployments, their logs, and what an app needs to run (health check, limits).
    r#"
    ALTER TABLE apps ADD COLUMN health_path TEXT NOT NULL DEFAULT '/';
    ALTER TABLE apps ADD COLUMN health_interval_ms INTEGER NOT NULL DEFAULT 500;
    ALTER TABLE apps ADD COLUMN health_timeout_ms INTEGER NOT NULL DEFAULT 2000;
    ALTER TABLE apps ADD COLUMN health_retries INTEGER NOT NULL DEFAULT 60;
    ALTER TABLE apps ADD COLUMN memory_mb INTEGER;
    ALTER TABLE apps ADD COLUMN cpus REAL;
    ALTER TABLE apps ADD COLUMN restart_policy TEXT NOT NULL DEFAULT 'unless-stopped';
    ALTER TABLE apps ADD COLUMN stopped INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE apps ADD COLUMN current_deployment TEXT;
    CREATE TABLE deployments (
        id           TEXT PRIMARY KEY,
        app_id       TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
        status       TEXT NOT NULL,
        source       TEXT NOT NULL,
        image        TEXT,
        archive      TEXT,
        triggered_by TEXT NOT NULL,
        error        TEXT,
        container_id TEXT,
        created_at   TEXT NOT NULL,
        updated_at   TEXT NOT NULL,
        finished_at  TEXT
    );
    CREATE INDEX deployments_app ON deployments(app_id, created_at);
    -- At most one active deployment per app, enforced by the database itself.
    CREATE UNIQUE INDEX deployments_one_active ON deployments(app_id)
        WHERE status IN ('queued', 'uploading', 'pulling', 'building', 'pushing', 'starting');
    CREATE TABLE deployment_logs (
        deployment_id TEXT NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
        pos           INTEGER NOT NULL,
        line          TEXT NOT NULL,
        PRIMARY KEY (deployment_id, pos)
    );
    "#,
    // 3: server-wide settings, starting with this installation's instance id.
    r#"
    CREATE TABLE settings (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    "#,
    // 4: the edge: custom domains, certificates (private keys sealed), ACME order state.
    r#"
    CREATE TABLE domains (
        id          TEXT PRIMARY KEY,
        app_id      TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
        hostname    TEXT NOT NULL UNIQUE,
        redirect_to TEXT,
        created_at  TEXT NOT NULL
    );
    CREATE INDEX domains_app ON domains(app_id);
    CREATE TABLE certificates (
        id          TEXT PRIMARY KEY,
        hostname    TEXT NOT NULL,
        source      TEXT NOT NULL,
        names       TEXT NOT NULL,
        chain_pem   TEXT NOT NULL,
        key_sealed  BLOB NOT NULL,
        issuer      TEXT NOT NULL,
        serial      TEXT NOT NULL,
        not_before  TEXT NOT NULL,
        not_after   TEXT NOT NULL,
        created_at  TEXT NOT NULL,
        UNIQUE (hostname, source)
    );
    CREATE TABLE acme_status (
        hostname        TEXT PRIMARY KEY,
        state           TEXT NOT NULL,
        attempts        INTEGER NOT NULL DEFAULT 0,
        orders          INTEGER NOT NULL DEFAULT 0,
        last_error      TEXT,
        next_attempt_at TEXT,
        updated_at      TEXT NOT NULL
    );
    "#,
    // 5: the audit log becomes a hash chain: each record carries the hash of the one
    // before it and its own. Records written before this migration stay unchained.
    r#"
    ALTER TABLE audit ADD COLUMN prev_hash TEXT;
    ALTER TABLE audit ADD COLUMN hash TEXT;
    "#,
    // 6: API keys may expire.
    r#"
    ALTER TABLE api_keys ADD COLUMN expires_at TEXT;
    "#,
    // 7: accounts: users (Argon2id password hashes, sealed TOTP secrets), their project
    // memberships, hashed backup codes, sessions with rotating refresh tokens, one-time
    // invitations; API keys belong to a user and may be limited to one project (a key
    // limited to a deleted project goes with it rather than widening to every project).
    r#"
    CREATE TABLE users (
        id             TEXT PRIMARY KEY,
        email          TEXT NOT NULL UNIQUE,
        name           TEXT NOT NULL DEFAULT '',
        password_hash  TEXT NOT NULL,
        role           TEXT NOT NULL,
        totp_sealed    BLOB,
        totp_enabled   INTEGER NOT NULL DEFAULT 0,
        totp_last_step INTEGER,
        created_at     TEXT NOT NULL,
        last_login_at  TEXT
    );
    CREATE TABLE memberships (
        user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
        PRIMARY KEY (user_id, project_id)
    );
    CREATE TABLE backup_codes (
        user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        hash    TEXT NOT NULL,
        used_at TEXT,
        PRIMARY KEY (user_id, hash)
    );
    CREATE TABLE sessions (
        id            TEXT PRIMARY KEY,
        user_id       TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        refresh_hash  TEXT NOT NULL UNIQUE,
        previous_hash TEXT,
        user_agent    TEXT NOT NULL DEFAULT '',
        address       TEXT NOT NULL DEFAULT '',
        created_at    TEXT NOT NULL,
        last_seen_at  TEXT NOT NULL,
        expires_at    TEXT NOT NULL,
        revoked_at    TEXT
    );
    CREATE INDEX sessions_user ON sessions(user_id);
    CREATE INDEX sessions_previous ON sessions(previous_hash);
    CREATE TABLE invites (
        id         TEXT PRIMARY KEY,
        token_hash TEXT NOT NULL UNIQUE,
        email      TEXT NOT NULL,
        role       TEXT NOT NULL,
        projects   TEXT NOT NULL DEFAULT '[]',
        invited_by TEXT NOT NULL,
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        used_at    TEXT
    );
    ALTER TABLE api_keys ADD COLUMN user_id TEXT REFERENCES users(id) ON DELETE CASCADE;
    ALTER TABLE api_keys ADD COLUMN project_id TEXT REFERENCES projects(id) ON DELETE CASCADE;
    "#,
    // 8: the job runner's jobs and their logs, and schedules. A schedule's owner is not a
    // foreign key: when the user is removed the schedule stays, stopped, saying why.
    r#"
    CREATE TABLE jobs (
        id          TEXT PRIMARY KEY,
        kind        TEXT NOT NULL,
        target      TEXT NOT NULL,
        status      TEXT NOT NULL,
        principal   TEXT NOT NULL,
        user_id     TEXT,
        error       TEXT,
        created_at  TEXT NOT NULL,
        started_at  TEXT,
        finished_at TEXT
    );
    CREATE INDEX jobs_target ON jobs(target, created_at);
    CREATE INDEX jobs_status ON jobs(status);
    CREATE TABLE job_logs (
        job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
        pos    INTEGER NOT NULL,
        line   TEXT NOT NULL,
        PRIMARY KEY (job_id, pos)
    );
    CREATE TABLE schedules (
        id              TEXT PRIMARY KEY,
        name            TEXT NOT NULL UNIQUE,
        owner_id        TEXT NOT NULL,
        role            TEXT NOT NULL,
        scope           TEXT NOT NULL,
        cron            TEXT NOT NULL,
        timezone        TEXT NOT NULL,
        tool            TEXT NOT NULL,
        args            TEXT NOT NULL,
        enabled         INTEGER NOT NULL,
        disabled_reason TEXT,
        next_run_at     TEXT,
        last_run_at     TEXT,
        created_at      TEXT NOT NULL,
        updated_at      TEXT NOT NULL
    );
    "#,
    // 9: deployments and certificate orders run as jobs of the runner. A job knows the
    // project that holds its target (its members see it); a deployment names its job,
    // and its build log is that job's log. Deployments made before keep their log, as the
    // log of a job made for them here.
    r#"
    ALTER TABLE jobs ADD COLUMN project_id TEXT;
    CREATE INDEX jobs_project ON jobs(project_id, created_at);
    ALTER TABLE deployments ADD COLUMN job_id TEXT;
    INSERT INTO jobs (id, kind, target, status, principal, user_id, error, created_at, started_at, finished_at, project_id)
        SELECT 'job_' || substr(d.id, 5), 'deploy', d.app_id,
            CASE d.status
                WHEN 'running' THEN 'succeeded'
                WHEN 'superseded' THEN 'succeeded'
                WHEN 'cancelled' THEN 'cancelled'
                WHEN 'failed' THEN 'failed'
                ELSE 'running'
            END,
            'deployment:' || d.triggered_by, NULL, d.error, d.created_at, d.created_at, d.finished_at, a.project_id
        FROM deployments d JOIN apps a ON a.id = d.app_id;
    INSERT INTO job_logs (job_id, pos, line)
        SELECT 'job_' || substr(deployment_id, 5), pos, line FROM deployment_logs;
    UPDATE deployments SET job_id = 'job_' || substr(id, 5);
    DROP TABLE deployment_logs;
    "#,
    // 10: deploy hooks: a URL and a secret that deploy one app, acting as the hook (with
    // at most its maker's current role, capped when made), for CI systems and forges.
    r#"
    CREATE TABLE hooks (
        id            TEXT PRIMARY KEY,
        name          TEXT NOT NULL,
        app_id        TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
        created_by    TEXT NOT NULL,
        role          TEXT NOT NULL,
        secret_digest TEXT NOT NULL,
        created_at    TEXT NOT NULL,
        last_used_at  TEXT,
        UNIQUE (app_id, name)
    );
    "#,
    // 11: what each deployment ran with and, for one that failed, what sh0 saw and made of
    // it (JSON of `domain::diagnosis`): the analyzer's input and its report.
    r#"
    ALTER TABLE deployments ADD COLUMN facts TEXT;
    ALTER TABLE deployments ADD COLUMN diagnosis TEXT;
    "#,
    // 12: the assistant's conversations, each its user's; messages as JSON in order; and
    // the calls waiting for their user's approval, bound to their exact arguments.
    r#"
    CREATE TABLE conversations (
        id                TEXT PRIMARY KEY,
        user_id           TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        title             TEXT NOT NULL,
        tokens_used       INTEGER NOT NULL DEFAULT 0,
        created_at        TEXT NOT NULL,
        updated_at        TEXT NOT NULL
    );
    CREATE INDEX conversations_by_user ON conversations (user_id, updated_at);
    CREATE TABLE chat_messages (
        conversation_id   TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
        seq               INTEGER NOT NULL,
        body              TEXT NOT NULL,
        PRIMARY KEY (conversation_id, seq)
    );
    CREATE TABLE chat_approvals (
        id                TEXT PRIMARY KEY,
        conversation_id   TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
        body              TEXT NOT NULL,
        status            TEXT NOT NULL
    );
    "#,
    // 13: OAuth 2.1 for remote MCP clients: registered clients (or the URL of their
    // metadata document), authorization requests waiting for consent, one-time codes, and
    // grants holding the digests of their current access and refresh tokens.
    r#"
    CREATE TABLE oauth_clients (
        id                TEXT PRIMARY KEY,
        name              TEXT NOT NULL,
        redirect_uris     TEXT NOT NULL,
        source            TEXT NOT NULL,
        created_at        TEXT NOT NULL
    );
    CREATE TABLE oauth_requests (
        id                TEXT PRIMARY KEY,
        body              TEXT NOT NULL,
        expires_at        TEXT NOT NULL
    );
    CREATE TABLE oauth_codes (
        code_hash         TEXT PRIMARY KEY,
        body              TEXT NOT NULL,
        expires_at        TEXT NOT NULL,
        grant_id          TEXT
    );
    CREATE TABLE oauth_grants (
        id                    TEXT PRIMARY KEY,
        user_id               TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        client_id             TEXT NOT NULL,
        client_name           TEXT NOT NULL,
        scope                 TEXT NOT NULL,
        project_id            TEXT REFERENCES projects(id) ON DELETE CASCADE,
        resource              TEXT NOT NULL,
        access_hash           TEXT,
        access_expires_at     TEXT,
        refresh_hash          TEXT,
        previous_refresh_hash TEXT,
        created_at            TEXT NOT NULL,
        last_used_at          TEXT,
        revoked_at            TEXT
    );
    CREATE INDEX oauth_grants_by_access ON oauth_grants (access_hash);
    CREATE INDEX oauth_grants_by_refresh ON oauth_grants (refresh_hash);
    CREATE INDEX oauth_grants_by_previous ON oauth_grants (previous_refresh_hash);
    CREATE INDEX oauth_grants_by_user ON oauth_grants (user_id);
    "#,
    // 14: git sources, deploy keys, webhooks and their deliveries, previews; the commit a
    // deployment built. Tokens, deploy keys and webhook secrets are sealed settings.
    r#"
    CREATE TABLE git_sources (
        app_id     TEXT PRIMARY KEY REFERENCES apps(id) ON DELETE CASCADE,
        url        TEXT NOT NULL,
        branch     TEXT NOT NULL,
        subdir     TEXT,
        dockerfile TEXT,
        submodules INTEGER NOT NULL DEFAULT 0,
        has_token  INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE deploy_keys (
        app_id     TEXT PRIMARY KEY REFERENCES apps(id) ON DELETE CASCADE,
        public_key TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE git_webhooks (
        app_id     TEXT PRIMARY KEY REFERENCES apps(id) ON DELETE CASCADE,
        hook_id    TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE webhook_deliveries (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        app_id        TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
        received_at   TEXT NOT NULL,
        forge         TEXT NOT NULL,
        event         TEXT NOT NULL,
        delivery      TEXT,
        body_digest   TEXT,
        verdict       TEXT NOT NULL,
        outcome       TEXT NOT NULL,
        deployment_id TEXT
    );
    CREATE INDEX webhook_deliveries_by_app ON webhook_deliveries (app_id, id);
    CREATE TABLE previews (
        app_id     TEXT PRIMARY KEY REFERENCES apps(id) ON DELETE CASCADE,
        parent_id  TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
        number     INTEGER NOT NULL,
        branch     TEXT,
        created_at TEXT NOT NULL,
        UNIQUE (parent_id, number)
    );
    ALTER TABLE deployments ADD COLUMN git_commit TEXT;
    ALTER TABLE deployments ADD COLUMN git_author TEXT;
    ALTER TABLE deployments ADD COLUMN git_message TEXT;
    "#,
    // 15: deliveries a webhook accepted, by body digest and by the forge's delivery id,
    // kept apart from the (pruned) delivery log so that no flood of other requests can
    // make an old signed delivery new again.
    r#"
    CREATE TABLE webhook_seen (
        app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
        key    TEXT NOT NULL,
        seen_at TEXT NOT NULL,
        PRIMARY KEY (app_id, key)
    );
    "#,
    // 16: managed databases. The password is sealed (context `database:<id>`); the
    // container and volume are named from the database's name and the installation.
    r#"
    CREATE TABLE databases (
        id          TEXT PRIMARY KEY,
        name        TEXT NOT NULL UNIQUE,
        project_id  TEXT NOT NULL REFERENCES projects(id),
        engine      TEXT NOT NULL,
        version     TEXT NOT NULL,
        image       TEXT NOT NULL,
        public_port INTEGER UNIQUE,
        memory_mb   INTEGER,
        cpus        REAL,
        stopped     INTEGER NOT NULL DEFAULT 0,
        sealed_password BLOB NOT NULL,
        created_at  TEXT NOT NULL
    );
    CREATE INDEX databases_project ON databases(project_id);
    "#,
    // 17: backup destinations and backups. A backup outlives its database (deleting a
    // database keeps its backups), so it names the database rather than referencing it.
    // Each backup's data key is sealed (context `backup:<id>`).
    r#"
    CREATE TABLE backup_destinations (
        name        TEXT PRIMARY KEY,
        kind        TEXT NOT NULL,
        config      TEXT NOT NULL,
        sealed_secret BLOB,
        created_at  TEXT NOT NULL
    );
    CREATE TABLE backups (
        id            TEXT PRIMARY KEY,
        database_id   TEXT NOT NULL,
        database_name TEXT NOT NULL,
        project_id    TEXT NOT NULL,
        engine        TEXT NOT NULL,
        version       TEXT NOT NULL,
        image         TEXT NOT NULL,
        destination   TEXT NOT NULL,
        path          TEXT NOT NULL,
        status        TEXT NOT NULL,
        reason        TEXT,
        size_bytes    INTEGER,
        counts        TEXT,
        sealed_key    BLOB NOT NULL,
        job_id        TEXT,
        trigger       TEXT NOT NULL,
        started_at    TEXT NOT NULL,
        finished_at   TEXT
    );
    CREATE INDEX backups_by_database ON backups(database_id, started_at);
    CREATE TABLE backup_policies (
        database_id  TEXT PRIMARY KEY REFERENCES databases(id) ON DELETE CASCADE,
        schedule_id  TEXT NOT NULL,
        destination  TEXT NOT NULL,
        keep_last    INTEGER,
        keep_daily   INTEGER,
        keep_weekly  INTEGER,
        keep_monthly INTEGER
    );
    "#,
];

pub fn apply(conn: &mut Connection) -> rusqlite::Result<()> {
    let current: usize = conn.pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0))? as usize;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn migrations_are_idempotent() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        super::apply(&mut conn).unwrap();
        super::apply(&mut conn).unwrap();
        let v: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        assert_eq!(v as usize, super::MIGRATIONS.len());
    }

    #[test]
    fn deployments_made_before_jobs_keep_their_logs_as_jobs() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        for sql in &super::MIGRATIONS[..8] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", 8).unwrap();
        conn.execute_batch(
            "INSERT INTO projects (id, name, created_at, updated_at) VALUES ('prj_00000000000000000000000000000000', 'p', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z');
             INSERT INTO apps (id, project_id, name, created_at, updated_at) VALUES ('app_00000000000000000000000000000000', 'prj_00000000000000000000000000000000', 'a', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z');
             INSERT INTO deployments (id, app_id, status, source, triggered_by, created_at, updated_at)
                 VALUES ('dep_00000000000000000000000000000001', 'app_00000000000000000000000000000000', 'superseded', 'image', 'cli', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z'),
                        ('dep_00000000000000000000000000000002', 'app_00000000000000000000000000000000', 'failed', 'image', 'api', '2026-01-02T00:00:00Z', '2026-01-02T00:00:00Z');
             INSERT INTO deployment_logs VALUES ('dep_00000000000000000000000000000001', 0, 'one'), ('dep_00000000000000000000000000000001', 1, 'two');",
        )
        .unwrap();
        let store = crate::store::Store::init(conn).unwrap();
        let dep = store.deployment_get(&"dep_00000000000000000000000000000001".to_owned().try_into().unwrap());
        let job = dep.unwrap().deployment.job.expect("a job for the old deployment");
        let row = store.job_get(&job).unwrap().unwrap();
        assert_eq!((row.kind.as_str(), row.status.as_str()), ("deploy", "succeeded"));
        assert_eq!(row.project_id.unwrap().as_str(), "prj_00000000000000000000000000000000");
        let lines: Vec<String> = store
            .job_log_read(&job, 0, 10)
            .unwrap()
            .into_iter()
            .map(|l| l.line)
            .collect();
        assert_eq!(lines, ["one", "two"]);
    }
}
