-- bounced schema, version 3: one statement writes a batch, and refuses to write on a stale read.

-- `write_batch` calls this when what it was given no longer matches the database (an audit row
-- already recorded, a state row changed or created since it was read). Raising aborts the whole
-- statement, so nothing of the batch is written; the store then runs it again under row locks.
-- SQLSTATE 40001 (serialization_failure) is what such a conflict is.
CREATE FUNCTION bounced_write_conflict() RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    RAISE EXCEPTION 'bounced: the batch conflicts with a concurrent write'
        USING ERRCODE = 'serialization_failure';
END
$$;
