-- pg_buffercache: the shared buffers' contents.
CREATE TABLE smoke_buffered (i int);
INSERT INTO smoke_buffered SELECT generate_series(1, 100);
-- check
SELECT count(*) > 0 FROM smoke_buffered;
SELECT count(*) > 0 FROM pg_buffercache WHERE relfilenode = pg_relation_filenode('smoke_buffered');
