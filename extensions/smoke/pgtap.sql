-- pgtap: the TAP output of a plan, a passing and a failing assertion, and
-- finish()'s count (the run's state is the session's).
-- check
SELECT plan(2) = '1..2';
SELECT ok(true) = 'ok 1';
SELECT is(1, 2, 'one is two') LIKE 'not ok 2 - one is two%';
SELECT string_agg(line, E'\n') = '# Looks like you failed 1 test of 2' FROM finish() AS line;
