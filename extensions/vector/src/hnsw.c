/*
 * hnsw.c
 *		The hnsw access method handler: options, the hnsw.ef_search setting,
 *		cost estimate, opclass validation and the layer layout of neighbor
 *		slots.
 */
#include "postgres.h"

#include <math.h>

#include "access/amvalidate.h"
#include "access/htup_details.h"
#include "access/reloptions.h"
#include "catalog/pg_amop.h"
#include "catalog/pg_amproc.h"
#include "catalog/pg_opclass.h"
#include "catalog/pg_type.h"
#include "commands/vacuum.h"
#include "hnsw.h"
#include "optimizer/cost.h"
#include "utils/float.h"
#include "utils/guc.h"
#include "utils/rel.h"
#include "utils/selfuncs.h"
#include "utils/spccache.h"
#include "utils/syscache.h"

int			hnsw_ef_search = HNSW_DEFAULT_EF_SEARCH;

static relopt_kind hnsw_relopt_kind;

void		_PG_init(void);

void
_PG_init(void)
{
	hnsw_relopt_kind = add_reloption_kind();
	add_int_reloption(hnsw_relopt_kind, "m",
					  "Maximum number of connections per element and layer",
					  HNSW_DEFAULT_M, HNSW_MIN_M, HNSW_MAX_M,
					  AccessExclusiveLock);
	add_int_reloption(hnsw_relopt_kind, "ef_construction",
					  "Size of the dynamic candidate list while building the graph",
					  HNSW_DEFAULT_EF_CONSTRUCTION, HNSW_MIN_EF_CONSTRUCTION,
					  HNSW_MAX_EF_CONSTRUCTION, AccessExclusiveLock);

	DefineCustomIntVariable("hnsw.ef_search",
							"Size of the dynamic candidate list for search",
							"Higher values give better recall and slower queries.",
							&hnsw_ef_search, HNSW_DEFAULT_EF_SEARCH,
							HNSW_MIN_EF_SEARCH, HNSW_MAX_EF_SEARCH,
							PGC_USERSET, 0, NULL, NULL, NULL);
	MarkGUCPrefixReserved("hnsw");
}

static bytea *
hnsw_options(Datum reloptions, bool validate)
{
	static const relopt_parse_elt table[] = {
		{"m", RELOPT_TYPE_INT, offsetof(HnswOptions, m)},
		{"ef_construction", RELOPT_TYPE_INT, offsetof(HnswOptions, efConstruction)},
	};

	return (bytea *) build_reloptions(reloptions, validate, hnsw_relopt_kind,
									  sizeof(HnswOptions), table,
									  lengthof(table));
}

void
hnsw_init_distance(HnswDistance *dist, Relation index)
{
	fmgr_info_copy(&dist->proc, index_getprocinfo(index, 1, HNSW_DISTANCE_PROC),
				   CurrentMemoryContext);
	dist->collation = index->rd_indcollation[0];
}

/* NaN (cosine against a zero vector) ranks after every real distance. */
double
hnsw_distance(HnswDistance *dist, Vector *a, Vector *b)
{
	double		d = DatumGetFloat8(FunctionCall2Coll(&dist->proc, dist->collation,
													 PointerGetDatum(a),
													 PointerGetDatum(b)));

	return isnan(d) ? get_float8_infinity() : d;
}

/* Layer 0 has 2m slots, every layer above it m. */
int
hnsw_slot_count(int m, int layer)
{
	return layer == 0 ? 2 * m : m;
}

int
hnsw_slot_offset(int m, int layer)
{
	return layer == 0 ? 0 : 2 * m + (layer - 1) * m;
}

int
hnsw_total_slots(int m, int level)
{
	return hnsw_slot_offset(m, level) + hnsw_slot_count(m, level);
}

/* The highest level whose neighbor tuple still fits on an empty page. */
int
hnsw_max_level(int m)
{
	Size		room = BLCKSZ - MAXALIGN(SizeOfPageHeaderData + sizeof(ItemIdData)) -
		MAXALIGN(sizeof(HnswPageOpaqueData)) - offsetof(HnswNeighborTupleData, slots);
	int			slots = (int) (room / sizeof(ItemPointerData));
	int			level = (slots - 2 * m) / m;

	return Min(level, 255);
}

/*
 * All the work happens before the first tuple is returned: about ef_search
 * times 2m distance computations in layer 0.  A search keeps returning to
 * the same few graph pages, so they are charged as cached (sequential)
 * reads rather than random ones.  Without an ORDER BY distance the index
 * cannot answer anything.
 */
