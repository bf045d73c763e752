-- pg_trgm: trigram similarity, and a GiST index the planner uses for
-- nearest-neighbour order.
CREATE TABLE smoke_names (n text);
INSERT INTO smoke_names SELECT 'name' || i FROM generate_series(1, 500) i;
INSERT INTO smoke_names VALUES ('postgres'), ('postgis'), ('sqlite');
CREATE INDEX smoke_names_trgm ON smoke_names USING gist (n gist_trgm_ops);
ANALYZE smoke_names;
-- check
SELECT similarity('word', 'words') BETWEEN 0.57 AND 0.58;
SELECT show_trgm('cat') = ARRAY['  c', ' ca', 'at ', 'cat'];
SET enable_seqscan = off;
SELECT n = 'postgres' FROM smoke_names ORDER BY n <-> 'postgre' LIMIT 1;
SELECT count(*) = 1 FROM smoke_names WHERE n % 'sqlit';
RESET enable_seqscan;
