-- Credentials other than OAuth (DESIGN.md §1.4).

-- The one Cloud Service API Key per org, encrypted at rest: `sealed` is the AES-256-GCM envelope
-- `v1.<secret key id>.<base64url(nonce || ciphertext || tag)>` made by the server with the
-- deployment's secret key and the org id bound as associated data; the key id in it says which
-- secret key can open it, so the secret key can be rotated later.
CREATE TABLE api_keys (
    org_id BIGINT PRIMARY KEY REFERENCES orgs (id),
    sealed TEXT NOT NULL,
    version BIGINT NOT NULL,
    last_modified_by TEXT NOT NULL,
    last_modified_at BIGINT NOT NULL
);

-- Legacy API-key sessions (`JSESSIONID`): only SHA-256 of the session id is stored. Every change
-- of the org's API key deletes them all.
CREATE TABLE legacy_sessions (
    id_hash TEXT PRIMARY KEY,
    org_id BIGINT NOT NULL REFERENCES orgs (id),
    admin_id TEXT NOT NULL REFERENCES admins (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL
);
CREATE INDEX legacy_sessions_org ON legacy_sessions (org_id);

-- Sandbox API tokens (at most 5 per org, enforced by the store): only SHA-256 of the token is
-- stored, plus its last characters as a hint; the value itself is shown once.
CREATE TABLE sandbox_tokens (
    id TEXT PRIMARY KEY,
    org_id BIGINT NOT NULL REFERENCES orgs (id),
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    hint TEXT NOT NULL,
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    last_modified_by TEXT NOT NULL,
    UNIQUE (org_id, name)
);
