-- pg_freespacemap: the free space map of a vacuumed table.
CREATE TABLE smoke_fsm (i int, t text);
INSERT INTO smoke_fsm SELECT i, repeat('x', 100) FROM generate_series(1, 1000) i;
DELETE FROM smoke_fsm WHERE i % 2 = 0;
VACUUM smoke_fsm;
-- check
SELECT count(*) > 0 FROM pg_freespace('smoke_fsm');
SELECT sum(avail) > 0 FROM pg_freespace('smoke_fsm');
