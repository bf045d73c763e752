-- vector: the type's text input, its operators, an aggregate, and an HNSW
-- index the planner uses for nearest-neighbour order (hnsw.ef_search is
-- the module's setting, defined when the library loads).
CREATE TABLE smoke_items (id int PRIMARY KEY, embedding vector(3));
INSERT INTO smoke_items SELECT i, ARRAY[i, i % 7, i % 13]::vector FROM generate_series(1, 500) i;
CREATE INDEX smoke_items_hnsw ON smoke_items USING hnsw (embedding vector_l2_ops);
ANALYZE smoke_items;
-- check
SELECT '[1,2,3]'::vector <-> '[1,2,5]' = 2;
SELECT '[3,4]'::vector <=> '[6,8]' < 1e-6;
SELECT avg(v) = '[2,4]' FROM (VALUES ('[1,2]'::vector), ('[3,6]')) AS t(v);
SET hnsw.ef_search = 100;
SET enable_seqscan = off;
SELECT id = 42 FROM smoke_items ORDER BY embedding <-> '[42,0,3]' LIMIT 1;
RESET enable_seqscan;
RESET hnsw.ef_search;
