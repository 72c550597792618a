-- Notifications and timeline notes are kept as a code with parameters (JSON of
-- yajin_core::notice::Notice / Note) and put into words in the reader's language when read.
-- Rows written before keep their Chinese title, body and note, and are shown as they are.
ALTER TABLE notifications ADD COLUMN params TEXT;
ALTER TABLE application_events ADD COLUMN system_note TEXT;
