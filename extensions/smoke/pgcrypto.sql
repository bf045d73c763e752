-- pgcrypto (OpenSSL's libcrypto): a SHA-256 digest, a bcrypt hash kept
-- across the restart that verifies, an OpenPGP round trip, random bytes.
CREATE TABLE smoke_users (name text PRIMARY KEY, hash text);
INSERT INTO smoke_users VALUES ('ada', crypt('secret', gen_salt('bf')));
-- check
SELECT encode(digest('abc', 'sha256'), 'hex') = 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad';
SELECT crypt('secret', hash) = hash AND crypt('wrong', hash) <> hash FROM smoke_users;
SELECT pgp_sym_decrypt(pgp_sym_encrypt('hello', 'pw'), 'pw') = 'hello';
SELECT gen_random_bytes(16) <> gen_random_bytes(16);
