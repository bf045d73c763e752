-- btree_gin: GIN indexes on scalar types.
CREATE TABLE smoke_gin (i int4, t text);
INSERT INTO smoke_gin SELECT i, 'v' || i FROM generate_series(1, 1000) i;
CREATE INDEX smoke_gin_idx ON smoke_gin USING gin (i, t);
-- check
SET enable_seqscan = off;
SELECT count(*) = 1 FROM smoke_gin WHERE i = 500 AND t = 'v500';
RESET enable_seqscan;
