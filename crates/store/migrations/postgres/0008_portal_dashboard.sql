-- The portal's dashboard and server pages. Access decisions per node and minute: each node
-- writes its row for the current minute with its heartbeat and deletes its rows older than a day.
CREATE TABLE decision_minutes (
    org_id BIGINT NOT NULL,
    node_id TEXT NOT NULL,
    minute BIGINT NOT NULL,
    allowed BIGINT NOT NULL,
    denied BIGINT NOT NULL,
    -- {"reason": count} of the denials, as JSON text.
    reasons TEXT NOT NULL,
    -- {"server name": [allowed, denied]} of the decisions on a token of a configured server.
    servers TEXT NOT NULL,
    PRIMARY KEY (org_id, node_id, minute)
);
CREATE INDEX decision_minutes_by_minute ON decision_minutes (org_id, minute);

-- Each server's key fetches, newest kept (a server's page shows its fetch history with errors).
CREATE TABLE key_fetches (
    org_id BIGINT NOT NULL,
    server_id TEXT NOT NULL,
    at BIGINT NOT NULL,
    ok BIGINT NOT NULL,
    error TEXT
);
CREATE INDEX key_fetches_by_server ON key_fetches (org_id, server_id, at);

-- When each key id of a server was first and last seen in a good fetch.
CREATE TABLE server_keys_seen (
    org_id BIGINT NOT NULL,
    server_id TEXT NOT NULL,
    kid TEXT NOT NULL,
    first_seen_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    PRIMARY KEY (org_id, server_id, kid)
);
