DROP INDEX event_nonces_expires_at;
