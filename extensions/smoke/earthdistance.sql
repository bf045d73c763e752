-- earthdistance: great-circle distances (requires cube, installed with it).
-- check
SELECT earth_distance(ll_to_earth(0, 0), ll_to_earth(0, 1)) BETWEEN 111000 AND 111500;
SELECT round((point(0, 0) <@> point(0, 1))::numeric) = 69;
SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'cube');
