/*
 * hnsw_build.c
 *		Index build and insertion.
 */
#include "postgres.h"

#include "access/tableam.h"
#include "access/xloginsert.h"
#include "hnsw.h"
#include "storage/lmgr.h"
#include "utils/memutils.h"
#include "utils/rel.h"

typedef struct HnswBuildState
{
	double		indtuples;
	MemoryContext tmpctx;
} HnswBuildState;

static void
hnsw_build_callback(Relation index, ItemPointer tid, Datum *values,
					bool *isnull, bool tupleIsAlive, void *state)
{
	HnswBuildState *build = (HnswBuildState *) state;
	MemoryContext old;

	/* NULLs have no distance to anything, so they are not indexed */
	if (isnull[0])
		return;

	old = MemoryContextSwitchTo(build->tmpctx);
	hnsw_insert_vector(index, DatumGetVector(values[0]), tid, true);
	MemoryContextSwitchTo(old);
	MemoryContextReset(build->tmpctx);
	build->indtuples++;
}

/* The column's declared dimensions, which every indexed vector must have. */
static int
hnsw_index_dimensions(Relation index)
{
	int			dimensions = TupleDescAttr(RelationGetDescr(index), 0)->atttypmod;

	if (dimensions < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("column does not have dimensions"),
				 errhint("Declare the column as vector(n).")));
	if (dimensions > HNSW_MAX_DIM)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("column cannot have more than %d dimensions for hnsw index",
						HNSW_MAX_DIM)));
	return dimensions;
}

/*
 * Builds by inserting every heap tuple through the same code as aminsert,
 * but without WAL: the index is invisible until the transaction commits, so
 * logging every page once at the end is enough to make it crash-safe.
 */
IndexBuildResult *
hnsw_build(Relation heap, Relation index, IndexInfo *indexInfo)
{
	HnswOptions *opts = (HnswOptions *) index->rd_options;
	int			m = opts ? opts->m : HNSW_DEFAULT_M;
	int			efConstruction = opts ? opts->efConstruction : HNSW_DEFAULT_EF_CONSTRUCTION;
	int			dimensions = hnsw_index_dimensions(index);
	HnswBuildState build;
	IndexBuildResult *result;
	double		reltuples;

	if (efConstruction < 2 * m)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ef_construction must be greater than or equal to 2 * m")));
	if (RelationGetNumberOfBlocks(index) != 0)
		elog(ERROR, "index \"%s\" already contains data",
			 RelationGetRelationName(index));

	hnsw_write_meta(index, true, dimensions, m, efConstruction);

	build.indtuples = 0;
	build.tmpctx = AllocSetContextCreate(CurrentMemoryContext, "hnsw build",
										 ALLOCSET_DEFAULT_SIZES);
	reltuples = table_index_build_scan(heap, index, indexInfo, true, true,
									   hnsw_build_callback, &build, NULL);
	MemoryContextDelete(build.tmpctx);

	if (RelationNeedsWAL(index))
		log_newpage_range(index, MAIN_FORKNUM, 0,
						  RelationGetNumberOfBlocks(index), true);

	result = palloc(sizeof(IndexBuildResult));
	result->heap_tuples = reltuples;
	result->index_tuples = build.indtuples;
	return result;
}

bool
hnsw_insert(Relation index, Datum *values, bool *isnull, ItemPointer heap_tid,
			Relation heap, IndexUniqueCheck checkUnique, bool indexUnchanged,
			IndexInfo *indexInfo)
{
	MemoryContext ctx;
	MemoryContext old;

	if (isnull[0])
		return false;

	ctx = AllocSetContextCreate(CurrentMemoryContext, "hnsw insert",
								ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(ctx);
	LockPage(index, HNSW_UPDATE_LOCK, ExclusiveLock);
	hnsw_insert_vector(index, DatumGetVector(values[0]), heap_tid, false);
	UnlockPage(index, HNSW_UPDATE_LOCK, ExclusiveLock);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(ctx);
	return false;
}
