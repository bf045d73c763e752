-- dict_int: a dictionary for integers.
-- check
SELECT ts_lexize('intdict', '12345678') = ARRAY['123456'];
