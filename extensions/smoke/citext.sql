-- citext: case-insensitive text, in a unique index.
CREATE TABLE smoke_users (email citext PRIMARY KEY);
INSERT INTO smoke_users VALUES ('Alice@Example.com');
-- check
SELECT 'ABC'::citext = 'abc'::citext;
SELECT count(*) = 1 FROM smoke_users WHERE email = 'alice@example.COM';
SELECT NOT EXISTS (SELECT 1 FROM smoke_users WHERE email = 'bob@example.com');
