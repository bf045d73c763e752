/*
 * hnsw_scan.c
 *		Ordered index scans: the nearest hnsw.ef_search elements to the
 *		ORDER BY argument, returned nearest first.
 */
#include "postgres.h"

#include "access/relscan.h"
#include "hnsw.h"
#include "utils/memutils.h"
#include "utils/rel.h"

typedef struct HnswScanOpaqueData
{
	MemoryContext ctx;			/* holds one search's results */
	HnswDistance dist;
	bool		searched;
	HnswCandidate *results;
	int			nresults;
	int			next;
} HnswScanOpaqueData;

typedef HnswScanOpaqueData *HnswScanOpaque;

IndexScanDesc
hnsw_beginscan(Relation index, int nkeys, int norderbys)
{
	IndexScanDesc scan = RelationGetIndexScan(index, nkeys, norderbys);
	HnswScanOpaque so = palloc0(sizeof(HnswScanOpaqueData));

	so->ctx = AllocSetContextCreate(CurrentMemoryContext, "hnsw scan",
									ALLOCSET_DEFAULT_SIZES);
	hnsw_init_distance(&so->dist, index);
	scan->opaque = so;

	/* distances are never handed to the executor: the order is exact */
	if (norderbys > 0)
	{
		scan->xs_orderbyvals = palloc0(sizeof(Datum) * norderbys);
		scan->xs_orderbynulls = palloc(sizeof(bool) * norderbys);
		memset(scan->xs_orderbynulls, true, sizeof(bool) * norderbys);
	}
	return scan;
}

void
hnsw_rescan(IndexScanDesc scan, ScanKey keys, int nkeys, ScanKey orderbys,
			int norderbys)
{
	HnswScanOpaque so = (HnswScanOpaque) scan->opaque;

	if (keys && scan->numberOfKeys > 0)
		memmove(scan->keyData, keys, scan->numberOfKeys * sizeof(ScanKeyData));
	if (orderbys && scan->numberOfOrderBys > 0)
		memmove(scan->orderByData, orderbys, scan->numberOfOrderBys * sizeof(ScanKeyData));

	MemoryContextReset(so->ctx);
	so->searched = false;
	so->results = NULL;
	so->nresults = 0;
	so->next = 0;
}

/* Descends the upper layers greedily, then searches layer 0 with ef_search. */
static void
hnsw_search(IndexScanDesc scan)
{
	HnswScanOpaque so = (HnswScanOpaque) scan->opaque;
	Relation	index = scan->indexRelation;
	HnswMetaPageData meta;
	ScanKey		orderby;
	Vector	   *query;
	HnswCandidate *nearest;
	int			nnearest = 1;

	if (scan->numberOfOrderBys < 1)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("an hnsw index can only be scanned in ORDER BY distance order")));

	hnsw_read_meta(index, &meta);
	if (!ItemPointerIsValid(&meta.entryPoint))
		return;

	/* ORDER BY col <-> NULL has no order at all; any order will do */
	orderby = &scan->orderByData[0];
	if (orderby->sk_flags & SK_ISNULL)
		query = vector_new(meta.dimensions);
	else
		query = DatumGetVector(orderby->sk_argument);

	nearest = palloc(sizeof(HnswCandidate));
	hnsw_load_candidate(index, &meta.entryPoint, &so->dist, query, nearest);
	for (int layer = meta.entryLevel; layer > 0; layer--)
		nearest = hnsw_search_layer(index, &so->dist, query, nearest, nnearest,
									1, layer, meta.m, false, &nnearest);
	so->results = hnsw_search_layer(index, &so->dist, query, nearest, nnearest,
									hnsw_ef_search, 0, meta.m, true,
									&so->nresults);
}

bool
hnsw_gettuple(IndexScanDesc scan, ScanDirection dir)
{
	HnswScanOpaque so = (HnswScanOpaque) scan->opaque;

	if (!so->searched)
	{
		MemoryContext old = MemoryContextSwitchTo(so->ctx);

		hnsw_search(scan);
		MemoryContextSwitchTo(old);
		so->searched = true;
	}

	while (so->next < so->nresults)
	{
		HnswCandidate *c = &so->results[so->next++];

		if (c->deleted)
			continue;
		scan->xs_heaptid = c->heaptid;
		scan->xs_recheck = false;
		scan->xs_recheckorderby = false;
		return true;
	}
	return false;
}

void
hnsw_endscan(IndexScanDesc scan)
{
	HnswScanOpaque so = (HnswScanOpaque) scan->opaque;

	MemoryContextDelete(so->ctx);
	pfree(so);
	scan->opaque = NULL;
}
