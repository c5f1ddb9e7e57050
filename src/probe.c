/*-------------------------------------------------------------------------
 *
 * probe.c
 *		Reading a batch's stored states from the state table's unique
 *		index, leaf page by leaf page.
 *
 * The probe of apply.c asks the state index for every winner of a batch, in
 * key order.  An ordinary index scan descends from the root for each key:
 * three or four pages, two dozen comparisons, and most of the time of a
 * replayed batch.  Yet a batch's keys arrive sorted, so consecutive keys
 * usually sit on the same leaf page.  This module keeps the last leaf page
 * pinned and answers the next key there when the page's key range covers
 * it, with one search of the page (see leaf_search); only a key outside
 * that range pays a descent.
 *
 * It answers only what it can answer exactly, and says "unsure" otherwise;
 * the caller then asks an ordinary index scan, which also marks dead index
 * entries for later reuse.  Unsure are: a key with more than one index entry
 * that is not known dead (several row versions), a run of equal entries
 * that may continue on the next page, a single entry whose row version is
 * dead, and any index this code does not know (no heap TID tiebreak, not a
 * btree).  Serializable transactions and "snapshot too old" do not use it:
 * they need the predicate locks and snapshot tests of the ordinary scan.
 *
 * Correctness rests on the btree invariants the server's own scans use: a
 * leaf page's key range only shrinks from the right (a split moves its
 * upper part to a new right sibling), so a key above the page's first item
 * and below its high key still belongs to the page however long the page
 * sat unlocked; deleted and half-dead pages are never trusted.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/itup.h"
#include "access/nbtree.h"
#include "access/tableam.h"
#include "access/visibilitymap.h"
#include "access/xact.h"
#include "catalog/pg_am.h"
#include "storage/bufmgr.h"
#include "utils/rel.h"
#include "utils/sortsupport.h"
#include "utils/snapmgr.h"

#include "pg_sequenced.h"

struct LeafProbe
{
	Relation	heaprel;
	Relation	irel;
	Snapshot	snapshot;
	int			nkeys;
	SeqKey	   *keys;			/* their sort support: leaf items compare
								 * without the generic _bt_compare */
	Datum	   *args;			/* the key being probed */
	int			intlen;			/* 4 or 8: one integer key compared inline */
	AttrNumber	seqatt;			/* the INCLUDEd sequence, in the index, or 0 */
	AttrNumber	heapseqatt;		/* the sequence, in the heap */
	BTScanInsertData key;
	Buffer		buf;			/* last leaf, pinned but not locked */
	Buffer		pbuf;			/* its parent (level 1), pinned, or invalid */
	bool		tryright;		/* step right when above its high key? */
	Buffer		vmbuffer;
	IndexFetchTableData *fetch;
};

/*
 * NULL when the index is not one this module can read; the caller then uses
 * ordinary scans only.
 */
