-- Display names, filled in for the users there are, and a first user.
ALTER TABLE users ADD COLUMN display_name text;
UPDATE users SET display_name = split_part(email, '@', 1);
ALTER TABLE users ALTER COLUMN display_name SET NOT NULL;
INSERT INTO users (email, display_name) VALUES ('admin@example.org', 'admin');
