/*
 * vector.h
 *		The vector type: a fixed-length array of float4, pgvector-compatible
 *		in SQL interface and on-disk/binary layout.
 */
#ifndef VECTOR_H
#define VECTOR_H

#include "postgres.h"

#include "fmgr.h"

#define VECTOR_MAX_DIM 16000

/*
 * On-disk and in-memory layout.  The binary wire format mirrors it:
 * int16 dim, int16 unused (always 0), then dim float4 values.
 */
typedef struct Vector
{
	int32		vl_len_;		/* varlena header (do not touch directly) */
	int16		dim;			/* number of dimensions */
	int16		unused;			/* reserved, always 0 */
	float		x[FLEXIBLE_ARRAY_MEMBER];
} Vector;

#define VECTOR_SIZE(_dim)		(offsetof(Vector, x) + sizeof(float) * (_dim))
#define DatumGetVector(d)		((Vector *) PG_DETOAST_DATUM(d))
#define PG_GETARG_VECTOR_P(n)	DatumGetVector(PG_GETARG_DATUM(n))
#define PG_RETURN_VECTOR_P(v)	PG_RETURN_POINTER(v)

extern Vector *vector_new(int dim);
extern void vector_check_dims(const Vector *a, const Vector *b);

/*
 * Distance kernels shared by the SQL functions and the HNSW index.  Eight
 * independent partial sums break the floating-point dependency chain and
 * let compilers use SIMD lanes where the target has them, without
 * fast-math or intrinsics.
 */
#define VECTOR_LANES 8

static inline float
vector_l2_squared_kernel(int dim, const float *a, const float *b)
{
	float		lanes[VECTOR_LANES] = {0};
	float		sum = 0;
	int			i = 0;

	for (; i + VECTOR_LANES <= dim; i += VECTOR_LANES)
		for (int j = 0; j < VECTOR_LANES; j++)
		{
			float		d = a[i + j] - b[i + j];

			lanes[j] += d * d;
		}
	for (; i < dim; i++)
	{
		float		d = a[i] - b[i];

		sum += d * d;
	}
	for (int j = 0; j < VECTOR_LANES; j++)
		sum += lanes[j];
	return sum;
}

static inline float
vector_dot_kernel(int dim, const float *a, const float *b)
{
	float		lanes[VECTOR_LANES] = {0};
	float		sum = 0;
	int			i = 0;

	for (; i + VECTOR_LANES <= dim; i += VECTOR_LANES)
		for (int j = 0; j < VECTOR_LANES; j++)
			lanes[j] += a[i + j] * b[i + j];
	for (; i < dim; i++)
		sum += a[i] * b[i];
	for (int j = 0; j < VECTOR_LANES; j++)
		sum += lanes[j];
	return sum;
}

#endif							/* VECTOR_H */
