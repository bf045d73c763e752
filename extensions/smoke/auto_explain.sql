-- auto_explain: a module loaded with LOAD (no control file); its settings
-- exist once it is loaded, and its executor hooks run.
-- check
LOAD 'auto_explain';
SET auto_explain.log_min_duration = 0;
SET auto_explain.log_level = 'debug1';
SELECT current_setting('auto_explain.log_min_duration') = '0';
SELECT count(*) = 3 FROM generate_series(1, 3);
RESET auto_explain.log_min_duration;
RESET auto_explain.log_level;
