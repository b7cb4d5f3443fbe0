-- E-mail the panel sends (password links, welcome mails, alert notices),
-- written in the transaction of what caused it and sent later by the mail
-- worker: a crash or an SMTP outage loses none. A row is due while
-- sent_at and failed_at are NULL and next_attempt_at has come; a worker
-- that takes one pushes next_attempt_at past its attempt, so another (or
-- the next start) retries it only if that attempt never finished.
CREATE TABLE mail_outbox (
    id              bigserial PRIMARY KEY,
    kind            text NOT NULL,
    recipient       text NOT NULL,
    subject         text NOT NULL,
    body            text NOT NULL,
    html            text NOT NULL DEFAULT '',
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    failed_at       timestamptz,
    last_error      text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX mail_outbox_due_idx ON mail_outbox (next_attempt_at)
    WHERE sent_at IS NULL AND failed_at IS NULL;
CREATE INDEX mail_outbox_created_idx ON mail_outbox (created_at);