LeafProbe *
leafprobe_begin(Relation heaprel, Relation irel, SeqKey *keys, int nkeys, Snapshot snapshot,
				AttrNumber seq_index_att, AttrNumber seq_heap_att)
{
	LeafProbe  *lp;
	bool		heapkeyspace;
	bool		allequalimage;

	if (irel->rd_rel->relam != BTREE_AM_OID ||
		IndexRelationGetNumberOfKeyAttributes(irel) != nkeys ||
		(seq_index_att != 0 && IndexRelationGetNumberOfAttributes(irel) < seq_index_att) ||
		IsolationIsSerializable() || old_snapshot_threshold >= 0 ||
		!IsMVCCSnapshot(snapshot))
		return NULL;
	for (int k = 0; k < nkeys; k++)
		if (irel->rd_indoption[k] != 0 || keys[k].ssup.ssup_reverse)
			return NULL;
	_bt_metaversion(irel, &heapkeyspace, &allequalimage);
	if (!heapkeyspace)
		return NULL;

	lp = palloc0(sizeof(LeafProbe));
	lp->heaprel = heaprel;
	lp->irel = irel;
	lp->snapshot = snapshot;
	lp->nkeys = nkeys;
	lp->keys = keys;
	lp->seqatt = seq_index_att;
	lp->heapseqatt = seq_heap_att;
	lp->key.heapkeyspace = true;
	lp->key.allequalimage = allequalimage;
	lp->key.anynullkeys = false;
	lp->key.nextkey = false;
	lp->key.pivotsearch = false;
	lp->key.scantid = NULL;
	lp->key.keysz = nkeys;
	for (int k = 0; k < nkeys; k++)
		ScanKeyEntryInitializeWithInfo(&lp->key.scankeys[k],
									   irel->rd_indoption[k] << SK_BT_INDOPTION_SHIFT,
									   k + 1, InvalidStrategy, InvalidOid,
									   irel->rd_indcollation[k],
									   index_getprocinfo(irel, k + 1, BTORDER_PROC),
									   (Datum) 0);
	/*
	 * One key of a type ordered as a plain signed integer (int4, date; int8,
	 * timestamp), passed by value: the binary search reads it straight from
	 * the leaf item.  That comparison is most of a replay's probing.
	 */
	if (nkeys == 1 && !keys[0].ssup.ssup_reverse)
	{
		Form_pg_attribute att = TupleDescAttr(RelationGetDescr(irel), 0);

		if (keys[0].ssup.comparator == ssup_datum_int32_cmp && att->attbyval && att->attlen == 4)
			lp->intlen = 4;
		else if (keys[0].ssup.comparator == ssup_datum_signed_cmp && att->attbyval && att->attlen == 8)
			lp->intlen = 8;
	}
	lp->buf = InvalidBuffer;
	lp->pbuf = InvalidBuffer;
	lp->tryright = true;
	lp->vmbuffer = InvalidBuffer;
	lp->fetch = table_index_fetch_begin(heaprel);
	return lp;
}

void
leafprobe_end(LeafProbe *lp)
{
	if (lp == NULL)
		return;
	if (BufferIsValid(lp->buf))
		ReleaseBuffer(lp->buf);
	if (BufferIsValid(lp->pbuf))
		ReleaseBuffer(lp->pbuf);
	if (BufferIsValid(lp->vmbuffer))
		ReleaseBuffer(lp->vmbuffer);
	table_index_fetch_end(lp->fetch);
	pfree(lp);
}

/* The probed key, one integer (lp->intlen set), widened to int64 */
static inline int64
probe_int(LeafProbe *lp)
{
	return lp->intlen == 4 ? (int64) DatumGetInt32(lp->args[0]) : DatumGetInt64(lp->args[0]);
}

/*
 * The integer key of an item (lp->intlen set), read straight from it: the
 * first attribute starts the data, aligned.  False when it is NULL.
 */
static inline bool
leaf_int(LeafProbe *lp, Page page, OffsetNumber off, int64 *val)
{
	IndexTuple	itup = (IndexTuple) PageGetItem(page, PageGetItemId(page, off));
	char	   *data;

	if (IndexTupleHasNulls(itup) && att_isnull(0, (bits8 *) itup + sizeof(IndexTupleData)))
		return false;
	data = (char *) itup + IndexInfoFindDataOffset(itup->t_info);
	*val = lp->intlen == 4 ? (int64) *(int32 *) data : *(int64 *) data;
	return true;
}

/*
 * The probed key against a leaf item (never the high key: leaf items are
 * never truncated), with the key's sort support: <0, 0, >0 as the key is
 * below, equal to or above the item, as _bt_compare says for them.
 */
static inline int
leaf_compare(LeafProbe *lp, Page page, OffsetNumber off)
{
	IndexTuple	itup;
	TupleDesc	desc = RelationGetDescr(lp->irel);
	int64		b;

	if (lp->intlen != 0 && leaf_int(lp, page, off, &b))
	{
		int64		a = probe_int(lp);

		return (a > b) - (a < b);
	}
	itup = (IndexTuple) PageGetItem(page, PageGetItemId(page, off));
	for (int k = 0; k < lp->nkeys; k++)
	{
		bool		isnull;
		Datum		d = index_getattr(itup, k + 1, desc, &isnull);
		int			r = ApplySortComparator(lp->args[k], false, d, isnull, &lp->keys[k].ssup);

		if (r != 0)
			return r;
	}
	return 0;
}

