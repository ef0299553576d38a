-- Sessions (issue 10): the lockout becomes one atomic counter on the admin row, and every change
-- that ends or alters an admin's sessions is recorded so other nodes drop cached legacy sessions.

-- Failed sign-ins in the current window (which starts at `failures_since`). An attempt is counted
-- by one conditional UPDATE before the password is checked, so parallel attempts cannot pass the
-- limit. Replaces `login_failures`.
ALTER TABLE admins ADD COLUMN failed_attempts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE admins ADD COLUMN failures_since BIGINT;
DROP TABLE login_failures;

-- One row per change of an admin's sessions (ended on a password or role change or a delete,
-- renamed) or of an org's legacy sessions (`admin_id` NULL: the API key changed). Nodes read the
-- rows past the last one they saw (PostgreSQL also NOTIFYs) and drop those cached sessions.
CREATE TABLE session_changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id BIGINT NOT NULL,
    admin_id TEXT,
    at BIGINT NOT NULL
);

CREATE INDEX sessions_admin ON sessions (admin_id);
CREATE INDEX legacy_sessions_admin ON legacy_sessions (admin_id);