static void
hnsw_costestimate(PlannerInfo *root, IndexPath *path, double loop_count,
				  Cost *indexStartupCost, Cost *indexTotalCost,
				  Selectivity *indexSelectivity, double *indexCorrelation,
				  double *indexPages)
{
	IndexOptInfo *info = path->indexinfo;
	GenericCosts costs;
	Relation	index;
	HnswOptions *opts;
	int			m;
	double		randomPageCost;
	double		seqPageCost;

	if (path->indexorderbys == NIL)
	{
		*indexStartupCost = disable_cost;
		*indexTotalCost = disable_cost;
		*indexSelectivity = 0;
		*indexCorrelation = 0;
		*indexPages = 0;
		return;
	}

	index = index_open(info->indexoid, NoLock);
	opts = (HnswOptions *) index->rd_options;
	m = opts ? opts->m : HNSW_DEFAULT_M;
	index_close(index, NoLock);

	MemSet(&costs, 0, sizeof(costs));
	costs.numIndexTuples = Min(info->tuples, (double) hnsw_ef_search * 2 * m);
	genericcostestimate(root, path, loop_count, &costs);
	get_tablespace_page_costs(info->reltablespace, &randomPageCost, &seqPageCost);
	costs.indexTotalCost -= costs.numIndexPages * (randomPageCost - seqPageCost);

	*indexStartupCost = costs.indexTotalCost;
	*indexTotalCost = costs.indexTotalCost;
	*indexSelectivity = costs.indexSelectivity;
	*indexCorrelation = 0;
	*indexPages = costs.numIndexPages;
}

/*
 * An hnsw opclass is one ordering operator (strategy 1) and one distance
 * function (support 1) returning float8 for two values of the input type.
 */
static bool
hnsw_validate(Oid opclassoid)
{
	HeapTuple	classtup;
	Form_pg_opclass classform;
	Oid			opfamilyoid;
	Oid			opcintype;
	CatCList   *oprlist;
	CatCList   *proclist;
	bool		result = true;
	bool		hasDistance = false;

	classtup = SearchSysCache1(CLAOID, ObjectIdGetDatum(opclassoid));
	if (!HeapTupleIsValid(classtup))
		elog(ERROR, "cache lookup failed for operator class %u", opclassoid);
	classform = (Form_pg_opclass) GETSTRUCT(classtup);
	opfamilyoid = classform->opcfamily;
	opcintype = classform->opcintype;

	proclist = SearchSysCacheList1(AMPROCNUM, ObjectIdGetDatum(opfamilyoid));
	for (int i = 0; i < proclist->n_members; i++)
	{
		Form_pg_amproc proc = (Form_pg_amproc) GETSTRUCT(&proclist->members[i]->tuple);

		if (proc->amprocnum != HNSW_DISTANCE_PROC ||
			!check_amproc_signature(proc->amproc, FLOAT8OID, true, 2, 2,
									opcintype, opcintype))
		{
			ereport(INFO,
					(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
					 errmsg("hnsw operator family contains an invalid support function %d",
							proc->amprocnum)));
			result = false;
		}
		else
			hasDistance = true;
	}

	oprlist = SearchSysCacheList1(AMOPSTRATEGY, ObjectIdGetDatum(opfamilyoid));
	for (int i = 0; i < oprlist->n_members; i++)
	{
		Form_pg_amop op = (Form_pg_amop) GETSTRUCT(&oprlist->members[i]->tuple);

		if (op->amopstrategy != 1 || op->amoppurpose != AMOP_ORDER ||
			!check_amop_signature(op->amopopr, FLOAT8OID,
								  op->amoplefttype, op->amoprighttype))
		{
			ereport(INFO,
					(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
					 errmsg("hnsw operator family contains an invalid operator %u",
							op->amopopr)));
			result = false;
		}
	}

	if (!hasDistance)
	{
		ereport(INFO,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("hnsw operator class is missing its distance function")));
		result = false;
	}

	ReleaseCatCacheList(oprlist);
	ReleaseCatCacheList(proclist);
	ReleaseSysCache(classtup);
	return result;
}

PG_FUNCTION_INFO_V1(hnsw_handler);
Datum
hnsw_handler(PG_FUNCTION_ARGS)
{
	IndexAmRoutine *am = makeNode(IndexAmRoutine);

	am->amstrategies = HNSW_NSTRATEGIES;
	am->amsupport = HNSW_NPROC;
	am->amoptsprocnum = 0;
	am->amcanorder = false;
	am->amcanorderbyop = true;
	am->amcanbackward = false;
	am->amcanunique = false;
	am->amcanmulticol = false;
	am->amoptionalkey = true;
	am->amsearcharray = false;
	am->amsearchnulls = false;
	am->amstorage = false;
	am->amclusterable = false;
	am->ampredlocks = false;
	am->amcanparallel = false;
	am->amcaninclude = false;
	am->amusemaintenanceworkmem = false;
	am->amparallelvacuumoptions = VACUUM_OPTION_PARALLEL_BULKDEL;
	am->amkeytype = InvalidOid;

	am->ambuild = hnsw_build;
	am->ambuildempty = hnsw_buildempty;
	am->aminsert = hnsw_insert;
	am->ambulkdelete = hnsw_bulkdelete;
	am->amvacuumcleanup = hnsw_vacuumcleanup;
	am->amcanreturn = NULL;
	am->amcostestimate = hnsw_costestimate;
	am->amoptions = hnsw_options;
	am->amproperty = NULL;
	am->ambuildphasename = NULL;
	am->amvalidate = hnsw_validate;
	am->amadjustmembers = NULL;
	am->ambeginscan = hnsw_beginscan;
	am->amrescan = hnsw_rescan;
	am->amgettuple = hnsw_gettuple;
	am->amgetbitmap = NULL;
	am->amendscan = hnsw_endscan;
	am->ammarkpos = NULL;
	am->amrestrpos = NULL;
	am->amestimateparallelscan = NULL;
	am->aminitparallelscan = NULL;
	am->amparallelrescan = NULL;

	PG_RETURN_POINTER(am);
}
