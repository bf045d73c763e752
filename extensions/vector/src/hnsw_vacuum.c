/*
 * hnsw_vacuum.c
 *		Vacuum: elements whose heap tuples are gone are flagged deleted and
 *		lose their heap TID, so a reused heap TID is never returned.  They
 *		stay in the graph as waypoints; REINDEX compacts the index.
 */
#include "postgres.h"

#include "commands/vacuum.h"
#include "hnsw.h"
#include "utils/rel.h"

IndexBulkDeleteResult *
hnsw_bulkdelete(IndexVacuumInfo *info, IndexBulkDeleteResult *stats,
				IndexBulkDeleteCallback callback, void *callback_state)
{
	Relation	index = info->index;
	BlockNumber nblocks = RelationGetNumberOfBlocks(index);
	OffsetNumber *dead = palloc(sizeof(OffsetNumber) * MaxOffsetNumber);

	if (stats == NULL)
		stats = palloc0(sizeof(IndexBulkDeleteResult));

	for (BlockNumber blkno = HNSW_METAPAGE_BLKNO + 1; blkno < nblocks; blkno++)
	{
		Buffer		buffer;
		Page		page;
		OffsetNumber maxoff;
		int			ndead = 0;

		vacuum_delay_point();
		buffer = ReadBufferExtended(index, MAIN_FORKNUM, blkno, RBM_NORMAL,
									info->strategy);
		LockBuffer(buffer, BUFFER_LOCK_EXCLUSIVE);
		page = BufferGetPage(buffer);
		/* a page extended but never written before a crash is all zeros */
		maxoff = PageIsNew(page) ? InvalidOffsetNumber : PageGetMaxOffsetNumber(page);

		for (OffsetNumber off = FirstOffsetNumber; off <= maxoff; off++)
		{
			HnswElementTuple etup = (HnswElementTuple) PageGetItem(page, PageGetItemId(page, off));

			if (etup->type != HNSW_ELEMENT_TUPLE || etup->deleted)
				continue;
			if (callback(&etup->heaptid, callback_state))
				dead[ndead++] = off;
			else
				stats->num_index_tuples++;
		}

		if (ndead > 0)
		{
			HnswEdit	edit;
			Page		edited;

			hnsw_edit_start(&edit, index, false);
			edited = hnsw_edit_page(&edit, buffer, false);
			for (int i = 0; i < ndead; i++)
			{
				HnswElementTuple etup = (HnswElementTuple) PageGetItem(edited, PageGetItemId(edited, dead[i]));

				etup->deleted = 1;
				ItemPointerSetInvalid(&etup->heaptid);
			}
			hnsw_edit_finish(&edit);
			stats->tuples_removed += ndead;
		}
		UnlockReleaseBuffer(buffer);
	}

	stats->num_pages = nblocks;
	pfree(dead);
	return stats;
}

IndexBulkDeleteResult *
hnsw_vacuumcleanup(IndexVacuumInfo *info, IndexBulkDeleteResult *stats)
{
	Relation	index = info->index;
	BlockNumber nblocks;

	if (info->analyze_only)
		return stats;

	/* without a bulk delete pass, count the live elements here */
	if (stats == NULL)
	{
		stats = palloc0(sizeof(IndexBulkDeleteResult));
		nblocks = RelationGetNumberOfBlocks(index);
		for (BlockNumber blkno = HNSW_METAPAGE_BLKNO + 1; blkno < nblocks; blkno++)
		{
			Buffer		buffer;
			Page		page;
			OffsetNumber maxoff;

			vacuum_delay_point();
			buffer = ReadBufferExtended(index, MAIN_FORKNUM, blkno, RBM_NORMAL,
										info->strategy);
			LockBuffer(buffer, BUFFER_LOCK_SHARE);
			page = BufferGetPage(buffer);
			maxoff = PageIsNew(page) ? InvalidOffsetNumber : PageGetMaxOffsetNumber(page);
			for (OffsetNumber off = FirstOffsetNumber; off <= maxoff; off++)
			{
				HnswElementTuple etup = (HnswElementTuple) PageGetItem(page, PageGetItemId(page, off));

				if (etup->type == HNSW_ELEMENT_TUPLE && !etup->deleted)
					stats->num_index_tuples++;
			}
			UnlockReleaseBuffer(buffer);
		}
	}
	stats->num_pages = RelationGetNumberOfBlocks(index);
	return stats;
}
