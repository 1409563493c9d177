-- Outbox priorities, and the request id a queued message was written for.
--
-- One FIFO outbox made everything wait behind an import: 80,000 customer.created rows took ~25 s
-- to publish, and meanwhile a 1-row batch's `customers.import` message and a customer.deleted
-- (whose wishlists must be de-identified within seconds, API.md §5) queued behind them. The
-- importer's per-row customer events now carry priority 1; everything else keeps 0, and the relay
-- claims `ORDER BY priority, id`, so an interactive change or a queued batch overtakes a backlog.
-- Events of different priorities may therefore be published out of commit order (as they could
-- already be with several relays side by side): consumers must not rely on order across events.
--
-- A constant default is stored in the catalogue only: adding the columns rewrites nothing.
ALTER TABLE customer.outbox
    ADD COLUMN priority smallint NOT NULL DEFAULT 0,
    -- API.md §1: the request id must reach the logs of every service that handles the request,
    -- so a message queued by a request carries it (as an AMQP header) to the worker.
    ADD COLUMN request_id text;

-- The relay's claim walks this index in (priority, id) order and stops at its batch size.
-- Building it scans the whole outbox (sent history too) while outbox inserts wait: on a large
-- outbox, run the migration in a quiet moment.
DROP INDEX customer.outbox_unsent_idx;
CREATE INDEX outbox_unsent_idx ON customer.outbox (priority, id) WHERE sent_at IS NULL;
