-- ltree: label paths, lquery matching and a GiST index.
CREATE TABLE smoke_tree (path ltree);
INSERT INTO smoke_tree VALUES ('Top'), ('Top.Science'), ('Top.Science.Astronomy'), ('Top.Hobbies');
CREATE INDEX smoke_tree_gist ON smoke_tree USING gist (path);
-- check
SELECT nlevel('Top.Science.Astronomy'::ltree) = 3;
SELECT count(*) = 3 FROM smoke_tree WHERE path <@ 'Top.Science' OR path ~ '*.Hobbies';
SELECT subpath('Top.Science.Astronomy'::ltree, 1) = 'Science.Astronomy'::ltree;
