-- API governance (issue 14): the org's settings resource (activation, read-only, rate limits) and
-- the counters of the rate limits' long windows, shared by every node.

-- One row per org; `settings` is the JSON of `OrgSettingsInput` (members left out take their
-- defaults when read, so '{}' is "the documented defaults").
CREATE TABLE org_settings (
    org_id BIGINT PRIMARY KEY REFERENCES orgs (id),
    settings TEXT NOT NULL,
    version BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
INSERT INTO org_settings (org_id, settings, version, updated_at) SELECT id, '{}', 1, created_at FROM orgs;

-- Read-only and the limits are configuration every node applies: a change bumps the version.
CREATE TRIGGER org_settings_config_insert AFTER INSERT ON org_settings
BEGIN UPDATE config_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER org_settings_config_update AFTER UPDATE ON org_settings
BEGIN UPDATE config_version SET version = version + 1 WHERE id = 1; END;

-- Requests counted per org, caller, rule and window (window_start: Unix ms, a multiple of the
-- window's length). One atomic upsert per request; rows of past windows are pruned.
CREATE TABLE rate_counters (
    org_id BIGINT NOT NULL,
    caller TEXT NOT NULL,
    rule TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (org_id, caller, rule, window_start)
);
CREATE INDEX rate_counters_window ON rate_counters (window_start);
