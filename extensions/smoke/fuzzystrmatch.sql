-- fuzzystrmatch: edit distance and phonetic codes.
-- check
SELECT levenshtein('kitten', 'sitting') = 3;
SELECT soundex('Robert') = 'R163';
SELECT metaphone('GUMBO', 4) = 'KM';
SELECT dmetaphone('gumbo') = 'KMP';
