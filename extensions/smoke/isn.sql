-- isn: ISBN, EAN and other product numbers, validated.
CREATE TABLE smoke_books (isbn isbn13 PRIMARY KEY);
INSERT INTO smoke_books VALUES ('978-0-306-40615-7');
-- check
SELECT is_valid('978-0-306-40615-7'::isbn13);
SELECT '9780306406157'::ean13::text = '978-0-306-40615-7';
SELECT count(*) = 1 FROM smoke_books;
