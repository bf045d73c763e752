-- pg_stat_statements: statistics of the statements run.
-- check
SELECT count(*) >= 0 FROM pg_stat_statements;
SELECT count(*) > 0 FROM pg_stat_statements WHERE query LIKE 'SELECT count(*) >= %';
