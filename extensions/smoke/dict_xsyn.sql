-- dict_xsyn: an extended synonym dictionary (its sample rules file).
ALTER TEXT SEARCH DICTIONARY xsyn (RULES = 'xsyn_sample', KEEPORIG = false, MATCHSYNONYMS = true);
-- check
SELECT ts_lexize('xsyn', 'supernova') = ARRAY['sn', 'sne', '1987a'];
