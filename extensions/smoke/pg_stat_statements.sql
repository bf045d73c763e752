-- pg_stat_statements: statistics of the statements run. Needs the library
-- in shared_preload_libraries when the backend starts (its shared memory).
-- check
SELECT count(*) >= 0 FROM pg_stat_statements;
SELECT sum(calls) > 0 FROM pg_stat_statements;
