ALTER TABLE campaigns DROP COLUMN call_to_action;
