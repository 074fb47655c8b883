DROP TABLE event_nonces;
DROP INDEX placements_serve_key;
ALTER TABLE placements DROP COLUMN serve_key;
DROP TABLE generation_items;
