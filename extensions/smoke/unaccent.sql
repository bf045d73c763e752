-- unaccent: its rules file and a text search dictionary.
-- check
SELECT unaccent('Hôtel Crème Brûlée') = 'Hotel Creme Brulee';
SELECT ts_lexize('unaccent', 'élève') = ARRAY['eleve'];
