/*
 * hnsw_page.c
 *		Page layout of the hnsw index: the metapage, element and neighbor
 *		tuples, and page edits that are WAL-logged outside of a build.
 */
#include "postgres.h"

#include "hnsw.h"
#include "storage/lmgr.h"
#include "utils/rel.h"

#define HnswPageGetMeta(page)	((HnswMetaPageData *) PageGetContents(page))

void
hnsw_edit_start(HnswEdit *edit, Relation index, bool building)
{
	edit->xlog = building ? NULL : GenericXLogStart(index);
	edit->nbuffers = 0;
}

/* Returns the page to change: a WAL-tracked copy, or the buffer's own page. */
Page
hnsw_edit_page(HnswEdit *edit, Buffer buffer, bool fresh)
{
	if (edit->nbuffers >= MAX_GENERIC_XLOG_PAGES)
		elog(ERROR, "hnsw page edit touches too many pages");
	edit->buffers[edit->nbuffers++] = buffer;
	if (edit->xlog)
		return GenericXLogRegisterBuffer(edit->xlog, buffer,
										 fresh ? GENERIC_XLOG_FULL_IMAGE : 0);
	return BufferGetPage(buffer);
}

void
hnsw_edit_finish(HnswEdit *edit)
{
	if (edit->xlog)
		GenericXLogFinish(edit->xlog);
	else
		for (int i = 0; i < edit->nbuffers; i++)
			MarkBufferDirty(edit->buffers[i]);
	edit->xlog = NULL;
}

void
hnsw_init_page(Page page)
{
	HnswPageOpaqueData *opaque;

	PageInit(page, BLCKSZ, sizeof(HnswPageOpaqueData));
	opaque = (HnswPageOpaqueData *) PageGetSpecialPointer(page);
	opaque->page_id = HNSW_PAGE_ID;
}

/* A new, exclusively locked page at the end of the index. */
static Buffer
hnsw_new_buffer(Relation index, bool building)
{
	Buffer		buffer;

	if (!building)
		LockRelationForExtension(index, ExclusiveLock);
	buffer = ReadBuffer(index, P_NEW);
	LockBuffer(buffer, BUFFER_LOCK_EXCLUSIVE);
	if (!building)
		UnlockRelationForExtension(index, ExclusiveLock);
	return buffer;
}

static void
hnsw_fill_meta(Page page, int dimensions, int m, int efConstruction)
{
	HnswMetaPageData *meta;

	hnsw_init_page(page);
	meta = HnswPageGetMeta(page);
	MemSet(meta, 0, sizeof(HnswMetaPageData));
	meta->magic = HNSW_MAGIC;
	meta->version = HNSW_FORMAT_VERSION;
	meta->dimensions = dimensions;
	meta->m = m;
	meta->efConstruction = efConstruction;
	ItemPointerSetInvalid(&meta->entryPoint);
	meta->entryLevel = -1;
	meta->insertPage = InvalidBlockNumber;
	/* keep the contents inside pd_lower so WAL compression spares them */
	((PageHeader) page)->pd_lower = ((char *) meta + sizeof(HnswMetaPageData)) - (char *) page;
}

void
hnsw_write_meta(Relation index, bool building, int dimensions, int m,
				int efConstruction)
{
	Buffer		buffer = hnsw_new_buffer(index, building);
	HnswEdit	edit;

	if (BufferGetBlockNumber(buffer) != HNSW_METAPAGE_BLKNO)
		elog(ERROR, "hnsw metapage must be the first page of index \"%s\"",
			 RelationGetRelationName(index));
	hnsw_edit_start(&edit, index, building);
	hnsw_fill_meta(hnsw_edit_page(&edit, buffer, true), dimensions, m, efConstruction);
	hnsw_edit_finish(&edit);
	UnlockReleaseBuffer(buffer);
}

/* The init fork of an unlogged index: just an empty metapage. */
void
hnsw_buildempty(Relation index)
{
	HnswOptions *opts = (HnswOptions *) index->rd_options;
	Page		page = (Page) palloc(BLCKSZ);

	hnsw_fill_meta(page, TupleDescAttr(RelationGetDescr(index), 0)->atttypmod,
				   opts ? opts->m : HNSW_DEFAULT_M,
				   opts ? opts->efConstruction : HNSW_DEFAULT_EF_CONSTRUCTION);
	PageSetChecksumInplace(page, HNSW_METAPAGE_BLKNO);
	smgrwrite(RelationGetSmgr(index), INIT_FORKNUM, HNSW_METAPAGE_BLKNO,
			  (char *) page, true);
	log_newpage(&(RelationGetSmgr(index))->smgr_rnode.node, INIT_FORKNUM,
				HNSW_METAPAGE_BLKNO, page, true);
	smgrimmedsync(RelationGetSmgr(index), INIT_FORKNUM);
}

