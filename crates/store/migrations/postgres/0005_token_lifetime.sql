-- Token lifetime (issue 10 §5): every server definition gets `maxTokenLifetimeS`, the longest
-- token lifetime it accepts (`exp` - `iat`, or `exp` - now without `iat`; 0 = not checked).
-- Definitions are JSON in `definition`, like every other server field, so no column is added:
-- this migration writes the value into the definitions stored before the setting existed, the
-- same value a new server of that preset gets (Entra v1/v2: 100800 = 28 h, the CAE token
-- lifetime; every other preset: 86400 = 24 h). Written explicitly, so a later change of the
-- code's default never silently changes an existing server; the serde default (86400) only
-- covers a definition that bypassed this migration. A server whose issuer mints longer-lived
-- tokens now rejects them as `token_lifetime_exceeded` (fail closed) until an admin raises the
-- limit or sets 0. The config-version trigger fires, so running nodes reload.
UPDATE authorization_servers
SET definition = jsonb_set(
    definition::jsonb,
    '{maxTokenLifetimeS}',
    to_jsonb(CASE definition::jsonb ->> 'preset'
        WHEN 'entra_v1' THEN 100800
        WHEN 'entra_v2' THEN 100800
        ELSE 86400
    END)
)::text
WHERE definition::jsonb -> 'maxTokenLifetimeS' IS NULL;
