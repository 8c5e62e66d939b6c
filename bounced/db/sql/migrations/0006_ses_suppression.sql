-- bounced schema, version 6: the outbox of calls to SES's account-level suppression list.

-- One row per call still to make: written in the same transaction as the state change that asks for
-- it (an address becoming suppressed: put; a suppressed address made mailable: delete), deleted
-- once SES has answered. Sent in `id` order: two calls for one address come from two transactions,
-- the second of which saw the first committed, so their ids are in the order of the changes.
CREATE TABLE ses_suppression_outbox (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    address    text NOT NULL,
    operation  text NOT NULL CHECK (operation IN ('put', 'delete')),
    -- SES's reason for a put: COMPLAINT for complaints, BOUNCE for everything else.
    reason     text CHECK (reason IN ('BOUNCE', 'COMPLAINT')),
    -- The audit row of the change that asked for the call (NULL when unknown).
    event_id   bigint,
    created_at timestamptz NOT NULL,
    CHECK ((operation = 'put') = (reason IS NOT NULL))
);
