-- pageinspect: raw pages of a table and an index.
CREATE TABLE smoke_pages (i int PRIMARY KEY, t text);
INSERT INTO smoke_pages SELECT i, 'row ' || i FROM generate_series(1, 10) i;
CHECKPOINT;
-- check
SELECT count(*) = 10 FROM heap_page_items(get_raw_page('smoke_pages', 0)) WHERE lp_flags = 1;
SELECT (bt_metap('smoke_pages_pkey')).magic = 340322;
SELECT (page_header(get_raw_page('smoke_pages', 0))).pagesize = 8192;
