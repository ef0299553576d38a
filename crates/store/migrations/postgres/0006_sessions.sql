-- Sessions (issue 10): the lockout becomes one atomic counter on the admin row, and every change
-- that ends or alters an admin's sessions is recorded so other nodes drop cached legacy sessions.

-- Failed sign-ins in the current window (which starts at `failures_since`). An attempt is counted
-- by one conditional UPDATE before the password is checked (the row lock serialises parallel
-- attempts, and READ COMMITTED re-checks the condition on the newest row), so parallel attempts
-- cannot pass the limit. Replaces `login_failures`.
ALTER TABLE admins ADD COLUMN failed_attempts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE admins ADD COLUMN failures_since BIGINT;
DROP TABLE login_failures;

-- One row per change of an admin's sessions (ended on a password or role change or a delete,
-- renamed) or of an org's legacy sessions (`admin_id` NULL: the API key changed). Nodes read the
-- rows past the last one they saw; the NOTIFY below wakes them at commit.
CREATE TABLE session_changes (
    seq BIGSERIAL PRIMARY KEY,
    org_id BIGINT NOT NULL,
    admin_id TEXT,
    at BIGINT NOT NULL
);

CREATE FUNCTION portcullis_sessions_changed() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('portcullis_sessions', NEW.seq::text);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER session_changes_notify
    AFTER INSERT ON session_changes
    FOR EACH ROW EXECUTE FUNCTION portcullis_sessions_changed();

CREATE INDEX sessions_admin ON sessions (admin_id);
CREATE INDEX legacy_sessions_admin ON legacy_sessions (admin_id);
