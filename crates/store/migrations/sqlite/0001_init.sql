-- Portcullis schema v1 (SQLite). Times are Unix milliseconds; booleans 0/1; JSON as TEXT.
CREATE TABLE orgs (
    id BIGINT PRIMARY KEY,
    created_at BIGINT NOT NULL,
    max_authorization_servers BIGINT NOT NULL DEFAULT 16,
    max_enabled_authorization_servers BIGINT NOT NULL DEFAULT 16
);

CREATE TABLE authorization_servers (
    id TEXT PRIMARY KEY,
    org_id BIGINT NOT NULL REFERENCES orgs (id),
    name TEXT NOT NULL,
    enabled BIGINT NOT NULL,
    definition TEXT NOT NULL,
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    last_successful_fetch_at BIGINT,
    last_fetch_attempt_at BIGINT,
    last_fetch_error TEXT,
    key_ids TEXT NOT NULL DEFAULT '[]',
    last_good_jwks TEXT,
    UNIQUE (org_id, name)
);

CREATE TABLE roles (
    id TEXT PRIMARY KEY,
    org_id BIGINT NOT NULL REFERENCES orgs (id),
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    permissions TEXT NOT NULL,
    builtin BIGINT NOT NULL DEFAULT 0,
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (org_id, kind, name)
);

CREATE TABLE admins (
    id TEXT PRIMARY KEY,
    org_id BIGINT NOT NULL REFERENCES orgs (id),
    login TEXT NOT NULL,
    name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    role_id TEXT NOT NULL REFERENCES roles (id),
    locked_until BIGINT,
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (org_id, login)
);

CREATE TABLE login_failures (
    admin_id TEXT NOT NULL REFERENCES admins (id) ON DELETE CASCADE,
    at BIGINT NOT NULL
);
CREATE INDEX login_failures_admin ON login_failures (admin_id, at);

CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY,
    org_id BIGINT NOT NULL REFERENCES orgs (id),
    admin_id TEXT NOT NULL REFERENCES admins (id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL
);

CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id BIGINT NOT NULL REFERENCES orgs (id),
    at BIGINT NOT NULL,
    action TEXT NOT NULL,
    category TEXT NOT NULL,
    resource TEXT NOT NULL,
    actor TEXT NOT NULL,
    client_ip TEXT,
    interface TEXT NOT NULL,
    result TEXT NOT NULL,
    before_json TEXT,
    after_json TEXT,
    detail TEXT
);
CREATE INDEX audit_log_org_at ON audit_log (org_id, at);
