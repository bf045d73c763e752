-- amcheck: B-tree and heap verification.
CREATE TABLE smoke_checked (i int PRIMARY KEY);
INSERT INTO smoke_checked SELECT generate_series(1, 1000);
-- check
SELECT bt_index_check('smoke_checked_pkey'::regclass, true)::text = '';
SELECT count(*) = 0 FROM verify_heapam('smoke_checked');
