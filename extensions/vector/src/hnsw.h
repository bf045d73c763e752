/*
 * hnsw.h
 *		HNSW (hierarchical navigable small world) index access method.
 *
 * Storage: block 0 is the metapage; every other page holds element tuples
 * (heap TID, vector, level, deleted flag) and neighbor tuples (fixed-size
 * arrays of element TIDs, 2m slots for layer 0 and m slots for each layer
 * above).  Elements are never moved, so an element TID is stable for the
 * index's lifetime.  Changes are WAL-logged through generic WAL records;
 * a build writes pages without WAL and logs them all at the end.
 *
 * Concurrency: inserts are serialized by a heavyweight lock; scans take
 * only short buffer share locks, one page at a time, and read a graph that
 * may be mid-update (each tuple is changed atomically under its buffer
 * lock).  Vacuum only flips an element's deleted flag, so deleted elements
 * stay in the graph as waypoints and are never returned.
 */
#ifndef HNSW_H
#define HNSW_H

#include "postgres.h"

#include "access/amapi.h"
#include "access/generic_xlog.h"
#include "nodes/execnodes.h"
#include "storage/bufmgr.h"
#include "storage/itemptr.h"
#include "utils/relcache.h"
#include "vector.h"

#define HNSW_METAPAGE_BLKNO		0
#define HNSW_MAGIC				0x484E5357	/* "HNSW" */
#define HNSW_FORMAT_VERSION		1
#define HNSW_PAGE_ID			0xFF90

#define HNSW_MAX_DIM			2000
#define HNSW_DEFAULT_M			16
#define HNSW_MIN_M				2
#define HNSW_MAX_M				100
#define HNSW_DEFAULT_EF_CONSTRUCTION 64
#define HNSW_MIN_EF_CONSTRUCTION 4
#define HNSW_MAX_EF_CONSTRUCTION 1000
#define HNSW_DEFAULT_EF_SEARCH	40
#define HNSW_MIN_EF_SEARCH		1
#define HNSW_MAX_EF_SEARCH		1000

/* Support function 1: the distance the opclass ranks by. */
#define HNSW_DISTANCE_PROC		1
#define HNSW_NPROC				1
/* Strategy 1: the ordering operator. */
#define HNSW_NSTRATEGIES		1

/* Serializes inserts: a heavyweight lock on this pseudo page number. */
#define HNSW_UPDATE_LOCK		0

#define HNSW_ELEMENT_TUPLE		1
#define HNSW_NEIGHBOR_TUPLE		2

typedef struct HnswOptions
{
	int32		vl_len_;		/* varlena header (do not touch directly) */
	int			m;
	int			efConstruction;
} HnswOptions;

typedef struct HnswMetaPageData
{
	uint32		magic;
	uint32		version;
	uint32		dimensions;
	uint16		m;
	uint16		efConstruction;
	ItemPointerData entryPoint; /* invalid while the index is empty */
	int16		entryLevel;
	BlockNumber insertPage;		/* the page new tuples are appended to */
} HnswMetaPageData;

typedef struct HnswPageOpaqueData
{
	uint16		unused;
	uint16		page_id;		/* HNSW_PAGE_ID, for page inspection tools */
} HnswPageOpaqueData;

typedef struct HnswElementTupleData
{
	uint8		type;			/* HNSW_ELEMENT_TUPLE */
	uint8		level;			/* top layer this element is linked in */
	uint8		deleted;		/* heap tuple vacuumed away */
	uint8		unused;
	ItemPointerData heaptid;
	ItemPointerData neighbortid;	/* its HnswNeighborTupleData */
	Vector		vec;			/* varlena, must stay last */
} HnswElementTupleData;

typedef HnswElementTupleData *HnswElementTuple;

typedef struct HnswNeighborTupleData
{
	uint8		type;			/* HNSW_NEIGHBOR_TUPLE */
	uint8		unused;
	uint16		nslots;
	ItemPointerData slots[FLEXIBLE_ARRAY_MEMBER];	/* invalid = empty */
} HnswNeighborTupleData;

typedef HnswNeighborTupleData *HnswNeighborTuple;

