-- uuid-ossp: a name-based UUID of RFC 4122 and a random one of version 4.
CREATE EXTENSION "uuid-ossp";
SELECT uuid_generate_v5(uuid_ns_url(), 'x') = '4cd605e7-afa2-5360-b5b9-c5e9fb5c76f4'
   AND substr(uuid_generate_v4()::text, 15, 1) = '4'
   AND uuid_generate_v4() <> uuid_generate_v4() AS ok;
