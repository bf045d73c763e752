-- seg: line segments / intervals with a GiST index.
CREATE TABLE smoke_segs (s seg);
INSERT INTO smoke_segs VALUES ('1 .. 2'), ('5 .. 7');
CREATE INDEX smoke_segs_gist ON smoke_segs USING gist (s);
-- check
SELECT '1.5'::seg <@ '1 .. 2'::seg;
SELECT count(*) = 1 FROM smoke_segs WHERE s @> '6'::seg;
SELECT seg_lower('5 .. 7'::seg) = 5;
