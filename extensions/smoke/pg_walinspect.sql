-- pg_walinspect: the records of the write-ahead log written by the setup.
CREATE TABLE smoke_wal (lsn pg_lsn);
INSERT INTO smoke_wal SELECT pg_current_wal_lsn();
CREATE TABLE smoke_wal_after (i int);
INSERT INTO smoke_wal_after SELECT generate_series(1, 100);
-- check
SELECT count(*) > 0 FROM pg_get_wal_records_info((SELECT lsn FROM smoke_wal), pg_current_wal_lsn()) WHERE resource_manager = 'Heap';
SELECT sum(count) > 0 FROM pg_get_wal_stats((SELECT lsn FROM smoke_wal), pg_current_wal_lsn());
