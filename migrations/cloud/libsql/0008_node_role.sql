-- The role a hub staff account has at its operator's venues' nodes
-- (roaming staff: `dealer`, `floor`, `manager` or `admin`); NULL: it does
-- not log in at nodes. Existing accounts take their role's default.
ALTER TABLE hub_staff ADD COLUMN node_role TEXT;
UPDATE hub_staff SET node_role = 'admin' WHERE role IN ('owner', 'admin') AND operator_id IS NOT NULL;
UPDATE hub_staff SET node_role = 'manager' WHERE role = 'regional';
