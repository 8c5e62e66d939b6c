-- bounced schema, version 2: what the admin commands and retention read by.

-- `bounced list --status` and `bounced export` page through one status in address order (keyset
-- pagination); the old index on status alone cannot give that order.
CREATE INDEX recipients_by_status_address ON recipients (status, address);
DROP INDEX recipients_by_status;

-- Retention deletes quarantined messages by age.
CREATE INDEX quarantine_by_age ON quarantine (received_at);