static void
hnsw_check_meta(Relation index, HnswMetaPageData *meta)
{
	if (meta->magic != HNSW_MAGIC)
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("index \"%s\" is not an hnsw index",
						RelationGetRelationName(index))));
	if (meta->version != HNSW_FORMAT_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("hnsw index \"%s\" has format version %u, expected %u",
						RelationGetRelationName(index), meta->version,
						HNSW_FORMAT_VERSION),
				 errhint("REINDEX the index.")));
}

void
hnsw_read_meta(Relation index, HnswMetaPageData *meta)
{
	Buffer		buffer = ReadBuffer(index, HNSW_METAPAGE_BLKNO);

	LockBuffer(buffer, BUFFER_LOCK_SHARE);
	*meta = *HnswPageGetMeta(BufferGetPage(buffer));
	UnlockReleaseBuffer(buffer);
	hnsw_check_meta(index, meta);
}

void
hnsw_set_entry_point(Relation index, bool building, ItemPointer tid, int level)
{
	Buffer		buffer = ReadBuffer(index, HNSW_METAPAGE_BLKNO);
	HnswEdit	edit;
	HnswMetaPageData *meta;

	LockBuffer(buffer, BUFFER_LOCK_EXCLUSIVE);
	hnsw_edit_start(&edit, index, building);
	meta = HnswPageGetMeta(hnsw_edit_page(&edit, buffer, false));
	meta->entryPoint = *tid;
	meta->entryLevel = level;
	hnsw_edit_finish(&edit);
	UnlockReleaseBuffer(buffer);
}

/*
 * Adds a tuple to the current insert page, or to a new page when it does
 * not fit; returns its TID.  All pages are registered in one edit so the
 * element, its neighbor tuple and the metapage change atomically.
 */
static void
hnsw_append(Relation index, bool building, HnswEdit *edit,
			HnswMetaPageData *meta, Buffer *current, Page *currentPage,
			Item tuple, Size size, ItemPointer tid)
{
	OffsetNumber offnum;

	if (*current == InvalidBuffer && meta->insertPage != InvalidBlockNumber)
	{
		Buffer		buffer = ReadBuffer(index, meta->insertPage);

		LockBuffer(buffer, BUFFER_LOCK_EXCLUSIVE);
		if (PageGetFreeSpace(BufferGetPage(buffer)) >= MAXALIGN(size))
		{
			*current = buffer;
			*currentPage = hnsw_edit_page(edit, buffer, false);
		}
		else
			UnlockReleaseBuffer(buffer);
	}
	if (*current == InvalidBuffer || PageGetFreeSpace(*currentPage) < MAXALIGN(size))
	{
		*current = hnsw_new_buffer(index, building);
		*currentPage = hnsw_edit_page(edit, *current, true);
		hnsw_init_page(*currentPage);
		meta->insertPage = BufferGetBlockNumber(*current);
	}

	offnum = PageAddItem(*currentPage, tuple, size, InvalidOffsetNumber, false, false);
	if (offnum == InvalidOffsetNumber)
		elog(ERROR, "failed to add tuple of %zu bytes to hnsw index \"%s\"",
			 size, RelationGetRelationName(index));
	ItemPointerSet(tid, BufferGetBlockNumber(*current), offnum);
}

void
hnsw_place_element(Relation index, bool building,
				   HnswElementTuple etup, Size esize,
				   HnswNeighborTuple ntup, Size nsize,
				   ItemPointer elementtid)
{
	Buffer		metabuf = ReadBuffer(index, HNSW_METAPAGE_BLKNO);
	Buffer		buffers[2] = {InvalidBuffer, InvalidBuffer};
	Page		pages[2] = {NULL, NULL};
	HnswEdit	edit;
	HnswMetaPageData *meta;
	ItemPointerData neighbortid;
	HnswElementTuple placed;

	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	hnsw_edit_start(&edit, index, building);
	meta = HnswPageGetMeta(hnsw_edit_page(&edit, metabuf, false));

	hnsw_append(index, building, &edit, meta, &buffers[0], &pages[0],
				(Item) etup, esize, elementtid);
	buffers[1] = buffers[0];
	pages[1] = pages[0];
	hnsw_append(index, building, &edit, meta, &buffers[1], &pages[1],
				(Item) ntup, nsize, &neighbortid);

	/* now that its neighbor tuple has a place, point the element at it */
	placed = (HnswElementTuple) PageGetItem(pages[0],
											PageGetItemId(pages[0],
														  ItemPointerGetOffsetNumber(elementtid)));
	placed->neighbortid = neighbortid;

	hnsw_edit_finish(&edit);
	if (buffers[1] != buffers[0])
		UnlockReleaseBuffer(buffers[1]);
	UnlockReleaseBuffer(buffers[0]);
	UnlockReleaseBuffer(metabuf);
}

