-- uuid-ossp (libuuid): a name-based UUID of RFC 4122, random ones of
-- version 4, and a time-based one kept across the restart.
CREATE TABLE smoke_ids (id uuid PRIMARY KEY DEFAULT uuid_generate_v1(), n int);
INSERT INTO smoke_ids (n) SELECT generate_series(1, 10);
-- check
SELECT uuid_generate_v5(uuid_ns_url(), 'x') = '4cd605e7-afa2-5360-b5b9-c5e9fb5c76f4';
SELECT substr(uuid_generate_v4()::text, 15, 1) = '4';
SELECT uuid_generate_v4() <> uuid_generate_v4();
SELECT count(DISTINCT id) = 10 AND bool_and(substr(id::text, 15, 1) = '1') FROM smoke_ids;
