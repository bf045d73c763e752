-- index build, ordering scans and the planner
CREATE TABLE items (id int PRIMARY KEY, embedding vector(3));
INSERT INTO items VALUES (1, '[1,1,1]'), (2, '[2,2,2]'), (3, '[1,1,2]'), (4, '[-1,0,5]'), (5, NULL);
CREATE INDEX items_l2 ON items USING hnsw (embedding vector_l2_ops);
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM items ORDER BY embedding <-> '[3,3,3]' LIMIT 2;
SELECT id, embedding <-> '[3,3,3]' AS d FROM items ORDER BY embedding <-> '[3,3,3]' LIMIT 3;

-- inserts after the build, NULLs stay out of the index
INSERT INTO items VALUES (6, '[3,3,3]'), (7, NULL);
SELECT id FROM items ORDER BY embedding <-> '[3,3,3]' LIMIT 10;
SELECT id FROM items ORDER BY embedding <-> '[1,2]' LIMIT 1;

-- the other operator classes
CREATE INDEX items_ip ON items USING hnsw (embedding vector_ip_ops);
CREATE INDEX items_cos ON items USING hnsw (embedding vector_cosine_ops);
CREATE INDEX items_l1 ON items USING hnsw (embedding vector_l1_ops);
EXPLAIN (COSTS OFF) SELECT id FROM items ORDER BY embedding <#> '[1,1,0.5]' LIMIT 4;
SELECT id FROM items ORDER BY embedding <#> '[1,1,0.5]' LIMIT 4;
EXPLAIN (COSTS OFF) SELECT id FROM items ORDER BY embedding <=> '[1,1,1]' LIMIT 3;
SELECT id FROM items ORDER BY embedding <=> '[1,1,1]', id LIMIT 3;
EXPLAIN (COSTS OFF) SELECT id FROM items ORDER BY embedding <+> '[1,1,1]' LIMIT 3;
SELECT id FROM items ORDER BY embedding <+> '[1,1,1]' LIMIT 3;
SELECT amvalidate(oid) FROM pg_opclass
  WHERE opcmethod = (SELECT oid FROM pg_am WHERE amname = 'hnsw') ORDER BY opcname;

-- deleted rows are never returned, before or after vacuum
DELETE FROM items WHERE id IN (2, 6);
SELECT id FROM items ORDER BY embedding <-> '[3,3,3]' LIMIT 10;
VACUUM items;
SELECT id FROM items ORDER BY embedding <-> '[3,3,3]' LIMIT 10;
INSERT INTO items VALUES (8, '[2,2,2]');
SELECT id FROM items ORDER BY embedding <-> '[3,3,3]' LIMIT 10;
RESET enable_seqscan;
DROP TABLE items;

-- options and settings
CREATE TABLE opts (embedding vector(3));
CREATE INDEX ON opts USING hnsw (embedding vector_l2_ops) WITH (m = 1);
CREATE INDEX ON opts USING hnsw (embedding vector_l2_ops) WITH (m = 101);
CREATE INDEX ON opts USING hnsw (embedding vector_l2_ops) WITH (ef_construction = 3);
CREATE INDEX ON opts USING hnsw (embedding vector_l2_ops) WITH (m = 32, ef_construction = 32);
CREATE INDEX ON opts USING hnsw (embedding vector_l2_ops) WITH (m = 4, ef_construction = 8);
SHOW hnsw.ef_search;
SET hnsw.ef_search = 0;
SET hnsw.ef_search = 1001;
SET hnsw.ef_search = 10;
SHOW hnsw.ef_search;
RESET hnsw.ef_search;
CREATE TABLE nodims (embedding vector);
CREATE INDEX ON nodims USING hnsw (embedding vector_l2_ops);
CREATE TABLE bigdims (embedding vector(2001));
CREATE INDEX ON bigdims USING hnsw (embedding vector_l2_ops);
DROP TABLE opts, nodims, bigdims;

-- an index built empty, then filled; an unlogged table
CREATE UNLOGGED TABLE grow (id int, embedding vector(2));
CREATE INDEX ON grow USING hnsw (embedding vector_l2_ops) WITH (m = 2, ef_construction = 4);
INSERT INTO grow SELECT i, ARRAY[i % 37, i / 37]::vector FROM generate_series(1, 1000) i;
SET enable_seqscan = off;
SELECT id, embedding FROM grow ORDER BY embedding <-> '[10.2,20.1]' LIMIT 3;
RESET enable_seqscan;

-- recall on a larger random set against exact search
SELECT setseed(0.5);
CREATE TABLE rnd (id int, embedding vector(16));
INSERT INTO rnd SELECT i, (SELECT array_agg(random()) FROM generate_series(1, 16) WHERE i > 0)
  FROM generate_series(1, 2000) i;
CREATE INDEX ON rnd USING hnsw (embedding vector_l2_ops);
CREATE TABLE rnd_q AS SELECT q, (SELECT array_agg(random()) FROM generate_series(1, 16) WHERE q > 0)::vector(16) AS v
  FROM generate_series(1, 20) q;
SET enable_indexscan = off;
CREATE TABLE rnd_exact AS SELECT q, id FROM rnd_q CROSS JOIN LATERAL
  (SELECT id FROM rnd ORDER BY embedding <-> v LIMIT 10) n;
RESET enable_indexscan;
SET enable_seqscan = off;
CREATE TABLE rnd_approx AS SELECT q, id FROM rnd_q CROSS JOIN LATERAL
  (SELECT id FROM rnd ORDER BY embedding <-> v LIMIT 10) n;
SELECT count(*) >= 190 AS recall_at_least_95 FROM rnd_approx JOIN rnd_exact USING (q, id);
RESET enable_seqscan;
DROP TABLE grow, rnd, rnd_q, rnd_exact, rnd_approx;
