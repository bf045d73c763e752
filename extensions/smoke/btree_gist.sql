-- btree_gist: GiST on scalar types, in an exclusion constraint.
CREATE TABLE smoke_rooms (room int4, during tsrange, EXCLUDE USING gist (room WITH =, during WITH &&));
INSERT INTO smoke_rooms VALUES (1, '[2024-01-01 10:00, 2024-01-01 11:00)');
-- check
SELECT count(*) = 1 FROM smoke_rooms WHERE room = 1;
SELECT (SELECT count(*) FROM pg_constraint WHERE conrelid = 'smoke_rooms'::regclass AND contype = 'x') = 1;
