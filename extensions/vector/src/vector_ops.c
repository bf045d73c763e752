/*
 * vector_ops.c
 *		Distances, arithmetic, comparison and aggregates over vectors.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/float.h"
#include "vector.h"

/* ---- distances ---- */

PG_FUNCTION_INFO_V1(l2_distance);
Datum
l2_distance(PG_FUNCTION_ARGS)
{
	Vector	   *a = PG_GETARG_VECTOR_P(0);
	Vector	   *b = PG_GETARG_VECTOR_P(1);

	vector_check_dims(a, b);
	PG_RETURN_FLOAT8(sqrt((double) vector_l2_squared_kernel(a->dim, a->x, b->x)));
}

/* Monotonic in l2_distance and cheaper: what the HNSW l2 opclass ranks by. */
PG_FUNCTION_INFO_V1(vector_l2_squared_distance);
Datum
vector_l2_squared_distance(PG_FUNCTION_ARGS)
{
	Vector	   *a = PG_GETARG_VECTOR_P(0);
	Vector	   *b = PG_GETARG_VECTOR_P(1);

	vector_check_dims(a, b);
	PG_RETURN_FLOAT8((double) vector_l2_squared_kernel(a->dim, a->x, b->x));
}

PG_FUNCTION_INFO_V1(inner_product);
Datum
inner_product(PG_FUNCTION_ARGS)
{
	Vector	   *a = PG_GETARG_VECTOR_P(0);
	Vector	   *b = PG_GETARG_VECTOR_P(1);

	vector_check_dims(a, b);
	PG_RETURN_FLOAT8((double) vector_dot_kernel(a->dim, a->x, b->x));
}

PG_FUNCTION_INFO_V1(vector_negative_inner_product);
Datum
vector_negative_inner_product(PG_FUNCTION_ARGS)
{
	Vector	   *a = PG_GETARG_VECTOR_P(0);
	Vector	   *b = PG_GETARG_VECTOR_P(1);

	vector_check_dims(a, b);
	PG_RETURN_FLOAT8(-(double) vector_dot_kernel(a->dim, a->x, b->x));
}

/* NaN when either vector has zero norm, as the angle is undefined. */
PG_FUNCTION_INFO_V1(cosine_distance);
Datum
cosine_distance(PG_FUNCTION_ARGS)
{
	Vector	   *a = PG_GETARG_VECTOR_P(0);
	Vector	   *b = PG_GETARG_VECTOR_P(1);
	double		dot;
	double		norms;
	double		similarity;

	vector_check_dims(a, b);
	dot = vector_dot_kernel(a->dim, a->x, b->x);
	norms = (double) vector_dot_kernel(a->dim, a->x, a->x) *
		(double) vector_dot_kernel(b->dim, b->x, b->x);
	if (norms == 0)
		PG_RETURN_FLOAT8(get_float8_nan());

	similarity = dot / sqrt(norms);
	/* rounding can push it just outside [-1, 1] */
	if (similarity > 1)
		similarity = 1;
	else if (similarity < -1)
		similarity = -1;
	PG_RETURN_FLOAT8(1 - similarity);
}

PG_FUNCTION_INFO_V1(l1_distance);
Datum
l1_distance(PG_FUNCTION_ARGS)
{
	Vector	   *a = PG_GETARG_VECTOR_P(0);
	Vector	   *b = PG_GETARG_VECTOR_P(1);
	float		sum = 0;

	vector_check_dims(a, b);
	for (int i = 0; i < a->dim; i++)
		sum += fabsf(a->x[i] - b->x[i]);
	PG_RETURN_FLOAT8((double) sum);
}

PG_FUNCTION_INFO_V1(vector_dims);
Datum
vector_dims(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(PG_GETARG_VECTOR_P(0)->dim);
}

static double
norm_of(const Vector *v)
{
	double		sum = 0;

	for (int i = 0; i < v->dim; i++)
		sum += (double) v->x[i] * (double) v->x[i];
	return sqrt(sum);
}

PG_FUNCTION_INFO_V1(vector_norm);
Datum
vector_norm(PG_FUNCTION_ARGS)
{
	PG_RETURN_FLOAT8(norm_of(PG_GETARG_VECTOR_P(0)));
}

