-- tsm_system_time: TABLESAMPLE by time spent.
CREATE TABLE smoke_sample_time (i int);
INSERT INTO smoke_sample_time SELECT generate_series(1, 1000);
-- check
SELECT count(*) <= 1000 FROM smoke_sample_time TABLESAMPLE system_time(1000);
