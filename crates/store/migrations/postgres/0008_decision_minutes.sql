-- Access decisions per node and minute (the portal's dashboard): each node writes its row for
-- the current minute with its heartbeat and deletes its rows older than a day.
CREATE TABLE decision_minutes (
    org_id BIGINT NOT NULL,
    node_id TEXT NOT NULL,
    minute BIGINT NOT NULL,
    allowed BIGINT NOT NULL,
    denied BIGINT NOT NULL,
    -- {"reason": count} of the denials, as JSON text.
    reasons TEXT NOT NULL,
    PRIMARY KEY (org_id, node_id, minute)
);
CREATE INDEX decision_minutes_by_minute ON decision_minutes (org_id, minute);
