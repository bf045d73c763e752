-- pg_surgery: freezing a tuple by its TID.
CREATE TABLE smoke_surgery (i int);
INSERT INTO smoke_surgery VALUES (1), (2);
SELECT heap_force_freeze('smoke_surgery'::regclass, ARRAY['(0,1)']::tid[]);
-- check
SELECT count(*) = 2 FROM smoke_surgery;
SELECT xmin::text = '2' FROM smoke_surgery WHERE ctid = '(0,1)';
