-- Recording an event deletes a bounded batch of expired serve ids; this index finds them
-- without scanning the table.
CREATE INDEX event_nonces_expires_at ON event_nonces (expires_at);