/* A zero vector has no direction; it normalizes to itself. */
PG_FUNCTION_INFO_V1(l2_normalize);
Datum
l2_normalize(PG_FUNCTION_ARGS)
{
	Vector	   *a = PG_GETARG_VECTOR_P(0);
	Vector	   *result = vector_new(a->dim);
	double		norm = norm_of(a);

	for (int i = 0; i < a->dim; i++)
		result->x[i] = norm > 0 ? (float) (a->x[i] / norm) : 0;
	PG_RETURN_VECTOR_P(result);
}

/* ---- arithmetic ---- */

static void
check_finite_result(const Vector *v)
{
	for (int i = 0; i < v->dim; i++)
		if (isinf(v->x[i]))
			float_overflow_error();
}

PG_FUNCTION_INFO_V1(vector_add);
Datum
vector_add(PG_FUNCTION_ARGS)
{
	Vector	   *a = PG_GETARG_VECTOR_P(0);
	Vector	   *b = PG_GETARG_VECTOR_P(1);
	Vector	   *result;

	vector_check_dims(a, b);
	result = vector_new(a->dim);
	for (int i = 0; i < a->dim; i++)
		result->x[i] = a->x[i] + b->x[i];
	check_finite_result(result);
	PG_RETURN_VECTOR_P(result);
}

PG_FUNCTION_INFO_V1(vector_sub);
Datum
vector_sub(PG_FUNCTION_ARGS)
{
	Vector	   *a = PG_GETARG_VECTOR_P(0);
	Vector	   *b = PG_GETARG_VECTOR_P(1);
	Vector	   *result;

	vector_check_dims(a, b);
	result = vector_new(a->dim);
	for (int i = 0; i < a->dim; i++)
		result->x[i] = a->x[i] - b->x[i];
	check_finite_result(result);
	PG_RETURN_VECTOR_P(result);
}

/* Element-wise product. */
PG_FUNCTION_INFO_V1(vector_mul);
Datum
vector_mul(PG_FUNCTION_ARGS)
{
	Vector	   *a = PG_GETARG_VECTOR_P(0);
	Vector	   *b = PG_GETARG_VECTOR_P(1);
	Vector	   *result;

	vector_check_dims(a, b);
	result = vector_new(a->dim);
	for (int i = 0; i < a->dim; i++)
	{
		result->x[i] = a->x[i] * b->x[i];
		if (result->x[i] == 0 && a->x[i] != 0 && b->x[i] != 0)
			float_underflow_error();
	}
	check_finite_result(result);
	PG_RETURN_VECTOR_P(result);
}

PG_FUNCTION_INFO_V1(vector_concat);
Datum
vector_concat(PG_FUNCTION_ARGS)
{
	Vector	   *a = PG_GETARG_VECTOR_P(0);
	Vector	   *b = PG_GETARG_VECTOR_P(1);
	int			dim = a->dim + b->dim;
	Vector	   *result;

	if (dim > VECTOR_MAX_DIM)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("vector cannot have more than %d dimensions", VECTOR_MAX_DIM)));
	result = vector_new(dim);
	memcpy(result->x, a->x, sizeof(float) * a->dim);
	memcpy(result->x + a->dim, b->x, sizeof(float) * b->dim);
	PG_RETURN_VECTOR_P(result);
}

/* subvector(v, start, count): 1-based start, clipped to the vector. */
PG_FUNCTION_INFO_V1(subvector);
Datum
subvector(PG_FUNCTION_ARGS)
{
	Vector	   *a = PG_GETARG_VECTOR_P(0);
	int64		start = PG_GETARG_INT32(1);
	int64		end = start + (int64) PG_GETARG_INT32(2);
	Vector	   *result;

	if (start < 1)
		start = 1;
	if (end > a->dim + 1)
		end = a->dim + 1;
	if (end <= start)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("vector must have at least 1 dimension")));
	result = vector_new((int) (end - start));
	memcpy(result->x, a->x + (start - 1), sizeof(float) * result->dim);
	PG_RETURN_VECTOR_P(result);
}

/* ---- comparison (btree) ---- */

/* Element-wise order, then a shorter vector before its extensions. */
static int
vector_compare(const Vector *a, const Vector *b)
{
	int			n = Min(a->dim, b->dim);

	for (int i = 0; i < n; i++)
	{
		if (a->x[i] < b->x[i])
			return -1;
		if (a->x[i] > b->x[i])
			return 1;
	}
	return (a->dim > b->dim) - (a->dim < b->dim);
}

