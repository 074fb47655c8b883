-- A campaign's own call to action, used instead of the standard labels when it fits the placement.
ALTER TABLE campaigns ADD COLUMN call_to_action TEXT;
