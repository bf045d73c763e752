-- tablefunc: crosstab and normal_rand.
CREATE TABLE smoke_sales (region text, quarter text, amount int);
INSERT INTO smoke_sales VALUES ('north', 'q1', 10), ('north', 'q2', 20), ('south', 'q1', 30);
-- check
SELECT count(*) = 5 FROM normal_rand(5, 0, 1);
SELECT q2 = 20 FROM crosstab('SELECT region, quarter, amount FROM smoke_sales ORDER BY 1, 2')
    AS t(region text, q1 int, q2 int) WHERE region = 'north';
