-- intarray: integer array operators and a GiST index.
CREATE TABLE smoke_ints (a int4[]);
INSERT INTO smoke_ints VALUES ('{1,2,3}'), ('{4,5}');
CREATE INDEX smoke_ints_gist ON smoke_ints USING gist (a gist__int_ops);
-- check
SELECT sort('{3,1,2}'::int4[]) = '{1,2,3}'::int4[];
SELECT icount('{1,2,3}'::int4[]) = 3;
SELECT count(*) = 1 FROM smoke_ints WHERE a @@ '1&2'::query_int;
