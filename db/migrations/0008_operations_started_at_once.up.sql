-- Operations a request started at once in its own process, without a River
-- job. Start-up gives a job to those a crash left unfinished; an
-- operation whose job River discarded (and later deleted) is not one.
ALTER TABLE operations ADD COLUMN started_at_once boolean NOT NULL DEFAULT false;
