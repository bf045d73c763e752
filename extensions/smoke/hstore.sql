-- hstore: key/value maps, operators and a GIN index.
CREATE TABLE smoke_kv (h hstore);
INSERT INTO smoke_kv VALUES ('a=>1, b=>2'), ('c=>3');
CREATE INDEX smoke_kv_gin ON smoke_kv USING gin (h);
-- check
SELECT ('a=>1, b=>2'::hstore -> 'b') = '2';
SELECT akeys('x=>1, y=>2'::hstore) = ARRAY['x', 'y'];
SELECT count(*) = 1 FROM smoke_kv WHERE h ? 'c';
SELECT (SELECT h FROM smoke_kv WHERE h @> 'a=>1') = 'b=>2, a=>1'::hstore;
