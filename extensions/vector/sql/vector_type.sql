-- text input and output
SELECT '[1,2,3]'::vector;
SELECT ' [ 1 , -2.5 ,3e-7 ] '::vector;
SELECT '[0.1,1e10,-0]'::vector;
SELECT '[]'::vector;
SELECT '[1,'::vector;
SELECT '1,2'::vector;
SELECT '[1,,2]'::vector;
SELECT '[1,2] x'::vector;
SELECT '[a]'::vector;
SELECT '[NaN]'::vector;
SELECT '[Infinity]'::vector;
SELECT '[1e39]'::vector;

-- type modifier
SELECT '[1,2,3]'::vector(3);
SELECT '[1,2]'::vector(3);
SELECT '[1,2]'::vector(0);
SELECT '[1,2]'::vector(16001);
CREATE TABLE typmod_t (v vector(3));
INSERT INTO typmod_t VALUES ('[1,2,3]');
INSERT INTO typmod_t VALUES ('[1,2]');
SELECT format_type(atttypid, atttypmod) FROM pg_attribute
  WHERE attrelid = 'typmod_t'::regclass AND attname = 'v';
DROP TABLE typmod_t;

-- binary output: int16 dim, int16 unused, float4 values, network order
SELECT vector_send('[1,2]');

-- distances and functions
SELECT l2_distance('[0,0]', '[3,4]'), '[0,0]'::vector <-> '[3,4]';
SELECT inner_product('[1,2]', '[3,4]'), '[1,2]'::vector <#> '[3,4]';
SELECT cosine_distance('[1,2]', '[2,4]'), cosine_distance('[1,0]', '[0,1]'),
       '[1,0]'::vector <=> '[-1,0]';
SELECT cosine_distance('[0,0]', '[1,1]');
SELECT l1_distance('[0,0]', '[3,-4]'), '[0,0]'::vector <+> '[3,-4]';
SELECT l2_distance('[1,2]', '[1,2,3]');
SELECT vector_dims('[1,2,3]'), vector_norm('[3,4]');
SELECT l2_normalize('[3,4]'), l2_normalize('[0,0]');
SELECT subvector('[1,2,3,4,5]', 2, 3), subvector('[1,2,3]', 3, 10);
SELECT subvector('[1,2,3]', 4, 1);

-- arithmetic
SELECT '[1,2]'::vector + '[3,4]', '[1,2]'::vector - '[3,5]', '[1,2]'::vector * '[3,4]';
SELECT '[1,2]'::vector || '[3]';
SELECT '[3e38]'::vector + '[3e38]';
SELECT '[1e-30]'::vector * '[1e-30]';
SELECT '[1,2]'::vector + '[1]';

-- comparison and btree
SELECT '[1,2]'::vector < '[1,3]', '[1,2]'::vector = '[1,2]', '[1,2]'::vector < '[1,2,0]',
       '[2]'::vector > '[1,9]', '[1,2]'::vector <> '[1,2]';
CREATE TABLE cmp_t (v vector);
INSERT INTO cmp_t VALUES ('[2,1]'), ('[1,2,3]'), ('[1,2]'), ('[0]');
CREATE INDEX ON cmp_t (v);
SELECT v FROM cmp_t ORDER BY v;
DROP TABLE cmp_t;

-- casts
SELECT ARRAY[1,2,3]::vector, ARRAY[1.5,2.5]::real[]::vector,
       ARRAY[1.25,2]::double precision[]::vector, ARRAY[1.5,2]::numeric[]::vector;
SELECT '[1,2.5]'::vector::real[], '[1,2.5]'::vector::double precision[];
SELECT ARRAY[1,2]::vector(3);
SELECT ARRAY[1,NULL]::vector;
SELECT ARRAY[[1,2],[3,4]]::vector;
SELECT ARRAY[1e300]::double precision[]::vector;
SELECT '{}'::real[]::vector;

-- aggregates
SELECT avg(v), sum(v) FROM (VALUES ('[1,2]'::vector), ('[3,6]'), ('[2,1]')) t(v);
SELECT avg(v), sum(v) FROM (VALUES ('[1,2]'::vector)) t(v) WHERE false;
SELECT avg(v) FROM (VALUES ('[1,2]'::vector), ('[3]')) t(v);
SELECT sum(v) FROM (VALUES ('[1,2]'::vector), ('[3]')) t(v);
