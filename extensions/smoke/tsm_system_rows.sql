-- tsm_system_rows: TABLESAMPLE by row count.
CREATE TABLE smoke_sample (i int);
INSERT INTO smoke_sample SELECT generate_series(1, 1000);
-- check
SELECT count(*) = 10 FROM smoke_sample TABLESAMPLE system_rows(10);
