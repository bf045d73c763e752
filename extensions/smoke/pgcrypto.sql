-- pgcrypto: a SHA-256 digest through libcrypto, a bcrypt hash that
-- verifies, an OpenPGP round trip.
CREATE EXTENSION pgcrypto;
SELECT encode(digest('abc', 'sha256'), 'hex') = 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'
   AND crypt('pw', s) = s
   AND pgp_sym_decrypt(pgp_sym_encrypt('hello', 'pw'), 'pw') = 'hello' AS ok
  FROM (SELECT crypt('pw', gen_salt('bf')) AS s) AS salted;