#define VECTOR_COMPARISON(name, test) \
PG_FUNCTION_INFO_V1(name); \
Datum \
name(PG_FUNCTION_ARGS) \
{ \
	int			c = vector_compare(PG_GETARG_VECTOR_P(0), PG_GETARG_VECTOR_P(1)); \
	PG_RETURN_BOOL(test); \
}

VECTOR_COMPARISON(vector_lt, c < 0)
VECTOR_COMPARISON(vector_le, c <= 0)
VECTOR_COMPARISON(vector_eq, c == 0)
VECTOR_COMPARISON(vector_ne, c != 0)
VECTOR_COMPARISON(vector_ge, c >= 0)
VECTOR_COMPARISON(vector_gt, c > 0)

PG_FUNCTION_INFO_V1(vector_cmp);
Datum
vector_cmp(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(vector_compare(PG_GETARG_VECTOR_P(0), PG_GETARG_VECTOR_P(1)));
}

/* ---- avg aggregate: state is float8[] {count, sum_1, ..., sum_dim} ---- */

static float8 *
state_values(ArrayType *state, int *n)
{
	if (ARR_NDIM(state) != 1 || ARR_HASNULL(state) ||
		ARR_ELEMTYPE(state) != FLOAT8OID || ARR_DIMS(state)[0] < 1)
		elog(ERROR, "vector aggregate state is not a non-empty float8 array");
	*n = ARR_DIMS(state)[0];
	return (float8 *) ARR_DATA_PTR(state);
}

static ArrayType *
state_build(const float8 *values, int n)
{
	Datum	   *elems = palloc(sizeof(Datum) * n);

	for (int i = 0; i < n; i++)
		elems[i] = Float8GetDatum(values[i]);
	return construct_array(elems, n, FLOAT8OID, sizeof(float8),
						   FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
}

static void
state_check_dims(int expected, int actual)
{
	if (expected != actual)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("expected %d dimensions, not %d", expected, actual)));
}

PG_FUNCTION_INFO_V1(vector_accum);
Datum
vector_accum(PG_FUNCTION_ARGS)
{
	int			n;
	float8	   *old = state_values(PG_GETARG_ARRAYTYPE_P(0), &n);
	Vector	   *v = PG_GETARG_VECTOR_P(1);
	float8	   *values;

	if (old[0] == 0)
		n = v->dim + 1;
	else
		state_check_dims(n - 1, v->dim);

	values = palloc0(sizeof(float8) * n);
	values[0] = old[0] + 1;
	for (int i = 0; i < v->dim; i++)
		values[i + 1] = (old[0] == 0 ? 0 : old[i + 1]) + (double) v->x[i];
	PG_RETURN_ARRAYTYPE_P(state_build(values, n));
}

PG_FUNCTION_INFO_V1(vector_combine);
Datum
vector_combine(PG_FUNCTION_ARGS)
{
	int			n1,
				n2;
	float8	   *s1 = state_values(PG_GETARG_ARRAYTYPE_P(0), &n1);
	float8	   *s2 = state_values(PG_GETARG_ARRAYTYPE_P(1), &n2);
	float8	   *values;

	if (s1[0] == 0)
		PG_RETURN_ARRAYTYPE_P(state_build(s2, n2));
	if (s2[0] == 0)
		PG_RETURN_ARRAYTYPE_P(state_build(s1, n1));
	state_check_dims(n1 - 1, n2 - 1);

	values = palloc(sizeof(float8) * n1);
	for (int i = 0; i < n1; i++)
		values[i] = s1[i] + s2[i];
	PG_RETURN_ARRAYTYPE_P(state_build(values, n1));
}

PG_FUNCTION_INFO_V1(vector_avg);
Datum
vector_avg(PG_FUNCTION_ARGS)
{
	int			n;
	float8	   *state = state_values(PG_GETARG_ARRAYTYPE_P(0), &n);
	Vector	   *result;

	if (state[0] == 0)
		PG_RETURN_NULL();

	result = vector_new(n - 1);
	for (int i = 0; i < n - 1; i++)
	{
		result->x[i] = (float) (state[i + 1] / state[0]);
		if (isinf(result->x[i]))
			float_overflow_error();
	}
	PG_RETURN_VECTOR_P(result);
}
