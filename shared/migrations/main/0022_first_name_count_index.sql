-- GET /customers/count?firstName=… at half the cost for a common name (issue 14).
--
-- A count with one filter is an index-only scan of every live customer with that value. First
-- names are the most concentrated value customers are filtered on: in the 1M-customer bench
-- tenant the most common is held by 56,864 customers (146 distinct first names; the most common
-- last name by 136). customers_first_name_idx carries id after the name, for the firstName sort,
-- so each of its entries is a tuple of its own; this index keeps the name alone and PostgreSQL
-- deduplicates it into one posting list per name. Counting the 56,864: 9.5 ms through
-- customers_first_name_idx, 4.5 ms through this one (bench database, warm, no JIT).
--
-- Since 0021 an update that keeps the name does not touch any index, so the extra cost is one
-- entry per insert and per change of name. Built under a lock that holds writes back for the
-- build (2.4 s at 1.5M customers on two cores).
CREATE INDEX customers_first_name_count_idx
    ON customer.customers (tenant_id, first_name) WHERE NOT deleted;
