/*
 * hnsw_graph.c
 *		The HNSW algorithms (Malkov and Yashunin, 2016): layer search, the
 *		neighbor selection heuristic and element insertion.
 */
#include "postgres.h"

#include <math.h>

#include "common/hashfn.h"
#include "common/pg_prng.h"
#include "hnsw.h"
#include "miscadmin.h"
#include "utils/rel.h"

/* The set of elements a layer search has already met, keyed by TID. */
typedef struct VisitedEntry
{
	uint64		key;
	char		status;
} VisitedEntry;

#define SH_PREFIX		visited
#define SH_ELEMENT_TYPE VisitedEntry
#define SH_KEY_TYPE		uint64
#define SH_KEY			key
#define SH_HASH_KEY(tb, k)	murmurhash32((uint32) (k) ^ (uint32) ((k) >> 32))
#define SH_EQUAL(tb, a, b)	((a) == (b))
#define SH_SCOPE		static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

static inline uint64
tid_key(ItemPointer tid)
{
	return ((uint64) ItemPointerGetBlockNumber(tid) << 16) |
		ItemPointerGetOffsetNumber(tid);
}

/* A binary heap of candidates: nearest on top, or furthest on top. */
typedef struct CandidateHeap
{
	HnswCandidate **items;
	int			count;
	int			capacity;
	bool		furthestFirst;
} CandidateHeap;

static inline bool
heap_above(CandidateHeap *heap, HnswCandidate *a, HnswCandidate *b)
{
	return heap->furthestFirst ? a->distance > b->distance : a->distance < b->distance;
}

static void
heap_init(CandidateHeap *heap, int capacity, bool furthestFirst)
{
	heap->capacity = Max(capacity, 16);
	heap->items = palloc(sizeof(HnswCandidate *) * heap->capacity);
	heap->count = 0;
	heap->furthestFirst = furthestFirst;
}