/*
 * The first item of the leaf page at or above the probed key, among the
 * items from first to maxoff.
 *
 * A binary search costs a comparison per halving, each a cache miss on a
 * line pointer and an item somewhere in the page: most of a replay's
 * probing.  For one integer key, the position is first guessed from the
 * page's lowest and highest key (the keys of a table are often spread
 * evenly), then bracketed by steps doubling away from the guess, then
 * searched within the bracket.  The guess only saves comparisons: every
 * bound rests on a comparison, so a bad guess (skewed keys) costs at most
 * about twice a binary search, never a wrong answer.
 */
static OffsetNumber
leaf_search(LeafProbe *lp, Page page, OffsetNumber first, OffsetNumber maxoff)
{
	OffsetNumber low = first,
				high = maxoff + 1;
	int64		lo_key,
				hi_key;

	if (lp->intlen != 0 && maxoff > first + 8 &&
		leaf_int(lp, page, first, &lo_key) && leaf_int(lp, page, maxoff, &hi_key))
	{
		int64		key = probe_int(lp);

		if (key <= lo_key)
			return first;
		if (key > hi_key)
			return maxoff + 1;
		/* lo_key < key <= hi_key: the answer is in (first, maxoff] */
		low = first + 1;		/* item first is below the key */
		high = maxoff;			/* item maxoff is at or above it */
		/* (keys closer than a double can tell apart: no guess, bisect) */
		if ((double) hi_key - (double) lo_key > 0)
		{
			double		frac = ((double) key - (double) lo_key) / ((double) hi_key - (double) lo_key);
			int			guess = first + 1 + (int) (Min(Max(frac, 0.0), 1.0) * (maxoff - first - 1));
			int			step = 1;

			guess = Max(guess, first + 1);
			guess = Min(guess, maxoff);
			if (leaf_compare(lp, page, guess) > 0)
			{
				/* above the guess: step right */
				low = guess + 1;
				while (low < high)
				{
					int			p = guess + step;

					if (p >= high)
						break;
					if (leaf_compare(lp, page, p) > 0)
					{
						low = p + 1;
						step *= 2;
					}
					else
					{
						high = p;
						break;
					}
				}
			}
			else
			{
				/* at or below the guess: step left */
				high = guess;
				while (low < high)
				{
					int			p = guess - step;

					if (p < low)
						break;
					if (leaf_compare(lp, page, p) > 0)
					{
						low = p + 1;
						break;
					}
					high = p;
					step *= 2;
				}
			}
		}
	}
	while (low < high)
	{
		OffsetNumber mid = low + (high - low) / 2;

		if (leaf_compare(lp, page, mid) > 0)
			low = mid + 1;
		else
			high = mid;
	}
	return low;
}

/*
 * The probed key against a pivot (a high key, or an internal page's item),
 * as _bt_compare says.  One integer key that differs from the pivot's is
 * compared inline; the rules for equal keys, truncated pivots and an
 * internal page's minus-infinity first item stay _bt_compare's.
 */
static inline int
pivot_compare(LeafProbe *lp, Page page, OffsetNumber off)
{
	if (lp->intlen != 0)
	{
		BTPageOpaque opaque = BTPageGetOpaque(page);
		IndexTuple	itup = (IndexTuple) PageGetItem(page, PageGetItemId(page, off));
		int64		a = probe_int(lp);
		int64		b;

		if ((P_ISLEAF(opaque) || off != P_FIRSTDATAKEY(opaque)) &&
			BTreeTupleGetNAtts(itup, lp->irel) >= 1 && leaf_int(lp, page, off, &b) && a != b)
			return a < b ? -1 : 1;
	}
	return _bt_compare(lp->irel, &lp->key, page, off);
}

/*
 * Sparse keys (a small batch over a large index) seldom share a leaf, but
 * they share the leaf's parent: find the key's leaf through the pinned
 * parent of the last leaf, skipping the root and a buffer lookup per level.
 * The parent's range still holds the key when the key is below its high
 * key: its low bound is at most the key before, which went through it (keys
 * come in ascending order), and a split only moves the upper part away.
 * The leaf its downlink names is checked as any pinned leaf: it may have
 * split since.  On success the leaf is locked in lp->buf; on failure
 * nothing is locked and the caller descends from the root.
 */
