-- Cluster bookkeeping (DESIGN.md §4), the same tables as on PostgreSQL. SQLite has no NOTIFY:
-- nodes sharing one SQLite file (not a supported cluster, but harmless) see changes through the
-- periodic version check. The version is bumped by triggers in the writer's transaction.
CREATE TABLE config_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO config_version (id, version) VALUES (1, 1);

CREATE TRIGGER authorization_servers_config_insert AFTER INSERT ON authorization_servers
BEGIN UPDATE config_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER authorization_servers_config_update
    AFTER UPDATE OF name, enabled, definition, version ON authorization_servers
BEGIN UPDATE config_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER authorization_servers_config_delete AFTER DELETE ON authorization_servers
BEGIN UPDATE config_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER roles_config_insert AFTER INSERT ON roles
BEGIN UPDATE config_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER roles_config_update AFTER UPDATE ON roles
BEGIN UPDATE config_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER roles_config_delete AFTER DELETE ON roles
BEGIN UPDATE config_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER routes_config_insert AFTER INSERT ON routes
BEGIN UPDATE config_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER routes_config_update AFTER UPDATE ON routes
BEGIN UPDATE config_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER routes_config_delete AFTER DELETE ON routes
BEGIN UPDATE config_version SET version = version + 1 WHERE id = 1; END;

CREATE TABLE cluster_nodes (
    id TEXT PRIMARY KEY,
    address TEXT NOT NULL,
    software_version TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL,
    config_version BIGINT NOT NULL
);

CREATE TABLE node_key_status (
    node_id TEXT NOT NULL,
    org_id BIGINT NOT NULL,
    server_id TEXT NOT NULL,
    last_successful_fetch_at BIGINT,
    last_fetch_attempt_at BIGINT NOT NULL,
    last_fetch_error TEXT,
    PRIMARY KEY (node_id, server_id)
);