/* The tuple at tid, checked to be of the expected kind. */
static void *
hnsw_get_tuple(Relation index, Page page, ItemPointer tid, uint8 type)
{
	OffsetNumber offnum = ItemPointerGetOffsetNumber(tid);
	ItemId		itemid;
	uint8	   *tuple;

	if (offnum < FirstOffsetNumber || offnum > PageGetMaxOffsetNumber(page))
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("hnsw index \"%s\" points to a missing tuple (%u,%u)",
						RelationGetRelationName(index),
						ItemPointerGetBlockNumber(tid), offnum)));
	itemid = PageGetItemId(page, offnum);
	tuple = (uint8 *) PageGetItem(page, itemid);
	if (!ItemIdIsNormal(itemid) || *tuple != type)
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("hnsw index \"%s\" has an unexpected tuple at (%u,%u)",
						RelationGetRelationName(index),
						ItemPointerGetBlockNumber(tid), offnum)));
	return tuple;
}

/* Reads an element's header and, given a query, its distance to it. */
void
hnsw_load_candidate(Relation index, ItemPointer tid, HnswDistance *dist,
					Vector *query, HnswCandidate *out)
{
	Buffer		buffer = ReadBuffer(index, ItemPointerGetBlockNumber(tid));
	HnswElementTuple etup;

	LockBuffer(buffer, BUFFER_LOCK_SHARE);
	etup = hnsw_get_tuple(index, BufferGetPage(buffer), tid, HNSW_ELEMENT_TUPLE);
	out->tid = *tid;
	out->neighbortid = etup->neighbortid;
	out->heaptid = etup->heaptid;
	out->deleted = etup->deleted != 0;
	out->level = etup->level;
	out->distance = query ? hnsw_distance(dist, query, &etup->vec) : 0;
	out->vec = NULL;
	UnlockReleaseBuffer(buffer);
}

Vector *
hnsw_load_vector(Relation index, ItemPointer tid)
{
	Buffer		buffer = ReadBuffer(index, ItemPointerGetBlockNumber(tid));
	HnswElementTuple etup;
	Vector	   *vec;

	LockBuffer(buffer, BUFFER_LOCK_SHARE);
	etup = hnsw_get_tuple(index, BufferGetPage(buffer), tid, HNSW_ELEMENT_TUPLE);
	vec = palloc(VARSIZE(&etup->vec));
	memcpy(vec, &etup->vec, VARSIZE(&etup->vec));
	UnlockReleaseBuffer(buffer);
	return vec;
}

static void
hnsw_check_layer(Relation index, HnswNeighborTuple ntup, int m, int layer)
{
	if (hnsw_slot_offset(m, layer) + hnsw_slot_count(m, layer) > ntup->nslots)
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("hnsw index \"%s\" has no layer %d neighbors where expected",
						RelationGetRelationName(index), layer)));
}

/* Copies the element TIDs linked in one layer; returns how many. */
int
hnsw_load_neighbors(Relation index, ItemPointer neighbortid, int m, int layer,
					ItemPointerData *out)
{
	Buffer		buffer = ReadBuffer(index, ItemPointerGetBlockNumber(neighbortid));
	HnswNeighborTuple ntup;
	ItemPointerData *slots;
	int			count = 0;

	LockBuffer(buffer, BUFFER_LOCK_SHARE);
	ntup = hnsw_get_tuple(index, BufferGetPage(buffer), neighbortid, HNSW_NEIGHBOR_TUPLE);
	hnsw_check_layer(index, ntup, m, layer);
	slots = ntup->slots + hnsw_slot_offset(m, layer);
	for (int i = 0; i < hnsw_slot_count(m, layer); i++)
		if (ItemPointerIsValid(&slots[i]))
			out[count++] = slots[i];
	UnlockReleaseBuffer(buffer);
	return count;
}

/* Replaces one layer's links, in place: neighbor tuples never change size. */
void
hnsw_store_neighbors(Relation index, bool building, ItemPointer neighbortid,
					 int m, int layer, ItemPointerData *tids, int count)
{
	Buffer		buffer = ReadBuffer(index, ItemPointerGetBlockNumber(neighbortid));
	HnswEdit	edit;
	Page		page;
	HnswNeighborTuple ntup;
	ItemPointerData *slots;

	Assert(count <= hnsw_slot_count(m, layer));
	LockBuffer(buffer, BUFFER_LOCK_EXCLUSIVE);
	/* check before the edit starts, so an error leaves nothing half done */
	ntup = hnsw_get_tuple(index, BufferGetPage(buffer), neighbortid, HNSW_NEIGHBOR_TUPLE);
	hnsw_check_layer(index, ntup, m, layer);

	hnsw_edit_start(&edit, index, building);
	page = hnsw_edit_page(&edit, buffer, false);
	ntup = (HnswNeighborTuple) PageGetItem(page,
										   PageGetItemId(page,
														 ItemPointerGetOffsetNumber(neighbortid)));
	slots = ntup->slots + hnsw_slot_offset(m, layer);
	for (int i = 0; i < hnsw_slot_count(m, layer); i++)
	{
		if (i < count)
			slots[i] = tids[i];
		else
			ItemPointerSetInvalid(&slots[i]);
	}
	hnsw_edit_finish(&edit);
	UnlockReleaseBuffer(buffer);
}