static void
heap_push(CandidateHeap *heap, HnswCandidate *c)
{
	int			i = heap->count++;

	if (heap->count > heap->capacity)
	{
		heap->capacity *= 2;
		heap->items = repalloc(heap->items, sizeof(HnswCandidate *) * heap->capacity);
	}
	while (i > 0 && heap_above(heap, c, heap->items[(i - 1) / 2]))
	{
		heap->items[i] = heap->items[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	heap->items[i] = c;
}

static HnswCandidate *
heap_pop(CandidateHeap *heap)
{
	HnswCandidate *top = heap->items[0];
	HnswCandidate *last = heap->items[--heap->count];
	int			i = 0;

	for (;;)
	{
		int			child = 2 * i + 1;

		if (child >= heap->count)
			break;
		if (child + 1 < heap->count &&
			heap_above(heap, heap->items[child + 1], heap->items[child]))
			child++;
		if (!heap_above(heap, heap->items[child], last))
			break;
		heap->items[i] = heap->items[child];
		i = child;
	}
	if (heap->count > 0)
		heap->items[i] = last;
	return top;
}

static int
candidate_cmp(const void *a, const void *b)
{
	double		da = ((const HnswCandidate *) a)->distance;
	double		db = ((const HnswCandidate *) b)->distance;

	return (da > db) - (da < db);
}

/*
 * Greedy beam search of one layer from the given entry elements; returns up
 * to ef nearest elements, nearest first.  With skipDeleted, deleted
 * elements are still walked through but not returned or counted.
 */
HnswCandidate *
hnsw_search_layer(Relation index, HnswDistance *dist, Vector *query,
				  HnswCandidate *entries, int nentries, int ef, int layer,
				  int m, bool skipDeleted, int *nresults)
{
	/* sized for the usual number of elements met, to avoid regrowing */
	visited_hash *visited = visited_create(CurrentMemoryContext,
										   Min(ef * hnsw_slot_count(m, 0), 65536),
										   NULL);
	CandidateHeap pending;
	CandidateHeap nearest;
	ItemPointerData *links = palloc(sizeof(ItemPointerData) * hnsw_slot_count(m, 0));
	HnswCandidate *results;
	bool		found;

	heap_init(&pending, ef * 2, false);
	heap_init(&nearest, ef + 1, true);

	for (int i = 0; i < nentries; i++)
	{
		HnswCandidate *c = palloc(sizeof(HnswCandidate));

		*c = entries[i];
		visited_insert(visited, tid_key(&c->tid), &found);
		if (found)
			continue;
		heap_push(&pending, c);
		if (!(skipDeleted && c->deleted))
			heap_push(&nearest, c);
	}
	while (nearest.count > ef)
		heap_pop(&nearest);

	while (pending.count > 0)
	{
		HnswCandidate *c = heap_pop(&pending);
		int			nlinks;

		if (nearest.count >= ef && c->distance > nearest.items[0]->distance)
			break;
		if (c->level < layer)
			continue;

		CHECK_FOR_INTERRUPTS();
		nlinks = hnsw_load_neighbors(index, &c->neighbortid, m, layer, links);
		for (int i = 0; i < nlinks; i++)
		{
			HnswCandidate *e;

			visited_insert(visited, tid_key(&links[i]), &found);
			if (found)
				continue;

			e = palloc(sizeof(HnswCandidate));
			hnsw_load_candidate(index, &links[i], dist, query, e);
			if (nearest.count < ef || e->distance < nearest.items[0]->distance)
			{
				heap_push(&pending, e);
				if (skipDeleted && e->deleted)
					continue;
				heap_push(&nearest, e);
				if (nearest.count > ef)
					heap_pop(&nearest);
			}
			else
				pfree(e);
		}
	}

	*nresults = nearest.count;
	results = palloc(sizeof(HnswCandidate) * Max(nearest.count, 1));
	for (int i = 0; i < nearest.count; i++)
		results[i] = *nearest.items[i];
	qsort(results, nearest.count, sizeof(HnswCandidate), candidate_cmp);

	visited_destroy(visited);
	pfree(links);
	return results;
}

/*
 * The heuristic of the paper's algorithm 4: walking candidates nearest
 * first, keep one only if it is nearer to the base than to every one kept
 * so far, which spreads links in different directions.  candidates must be
 * sorted by distance to the base; returns how many were kept in selected.
 */
static int
select_neighbors(Relation index, HnswDistance *dist, HnswCandidate *candidates,
				 int ncandidates, int limit, HnswCandidate **selected)
{
	int			nselected = 0;

	for (int i = 0; i < ncandidates && nselected < limit; i++)
	{
		HnswCandidate *c = &candidates[i];
		bool		keep = true;

		if (c->vec == NULL)
			c->vec = hnsw_load_vector(index, &c->tid);
		for (int j = 0; j < nselected; j++)
		{
			if (hnsw_distance(dist, c->vec, selected[j]->vec) < c->distance)
			{
				keep = false;
				break;
			}
		}
		if (keep)
			selected[nselected++] = c;
	}
	return nselected;
}

/*
 * Links the new element into the neighbor list of one of its neighbors in
 * one layer.  A full list is re-selected with the heuristic from its
 * current links plus the new element.
 */
static void
add_backlink(Relation index, bool building, HnswDistance *dist, int m,
			 HnswCandidate *neighbor, ItemPointer newtid, Vector *newvec,
			 int layer)
{
	int			capacity = hnsw_slot_count(m, layer);
	ItemPointerData *links = palloc(sizeof(ItemPointerData) * (capacity + 1));
	int			nlinks = hnsw_load_neighbors(index, &neighbor->neighbortid, m,
											 layer, links);
	HnswCandidate *candidates;
	HnswCandidate **selected;
	int			nselected;
	bool		newKept = false;

	if (nlinks < capacity)
	{
		links[nlinks++] = *newtid;
		hnsw_store_neighbors(index, building, &neighbor->neighbortid, m, layer,
							 links, nlinks);
		return;
	}

	if (neighbor->vec == NULL)
		neighbor->vec = hnsw_load_vector(index, &neighbor->tid);
	candidates = palloc(sizeof(HnswCandidate) * (nlinks + 1));
	for (int i = 0; i < nlinks; i++)
	{
		candidates[i].tid = links[i];
		candidates[i].vec = hnsw_load_vector(index, &links[i]);
		candidates[i].distance = hnsw_distance(dist, neighbor->vec, candidates[i].vec);
	}
	candidates[nlinks].tid = *newtid;
	candidates[nlinks].vec = newvec;
	candidates[nlinks].distance = hnsw_distance(dist, neighbor->vec, newvec);
	qsort(candidates, nlinks + 1, sizeof(HnswCandidate), candidate_cmp);

	selected = palloc(sizeof(HnswCandidate *) * capacity);
	nselected = select_neighbors(index, dist, candidates, nlinks + 1, capacity,
								 selected);
	for (int i = 0; i < nselected; i++)
	{
		links[i] = selected[i]->tid;
		if (ItemPointerEquals(&selected[i]->tid, newtid))
			newKept = true;
	}
	/* if the new element lost, the old list stays as good as it was */
	if (newKept)
		hnsw_store_neighbors(index, building, &neighbor->neighbortid, m, layer,
							 links, nselected);
}

/* A random level with P(level >= l) = m^-l, capped so its links fit a page. */
static int
random_level(int m)
{
	double		r = 1.0 - pg_prng_double(&pg_global_prng_state);	/* (0, 1] */
	int			level = (int) floor(-log(r) / log((double) m));

	return Min(level, hnsw_max_level(m));
}

/*
 * Inserts one vector.  The caller serializes inserts (the heavyweight
 * update lock, or being the build) and provides a short-lived memory
 * context.
 */
void
hnsw_insert_vector(Relation index, Vector *vec, ItemPointer heaptid,
				   bool building)
{
	HnswMetaPageData meta;
	HnswDistance dist;
	int			level;
	int			m;
	bool		hasEntry;
	int			top;
	HnswCandidate ***selected;
	int		   *nselected;
	HnswElementTuple etup;
	HnswNeighborTuple ntup;
	Size		esize;
	Size		nsize;
	ItemPointerData elementtid;

	hnsw_read_meta(index, &meta);
	if (vec->dim != (int) meta.dimensions)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("expected %u dimensions, not %d", meta.dimensions, vec->dim)));

	m = meta.m;
	level = random_level(m);
	hasEntry = ItemPointerIsValid(&meta.entryPoint);
	top = hasEntry ? Min(level, meta.entryLevel) : -1;
	hnsw_init_distance(&dist, index);

	selected = palloc0(sizeof(HnswCandidate **) * (level + 1));
	nselected = palloc0(sizeof(int) * (level + 1));

	if (hasEntry)
	{
		HnswCandidate *nearest = palloc(sizeof(HnswCandidate));
		int			nnearest = 1;

		hnsw_load_candidate(index, &meta.entryPoint, &dist, vec, nearest);
		for (int layer = meta.entryLevel; layer > level; layer--)
			nearest = hnsw_search_layer(index, &dist, vec, nearest, nnearest,
										1, layer, m, false, &nnearest);
		for (int layer = top; layer >= 0; layer--)
		{
			nearest = hnsw_search_layer(index, &dist, vec, nearest, nnearest,
										meta.efConstruction, layer, m, false,
										&nnearest);
			/* points into this layer's results, which stay allocated */
			selected[layer] = palloc(sizeof(HnswCandidate *) * hnsw_slot_count(m, layer));
			nselected[layer] = select_neighbors(index, &dist, nearest, nnearest,
												hnsw_slot_count(m, layer),
												selected[layer]);
		}
	}

	esize = offsetof(HnswElementTupleData, vec) + VARSIZE(vec);
	etup = palloc0(esize);
	etup->type = HNSW_ELEMENT_TUPLE;
	etup->level = level;
	etup->heaptid = *heaptid;
	ItemPointerSetInvalid(&etup->neighbortid);
	memcpy(&etup->vec, vec, VARSIZE(vec));

	nsize = offsetof(HnswNeighborTupleData, slots) +
		sizeof(ItemPointerData) * hnsw_total_slots(m, level);
	ntup = palloc0(nsize);
	ntup->type = HNSW_NEIGHBOR_TUPLE;
	ntup->nslots = hnsw_total_slots(m, level);
	for (int layer = 0; layer <= level; layer++)
	{
		ItemPointerData *slots = ntup->slots + hnsw_slot_offset(m, layer);

		for (int i = 0; i < hnsw_slot_count(m, layer); i++)
		{
			if (i < nselected[layer])
				slots[i] = selected[layer][i]->tid;
			else
				ItemPointerSetInvalid(&slots[i]);
		}
	}

	hnsw_place_element(index, building, etup, esize, ntup, nsize, &elementtid);

	for (int layer = 0; layer <= top; layer++)
		for (int i = 0; i < nselected[layer]; i++)
			add_backlink(index, building, &dist, m, selected[layer][i],
						 &elementtid, vec, layer);

	if (!hasEntry || level > meta.entryLevel)
		hnsw_set_entry_point(index, building, &elementtid, level);
}
