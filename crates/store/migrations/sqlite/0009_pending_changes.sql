-- Staged configuration (issue 14): with the org's `activation` set to `staged`, writes to servers,
-- routes and roles are kept here until `POST /api/v1/status/activate` applies them all in one
-- transaction. At most one pending change per object (`kind`, `target_id`); its author alone may
-- change it again. No trigger: a pending change is not configuration, so it must not make any
-- node rebuild (tokens are decided by the active configuration only).
CREATE TABLE pending_changes (
    org_id BIGINT NOT NULL REFERENCES orgs (id),
    id TEXT NOT NULL,
    -- `authorizationServers`, `routes`, `apiRoles`, `adminRoles`
    kind TEXT NOT NULL,
    -- The object's id; for a create, the id it will have once activated.
    target_id TEXT NOT NULL,
    -- `create`, `replace`, `delete`
    action TEXT NOT NULL,
    -- The object's name after the change (before it, for a delete).
    name TEXT NOT NULL,
    -- The definition to apply (JSON); NULL for a delete.
    body TEXT,
    -- The active object's version the change was staged against (NULL for a create): activation
    -- refuses a change whose object moved on meanwhile.
    base_version BIGINT,
    -- Servers: the key check made when staging (JSON), recorded when activated.
    key_check TEXT,
    staged_by TEXT NOT NULL,
    staged_at BIGINT NOT NULL,
    version BIGINT NOT NULL,
    PRIMARY KEY (org_id, id),
    UNIQUE (org_id, kind, target_id)
);