static bool
leafprobe_via_parent(LeafProbe *lp)
{
	Page		page;
	BTPageOpaque opaque;
	OffsetNumber low,
				high,
				maxoff;
	BlockNumber child;

	if (!BufferIsValid(lp->pbuf))
		return false;
	_bt_lockbuf(lp->irel, lp->pbuf, BT_READ);
	page = BufferGetPage(lp->pbuf);
	opaque = BTPageGetOpaque(page);
	low = P_FIRSTDATAKEY(opaque);
	maxoff = PageGetMaxOffsetNumber(page);
	if (P_ISLEAF(opaque) || P_IGNORE(opaque) || opaque->btpo_level != 1 || maxoff < low ||
		(!P_RIGHTMOST(opaque) && pivot_compare(lp, page, P_HIKEY) >= 0))
	{
		_bt_unlockbuf(lp->irel, lp->pbuf);
		return false;
	}
	/* the last pivot <= key, as _bt_binsrch on an internal page */
	high = maxoff + 1;
	while (high > low)
	{
		OffsetNumber mid = low + (high - low) / 2;

		if (pivot_compare(lp, page, mid) >= 1)
			low = mid + 1;
		else
			high = mid;
	}
	if (low <= P_FIRSTDATAKEY(opaque))
	{
		/* the first pivot is minus infinity: cannot happen, but never guess */
		_bt_unlockbuf(lp->irel, lp->pbuf);
		return false;
	}
	child = BTreeTupleGetDownLink((IndexTuple) PageGetItem(page, PageGetItemId(page, OffsetNumberPrev(low))));
	_bt_unlockbuf(lp->irel, lp->pbuf);

	/* lp->buf, if valid, is pinned only: swap pins, then lock */
	lp->buf = ReleaseAndReadBuffer(lp->buf, lp->irel, child);
	_bt_lockbuf(lp->irel, lp->buf, BT_READ);
	_bt_checkpage(lp->irel, lp->buf);
	page = BufferGetPage(lp->buf);
	opaque = BTPageGetOpaque(page);
	if (P_ISLEAF(opaque) && !P_IGNORE(opaque) &&
		(P_RIGHTMOST(opaque) || pivot_compare(lp, page, P_HIKEY) < 0))
		return true;
	_bt_relbuf(lp->irel, lp->buf);
	lp->buf = InvalidBuffer;
	return false;
}

/*
 * Lock (share) the leaf page whose key range holds the key: the pinned one
 * when it still does, else the one a descent finds.  False: the index is
 * empty (nothing pinned).
 */
static bool
leafprobe_locate(LeafProbe *lp)
{
	BTStack		stack;

	if (BufferIsValid(lp->buf))
	{
		Page		page;
		BTPageOpaque opaque;

		_bt_lockbuf(lp->irel, lp->buf, BT_READ);
		page = BufferGetPage(lp->buf);
		opaque = BTPageGetOpaque(page);

		/*
		 * Strictly above the first item (equal entries might also end the
		 * left sibling) and strictly below the high key (equal entries might
		 * begin the right one).
		 */
		if (P_ISLEAF(opaque) && !P_IGNORE(opaque) &&
			P_FIRSTDATAKEY(opaque) <= PageGetMaxOffsetNumber(page) &&
			leaf_compare(lp, page, P_FIRSTDATAKEY(opaque)) > 0)
		{
			int			c;

			if (P_RIGHTMOST(opaque) || (c = pivot_compare(lp, page, P_HIKEY)) < 0)
			{
				lp->tryright = true;	/* dense keys: stepping right pays */
				return true;
			}

			/*
			 * Above the high key: the next key in order is most often on the
			 * right sibling, whose range starts at our high key (a split in
			 * between moves that start to a new page between us, which then
			 * still starts below the key).  One step right, then give up;
			 * after a step that missed, sparse keys descend directly until a
			 * key lands on the page of the one before again.
			 */
			if (c > 0 && lp->tryright)
			{
				lp->buf = _bt_relandgetbuf(lp->irel, lp->buf, opaque->btpo_next, BT_READ);
				page = BufferGetPage(lp->buf);
				opaque = BTPageGetOpaque(page);
				if (P_ISLEAF(opaque) && !P_IGNORE(opaque) &&
					(P_RIGHTMOST(opaque) || pivot_compare(lp, page, P_HIKEY) < 0))
					return true;
				lp->tryright = false;
			}
		}
		_bt_unlockbuf(lp->irel, lp->buf);	/* kept pinned: the parent may name it again */
	}
	if (leafprobe_via_parent(lp))
		return true;
	if (BufferIsValid(lp->buf))
	{
		ReleaseBuffer(lp->buf);
		lp->buf = InvalidBuffer;
	}
	stack = _bt_search(lp->irel, &lp->key, &lp->buf, BT_READ, lp->snapshot);
	/* keep the leaf's parent pinned for the next keys */
	if (stack != NULL && (!BufferIsValid(lp->pbuf) || BufferGetBlockNumber(lp->pbuf) != stack->bts_blkno))
	{
		if (BufferIsValid(lp->pbuf))
			ReleaseBuffer(lp->pbuf);
		lp->pbuf = ReadBuffer(lp->irel, stack->bts_blkno);
	}
	_bt_freestack(stack);
	return BufferIsValid(lp->buf);
}

