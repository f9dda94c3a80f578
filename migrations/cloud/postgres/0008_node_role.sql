-- The role a hub staff account has at its operator's venues' nodes
-- (roaming staff: `dealer`, `floor`, `manager` or `admin`); NULL: it does
-- not log in at nodes. Accounts made before this migration have none until
-- an owner or admin gives them one (their password hashes are not sent to
-- the venues unasked); new accounts take their hub role's default.
ALTER TABLE hub_staff ADD COLUMN node_role TEXT;
-- A role at one of the operator's venues other than `node_role` (a JSON
-- object: venue id -> `dealer`, `floor`, `manager`, `admin` or `none`).
ALTER TABLE hub_staff ADD COLUMN node_roles TEXT NOT NULL DEFAULT '{}';
