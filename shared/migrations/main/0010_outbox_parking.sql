-- Parking poison outbox rows.
--
-- The relay claims unsent rows in order and published them in one pipeline: one row the broker
-- always refuses (an exchange that does not exist, a name it cannot encode) failed its batch
-- forever, and every tenant's events behind it, customer.deleted included, waited with it. A
-- refused publish now counts against its row (`attempts`, and the error's kind, never the
-- payload, in `last_error`); at OUTBOX_MAX_ATTEMPTS the row is parked: it stays in the table,
-- unsent, out of the relay's way, until an operator has fixed the cause and clears `parked_at`.
--
-- Constant defaults are stored in the catalogue only: adding the columns rewrites nothing.
ALTER TABLE customer.outbox
    ADD COLUMN attempts integer NOT NULL DEFAULT 0,
    ADD COLUMN last_error text,
    ADD COLUMN parked_at timestamptz;

-- The relay's claim walks only rows still to publish. Building it scans the outbox once while
-- outbox inserts wait: on a large outbox, run the migration in a quiet moment.
DROP INDEX customer.outbox_unsent_idx;
CREATE INDEX outbox_unsent_idx ON customer.outbox (priority, id)
    WHERE sent_at IS NULL AND parked_at IS NULL;
-- The parked rows, for the metrics gauge and for operators.
CREATE INDEX outbox_parked_idx ON customer.outbox (id) WHERE parked_at IS NOT NULL;
