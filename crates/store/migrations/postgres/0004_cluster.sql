-- Cluster mode (DESIGN.md §4): one monotonically increasing configuration version, bumped by
-- triggers in the same transaction as any change that the hot path reads (servers, roles,
-- routes), and announced with NOTIFY on commit. Triggers rather than application code: every
-- writer (API, declarative config, a future table's repository) is covered and cannot forget.
CREATE TABLE config_version (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO config_version (id, version) VALUES (1, 1);

CREATE FUNCTION portcullis_config_changed() RETURNS trigger AS $$
DECLARE
    current BIGINT;
BEGIN
    UPDATE config_version SET version = version + 1 WHERE id = 1 RETURNING version INTO current;
    PERFORM pg_notify('portcullis_config', current::text);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

-- Key-fetch bookkeeping (last_fetch_*, key_ids, last_good_jwks) is not configuration: only the
-- columns an admin changes bump the version.
CREATE TRIGGER authorization_servers_config_changed
    AFTER INSERT OR DELETE OR UPDATE OF name, enabled, definition, version ON authorization_servers
    FOR EACH STATEMENT EXECUTE FUNCTION portcullis_config_changed();
CREATE TRIGGER roles_config_changed
    AFTER INSERT OR DELETE OR UPDATE ON roles
    FOR EACH STATEMENT EXECUTE FUNCTION portcullis_config_changed();
CREATE TRIGGER routes_config_changed
    AFTER INSERT OR DELETE OR UPDATE ON routes
    FOR EACH STATEMENT EXECUTE FUNCTION portcullis_config_changed();

-- Nodes register and heartbeat; the list shows which configuration version each one applied.
CREATE TABLE cluster_nodes (
    id TEXT PRIMARY KEY,
    address TEXT NOT NULL,
    software_version TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL,
    config_version BIGINT NOT NULL
);

-- Each node's own view of each server's key fetches (a node whose fetches fail while others
-- succeed is visible as such).
CREATE TABLE node_key_status (
    node_id TEXT NOT NULL,
    org_id BIGINT NOT NULL,
    server_id TEXT NOT NULL,
    last_successful_fetch_at BIGINT,
    last_fetch_attempt_at BIGINT NOT NULL,
    last_fetch_error TEXT,
    PRIMARY KEY (node_id, server_id)
);
