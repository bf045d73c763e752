-- pg_visibility: the visibility map after a VACUUM.
CREATE TABLE smoke_vis (i int);
INSERT INTO smoke_vis SELECT generate_series(1, 1000);
VACUUM (FREEZE) smoke_vis;
-- check
SELECT all_visible > 0 FROM pg_visibility_map_summary('smoke_vis');
SELECT count(*) = 0 FROM pg_check_visible('smoke_vis');
