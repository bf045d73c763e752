-- file_fdw: a foreign table over a CSV file the backend writes itself, in
-- its data directory (COPY TO a file wants an absolute path; file_fdw
-- reads a relative one from the data directory).
CREATE SERVER smoke_files FOREIGN DATA WRAPPER file_fdw;
DO $$ BEGIN
    EXECUTE format('COPY (SELECT i, %L || i FROM generate_series(1, 5) i) TO %L WITH (FORMAT csv)',
                   'line ', current_setting('data_directory') || '/smoke_file_fdw.csv');
END $$;
CREATE FOREIGN TABLE smoke_file (i int, t text) SERVER smoke_files
    OPTIONS (filename 'smoke_file_fdw.csv', format 'csv');
-- check
SELECT count(*) = 5 FROM smoke_file;
SELECT t = 'line 3' FROM smoke_file WHERE i = 3;