/*
 * The stored state of one key.  keys: the key's values, in index order.
 * On LEAF_FOUND, *tid is the row version (*exact: it is then in slot too,
 * which the caller clears), or its index entry when the index INCLUDEs the
 * sequence and the heap page is all-visible (which may point at the root of
 * a HOT chain: not a tuple to lock), and *seq / *seqnull the sequence.
 */
LeafResult
leafprobe_get(LeafProbe *lp, Datum *keys, TupleTableSlot *slot,
			  ItemPointer tid, bool *exact, int64 *seq, bool *seqnull)
{
	Page		page;
	BTPageOpaque opaque;
	OffsetNumber low,
				maxoff,
				off;
	int			nfound = 0;
	ItemPointerData found;
	int64		fseq = 0;
	bool		fnull = true;
	bool		unsure = false;

	for (int k = 0; k < lp->nkeys; k++)
		lp->key.scankeys[k].sk_argument = keys[k];
	lp->args = keys;
	if (!leafprobe_locate(lp))
		return LEAF_ABSENT;

	page = BufferGetPage(lp->buf);
	opaque = BTPageGetOpaque(page);
	maxoff = PageGetMaxOffsetNumber(page);

	/* the first item >= key */
	low = leaf_search(lp, page, P_FIRSTDATAKEY(opaque), maxoff);

	for (off = low; off <= maxoff; off++)
	{
		ItemId		itemid = PageGetItemId(page, off);
		IndexTuple	itup;

		if (leaf_compare(lp, page, off) != 0)
			break;
		if (ItemIdIsDead(itemid))
			continue;			/* known dead to every snapshot */
		itup = (IndexTuple) PageGetItem(page, itemid);
		if (BTreeTupleIsPosting(itup) || ++nfound > 1)
		{
			unsure = true;
			break;
		}
		found = itup->t_tid;
		if (lp->seqatt != 0)
			fseq = DatumGetInt64(index_getattr(itup, lp->seqatt, RelationGetDescr(lp->irel), &fnull));
	}
	/* ran off the page: equal entries may go on in the right sibling */
	if (!unsure && off > maxoff && !P_RIGHTMOST(opaque) &&
		pivot_compare(lp, page, P_HIKEY) >= 0)
		unsure = true;
	_bt_unlockbuf(lp->irel, lp->buf);

	if (unsure)
		return LEAF_UNSURE;
	if (nfound == 0)
		return LEAF_ABSENT;

	/* as an index-only scan: an all-visible heap page needs no visit */
	if (lp->seqatt != 0 &&
		VM_ALL_VISIBLE(lp->heaprel, ItemPointerGetBlockNumber(&found), &lp->vmbuffer))
	{
		*tid = found;
		*exact = false;
		*seq = fseq;
		*seqnull = fnull;
		return LEAF_FOUND;
	}
	{
		bool		call_again = false;
		bool		all_dead = false;
		ItemPointerData htid = found;

		if (table_index_fetch_tuple(lp->fetch, &htid, lp->snapshot, slot, &call_again, &all_dead))
		{
			Datum		d = slot_getattr(slot, lp->heapseqatt, seqnull);

			/* (the row version stays in slot, for the caller) */
			*seq = *seqnull ? 0 : DatumGetInt64(d);
			*tid = slot->tts_tid;
			*exact = true;
			return LEAF_FOUND;
		}
		/* a dead entry: let the ordinary scan see it and mark it so */
		return all_dead ? LEAF_UNSURE : LEAF_ABSENT;
	}
}
