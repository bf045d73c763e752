-- cube: n-dimensional boxes, distance, and a GiST index.
CREATE TABLE smoke_cubes (c cube);
INSERT INTO smoke_cubes SELECT cube(ARRAY[i, i]) FROM generate_series(1, 100) i;
CREATE INDEX smoke_cubes_gist ON smoke_cubes USING gist (c);
-- check
SELECT cube_distance('(0,0)'::cube, '(3,4)'::cube) = 5;
SELECT '(1,1),(3,3)'::cube @> '(2,2)'::cube;
SELECT (SELECT c FROM smoke_cubes ORDER BY c <-> '(50.2,50.2)'::cube LIMIT 1) = '(50, 50)'::cube;
