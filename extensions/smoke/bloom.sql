-- bloom: an index access method of bloom signatures.
CREATE TABLE smoke_bloom (a int, b int, c int);
INSERT INTO smoke_bloom SELECT i, i % 7, i % 13 FROM generate_series(1, 2000) i;
CREATE INDEX smoke_bloom_idx ON smoke_bloom USING bloom (a, b, c);
ANALYZE smoke_bloom;
-- check
SET enable_seqscan = off;
SELECT count(*) = 1 FROM smoke_bloom WHERE a = 1000 AND b = 1000 % 7;
RESET enable_seqscan;
SELECT amname = 'bloom' FROM pg_am WHERE amname = 'bloom';