/* The distance function and query context shared by search and insert. */
typedef struct HnswDistance
{
	FmgrInfo	proc;
	Oid			collation;
} HnswDistance;

/* An element met during a search, with its distance to the query. */
typedef struct HnswCandidate
{
	ItemPointerData tid;
	ItemPointerData neighbortid;
	ItemPointerData heaptid;
	bool		deleted;
	uint8		level;
	double		distance;
	Vector	   *vec;			/* loaded only when needed */
} HnswCandidate;

/* A page edit: generic WAL, or plain dirty buffers during a build. */
typedef struct HnswEdit
{
	GenericXLogState *xlog;
	int			nbuffers;
	Buffer		buffers[MAX_GENERIC_XLOG_PAGES];
} HnswEdit;

/* hnsw.c */
extern int	hnsw_ef_search;
extern void hnsw_init_distance(HnswDistance *dist, Relation index);
extern double hnsw_distance(HnswDistance *dist, Vector *a, Vector *b);
extern int	hnsw_slot_offset(int m, int layer);
extern int	hnsw_slot_count(int m, int layer);
extern int	hnsw_total_slots(int m, int level);
extern int	hnsw_max_level(int m);

/* hnsw_page.c */
extern void hnsw_edit_start(HnswEdit *edit, Relation index, bool building);
extern Page hnsw_edit_page(HnswEdit *edit, Buffer buffer, bool fresh);
extern void hnsw_edit_finish(HnswEdit *edit);
extern void hnsw_init_page(Page page);
extern void hnsw_read_meta(Relation index, HnswMetaPageData *meta);
extern void hnsw_write_meta(Relation index, bool building, int dimensions,
							int m, int efConstruction);
extern void hnsw_set_entry_point(Relation index, bool building,
								 ItemPointer tid, int level);
extern void hnsw_place_element(Relation index, bool building,
							   HnswElementTuple etup, Size esize,
							   HnswNeighborTuple ntup, Size nsize,
							   ItemPointer elementtid);
extern void hnsw_load_candidate(Relation index, ItemPointer tid,
								HnswDistance *dist, Vector *query,
								HnswCandidate *out);
extern Vector *hnsw_load_vector(Relation index, ItemPointer tid);
extern int	hnsw_load_neighbors(Relation index, ItemPointer neighbortid,
								int m, int layer, ItemPointerData *out);
extern void hnsw_store_neighbors(Relation index, bool building,
								 ItemPointer neighbortid, int m, int layer,
								 ItemPointerData *tids, int count);

/* hnsw_graph.c */
extern HnswCandidate *hnsw_search_layer(Relation index, HnswDistance *dist,
										Vector *query, HnswCandidate *entries,
										int nentries, int ef, int layer, int m,
										bool skipDeleted, int *nresults);
extern void hnsw_insert_vector(Relation index, Vector *vec,
							   ItemPointer heaptid, bool building);

/* hnsw_build.c */
extern IndexBuildResult *hnsw_build(Relation heap, Relation index,
									IndexInfo *indexInfo);
extern void hnsw_buildempty(Relation index);
extern bool hnsw_insert(Relation index, Datum *values, bool *isnull,
						ItemPointer heap_tid, Relation heap,
						IndexUniqueCheck checkUnique, bool indexUnchanged,
						IndexInfo *indexInfo);

/* hnsw_scan.c */
extern IndexScanDesc hnsw_beginscan(Relation index, int nkeys, int norderbys);
extern void hnsw_rescan(IndexScanDesc scan, ScanKey keys, int nkeys,
						ScanKey orderbys, int norderbys);
extern bool hnsw_gettuple(IndexScanDesc scan, ScanDirection dir);
extern void hnsw_endscan(IndexScanDesc scan);

/* hnsw_vacuum.c */
extern IndexBulkDeleteResult *hnsw_bulkdelete(IndexVacuumInfo *info,
											  IndexBulkDeleteResult *stats,
											  IndexBulkDeleteCallback callback,
											  void *callback_state);
extern IndexBulkDeleteResult *hnsw_vacuumcleanup(IndexVacuumInfo *info,
												 IndexBulkDeleteResult *stats);

#endif							/* HNSW_H */
