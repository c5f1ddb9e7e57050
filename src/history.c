/*-------------------------------------------------------------------------
 *
 * history.c
 *		History (SPEC section 7): every message of a key with a distinct
 *		sequence is one version, kept in <table>_history, valid from its
 *		sequence to the next version's.
 *
 * The table they live in, its index (the key, then _sdc_valid_from, NULLS
 * FIRST: every version of a key in order) and its rights are
 * historytable.c's.
 *
 * The rule, and why the history never depends on arrival order: a key's
 * versions are its messages' distinct sequences, sorted; each is valid
 * until the next.  A message at s (upsert, delete; applied, superseded,
 * stale or unchanged alike) is placed where s belongs: if a version starts
 * at s, on_equal decides (keep: nothing; replace: the version takes the
 * message's values; error: 21000); else the version before s (the one
 * starting below s, or the NULL-from version) ends at s, and the new one
 * runs to where the next begins (NULL if none).  Each placement keeps the
 * invariant "sorted, each ends where the next begins", so any order of
 * placements yields the same rows.  Within a call, messages of a key that
 * share a sequence: the one on_equal picks (the first under keep, the last
 * under replace -- the first of its run in dedup order) is placed.
 *
 * Concurrency: a key's versions are written only under the key's lock --
 * its key state row (a table with history keeps one for every key,
 * catalog.c), updated or locked by the call for every message of the key,
 * stale ones included (direct.c, keystate.c) -- and read under a snapshot
 * taken once the lock is held, which sees every version a previous holder
 * committed.  So placements of one key are serialized, each seeing all
 * before it.
 *
 * Rights (historytable.c has the argument): versions are written in C
 * straight through the history's heap and index, so no code of the
 * table's types (no cast, domain check or DEFAULT) runs as its owner.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

#include "pg_sequenced.h"

/* ----------------------------------------------------------------
 * writing versions
 * ---------------------------------------------------------------- */

struct HistoryWriter
{
	Batch	   *b;
	SeqTable   *st;
	Relation	rel;
	Relation	irel;
	EState	   *estate;
	ResultRelInfo *rri;
	TupleTableSlot *slot;		/* a version read */
	TupleTableSlot *newslot;	/* a version written */
	TupleDesc	tdesc;			/* the table's row type */
	DefaultState ds;
	Datum	   *values;			/* a message's row, by the table's attnum - 1 */
	bool	   *nulls;
	KeyProbe   *kp;				/* the table's rows, by key */
	TupleTableSlot *rowslot;	/* a row of the table, as written */
};

HistoryWriter *
history_begin(Batch *b)
{
	HistoryWriter *hw = palloc0(sizeof(HistoryWriter));
	SeqTable   *st = b->st;

	hw->b = b;
	hw->st = st;
	hw->rel = table_open(st->historyrelid, RowExclusiveLock);
	hw->irel = index_open(st->histindexid, RowExclusiveLock);
	hw->estate = CreateExecutorState();
	hw->rri = makeNode(ResultRelInfo);
	InitResultRelInfo(hw->rri, hw->rel, 0, NULL, 0);
	ExecOpenIndices(hw->rri, false);
	hw->slot = table_slot_create(hw->rel, NULL);
	hw->newslot = MakeSingleTupleTableSlot(RelationGetDescr(hw->rel), &TTSOpsVirtual);
	hw->tdesc = lookup_rowtype_tupdesc_copy(st->reltype, -1);
	hw->values = palloc(sizeof(Datum) * st->natts);
	hw->nulls = palloc(sizeof(bool) * st->natts);
	hw->ds.skip_volatile = true;	/* (a message that wrote no row uses up no nextval()) */
	hw->kp = keyprobe_begin(st);
	hw->rowslot = MakeSingleTupleTableSlot(hw->tdesc, &TTSOpsVirtual);
	return hw;
}

void
history_end(HistoryWriter *hw)
{
	target_defaults_done(&hw->ds);
	keyprobe_end(hw->kp);
	ExecDropSingleTupleTableSlot(hw->rowslot);
	ExecDropSingleTupleTableSlot(hw->slot);
	ExecDropSingleTupleTableSlot(hw->newslot);
	ExecCloseIndices(hw->rri);
	FreeExecutorState(hw->estate);
	index_close(hw->irel, NoLock);
	table_close(hw->rel, NoLock);
}

/*
 * The version a message makes, into hw->newslot, valid from its sequence to
 * `to`.  base: the version before it (or NULL): under omitted => 'keep' an
 * upsert's omitted columns take that version's values, as the row took the
 * stored ones.
 */
static void
form_version(HistoryWriter *hw, Message *m, int64 to, bool tonull, HeapTuple base, bool asrow)
{
	SeqTable   *st = hw->st;
	TupleTableSlot *slot = hw->newslot;
	int			hnatts = slot->tts_tupleDescriptor->natts;

	ExecClearTuple(slot);
	for (int h = 0; h < hnatts; h++)
	{
		slot->tts_values[h] = (Datum) 0;
		slot->tts_isnull[h] = true;
	}
	if (asrow)
	{
		/*
		 * The message wrote the row (or found it holding its values): the
		 * version is the row as it is -- generated, identity and DEFAULT
		 * columns as the table filled them -- at the message's sequence
		 */
		slot_getallattrs(hw->rowslot);
		memcpy(hw->values, hw->rowslot->tts_values, sizeof(Datum) * st->natts);
		memcpy(hw->nulls, hw->rowslot->tts_isnull, sizeof(bool) * st->natts);
		hw->values[st->seqatt - 1] = Int64GetDatum(m->seq);
		hw->nulls[st->seqatt - 1] = false;
	}
	else if (m->action == MSG_UPSERT)
		target_values(hw->b, m, hw->tdesc, &hw->ds, false, hw->values, hw->nulls);
	else
	{
		/* a delete's version: the key and the sequence */
		target_values(hw->b, m, hw->tdesc, NULL, true, hw->values, hw->nulls);
	}
	for (int i = 0; i < st->natts; i++)
	{
		AttrNumber	h = st->histatt[i];

		if (h == InvalidAttrNumber)
			continue;
		if (st->delatt != InvalidAttrNumber && i == st->delatt - 1)
			continue;			/* (the row's mark, not a value: _sdc_deleted says it) */
		slot->tts_values[h - 1] = hw->values[i];
		slot->tts_isnull[h - 1] = hw->nulls[i];
	}
	if (st->omitted_keep && m->action == MSG_UPSERT && base != NULL && !asrow)
	{
		TupleDesc	hdesc = slot->tts_tupleDescriptor;
		bool		isnull;

		if (!DatumGetBool(heap_getattr(base, st->hist_deleted, hdesc, &isnull)))
			for (int i = 0; i < st->natts; i++)
			{
				AttrNumber	h = st->histatt[i];
				SeqColumn  *c = &st->cols[i];

				if (h == InvalidAttrNumber || MSG_PRESENT(m, st->natts)[i] || c->keyno >= 0 ||
					!target_col_written(c) ||
					(c->guard != COLGUARD_NONE && c->guard != COLGUARD_EXTRA))
					continue;
				slot->tts_values[h - 1] = heap_getattr(base, h, hdesc, &slot->tts_isnull[h - 1]);
			}
	}
	slot->tts_values[st->hist_from - 1] = Int64GetDatum(m->seq);
	slot->tts_isnull[st->hist_from - 1] = false;
	slot->tts_values[st->hist_to - 1] = Int64GetDatum(to);
	slot->tts_isnull[st->hist_to - 1] = tonull;
	slot->tts_values[st->hist_deleted - 1] = BoolGetDatum(m->action == MSG_DELETE);
	slot->tts_isnull[st->hist_deleted - 1] = false;
	ExecStoreVirtualTuple(slot);
}

/*
 * A scan of the versions of the key keyvals, under snap, through the
 * history's index: those starting at or below s (strategy
 * BTLessEqualStrategyNumber), or all of them (InvalidStrategy; the one
 * since before any sequence first: NULLS FIRST).
 */
static IndexScanDesc
scan_versions(HistoryWriter *hw, Datum *keyvals, StrategyNumber strategy, int64 s, Snapshot snap)
{
	SeqTable   *st = hw->st;
	ScanKeyData skeys[INDEX_MAX_KEYS + 1];
	IndexScanDesc scan;
	int			nkeys = st->nkeys;
	int			n = nkeys;

	for (int k = 0; k < nkeys; k++)
		ScanKeyEntryInitializeWithInfo(&skeys[k], 0, k + 1, BTEqualStrategyNumber,
									   InvalidOid, st->keys[k].ssup.ssup_collation,
									   &st->keys[k].eqproc, keyvals[k]);
	if (strategy == BTLessEqualStrategyNumber)
		ScanKeyInit(&skeys[n++], nkeys + 1, BTLessEqualStrategyNumber, F_INT8LE, Int64GetDatum(s));
	scan = index_beginscan(hw->rel, hw->irel, snap, n, 0);
	index_rescan(scan, skeys, n, NULL, 0);
	return scan;
}

/* The start and end of the version in hw->slot (NULL: *null) */
static int64
version_from(HistoryWriter *hw, bool *null)
{
	return DatumGetInt64(slot_getattr(hw->slot, hw->st->hist_from, null));
}

static int64
version_to(HistoryWriter *hw, bool *null)
{
	return DatumGetInt64(slot_getattr(hw->slot, hw->st->hist_to, null));
}

/* Update the version tup (at tid) to end at `to` */
static void
set_valid_to(HistoryWriter *hw, HeapTuple tup, ItemPointer tid, int64 to, CommandId cid, Snapshot snap)
{
	SeqTable   *st = hw->st;
	TupleTableSlot *slot = hw->newslot;
	TM_Result	res;
	ItemPointerData t = *tid;

	ExecClearTuple(slot);
	heap_deform_tuple(tup, slot->tts_tupleDescriptor, slot->tts_values, slot->tts_isnull);
	slot->tts_values[st->hist_to - 1] = Int64GetDatum(to);
	slot->tts_isnull[st->hist_to - 1] = false;
	ExecStoreVirtualTuple(slot);
	res = keystate_update_row(hw->rel, &t, hw->rri, hw->estate, slot, cid, snap);
	if (res != TM_Ok)
		elog(ERROR, "failed to write the history of a key of table %s (%d)", st->relname, (int) res);
}

/*
 * Place one message's version (the top of this file), under the key's
 * lock.  keyvals: the key, in key order.
 */
static void
place(HistoryWriter *hw, Message *m, Datum *keyvals, Snapshot snap, bool asrow)
{
	SeqTable   *st = hw->st;
	CommandId	cid;
	bool		havenext = false;
	int64		next = 0;
	bool		isnull;
	HeapTuple	pred = NULL;
	ItemPointerData predtid;
	bool		exact = false;
	ItemPointerData exacttid;
	int64		exactto = 0;
	bool		exacttonull = true;
	IndexScanDesc scan;

	/* (history_key made a new command for this message, and snap after it) */
	cid = GetCurrentCommandId(true);
	hw->estate->es_output_cid = cid;

	/*
	 * Where s falls, with as few index scans as the usual cases allow: the
	 * versions starting at or below s, newest first -- one starting at s,
	 * then the one before it.  The versions are contiguous (each ends where
	 * the next begins: the top of this file), so the one before s also
	 * says where the next one begins.  Only when none starts at or below s
	 * (a new key, a message before its first version) are all its versions
	 * read from the first: the one since before any sequence, or the next.
	 */
	scan = scan_versions(hw, keyvals, BTLessEqualStrategyNumber, m->seq, snap);
	while (index_getnext_slot(scan, BackwardScanDirection, hw->slot))
	{
		int64		from = version_from(hw, &isnull);

		if (!isnull && from == m->seq && !exact)
		{
			exact = true;
			exacttid = hw->slot->tts_tid;
			exactto = version_to(hw, &exacttonull);
			continue;			/* and the one before it, for omitted => 'keep' */
		}
		pred = ExecCopySlotHeapTuple(hw->slot);
		predtid = hw->slot->tts_tid;
		break;
	}
	index_endscan(scan);
	ExecClearTuple(hw->slot);
	if (pred == NULL && !exact)
	{
		scan = scan_versions(hw, keyvals, InvalidStrategy, 0, snap);
		if (index_getnext_slot(scan, ForwardScanDirection, hw->slot))
		{
			int64		from = version_from(hw, &isnull);

			if (isnull)
			{
				pred = ExecCopySlotHeapTuple(hw->slot);
				predtid = hw->slot->tts_tid;
			}
			else
			{
				havenext = true;
				next = from;
			}
		}
		index_endscan(scan);
		ExecClearTuple(hw->slot);
	}
	if (pred != NULL && !exact)
	{
		next = DatumGetInt64(heap_getattr(pred, st->hist_to, RelationGetDescr(hw->rel), &isnull));
		havenext = !isnull;
	}

	if (exact)
	{
		/* a version starts at s already */
		if (st->on_equal == ON_EQUAL_KEEP)
			return;
		if (st->on_equal == ON_EQUAL_ERROR)
		{
			record_context_at(0, NULL); /* the message names the record */
			ereport(ERROR,
					(errcode(ERRCODE_CARDINALITY_VIOLATION),
					 errmsg("record %d has sequence " INT64_FORMAT ", the same as a version of key %s in its history",
							m->ord, m->seq, input_key_text(st, m)),
					 errdetail("Table %s is registered with on_equal => 'error' and history => true.", st->relname),
					 record_errtable(st)));
		}
		/* replace: the version takes the message's values, and keeps its end */
		{
			TM_Result	res;

			form_version(hw, m, exactto, exacttonull, pred, asrow);
			res = keystate_update_row(hw->rel, &exacttid, hw->rri, hw->estate, hw->newslot, cid, snap);
			if (res != TM_Ok)
				elog(ERROR, "failed to write the history of a key of table %s (%d)", st->relname, (int) res);
			return;
		}
	}
	/* the version before ends at s; the new one where the next begins */
	if (pred != NULL)
		set_valid_to(hw, pred, &predtid, m->seq, cid, snap);
	form_version(hw, m, next, !havenext, pred, asrow);
	table_tuple_insert(hw->rel, hw->newslot, cid, 0, NULL);
	list_free(ExecInsertIndexTuples(hw->rri, hw->newslot, hw->estate, false, false, NULL, NIL));
	ResetPerTupleExprContext(hw->estate);
}

/*
 * The versions of one key: the messages b->order[first .. first + n - 1]
 * (one key's run in dedup order: sequence descending, on_equal's pick first
 * among equal sequences), placed under the key's lock, which the caller
 * holds.  The values of a lazy batch's messages are made here
 * (valuecxt), under the caller's search_path, which the caller set.
 */
void
history_key(HistoryWriter *hw, int first, int n, MemoryContext valuecxt)
{
	Batch	   *b = hw->b;
	SeqTable   *st = hw->st;
	Datum		keyvals[INDEX_MAX_KEYS];
	Snapshot	snap = NULL;
	Message    *w = &b->msgs[b->order[first]];
	bool		asrow;

	for (int k = 0; k < st->nkeys; k++)
		keyvals[k] = w->values[st->keys[k].attnum - 1];
	for (int i = first; i < first + n; i++)
	{
		Message    *m = &b->msgs[b->order[i]];

		if (i > first && b->msgs[b->order[i - 1]].seq == m->seq)
		{
			if (st->on_equal == ON_EQUAL_ERROR)
			{
				Message    *o = &b->msgs[b->order[i - 1]];

				ereport(ERROR,
						(errcode(ERRCODE_CARDINALITY_VIOLATION),
						 errmsg("records %d and %d have the same sequence " INT64_FORMAT " for key %s",
								Min(m->ord, o->ord), Max(m->ord, o->ord), m->seq, input_key_text(st, m)),
						 errdetail("Table %s is registered with on_equal => 'error' and history => true.", st->relname),
						 record_errtable(st)));
			}
			continue;			/* on_equal's pick came first */
		}
		record_context_at(m->ord, NULL);
		if (m->action == MSG_UPSERT && m->record != NULL)
			input_materialize(b, m, valuecxt);
		/*
		 * A snapshot taken under the key's lock, after a new command: every
		 * earlier holder's versions, and this call's own
		 */
		if (snap != NULL)
			UnregisterSnapshot(snap);
		CommandCounterIncrement();
		snap = RegisterSnapshot(GetLatestSnapshot());
		/* the message that wrote the row (or matched it) is the row's version */
		asrow = i == first && m->action == MSG_UPSERT &&
			(m->outcome == OUT_INSERTED || m->outcome == OUT_UPDATED || m->outcome == OUT_UNCHANGED) &&
			keyprobe_fetch(hw->kp, keyvals, snap, hw->rowslot);
		place(hw, m, keyvals, snap, asrow);
		ExecClearTuple(hw->rowslot);
	}
	if (snap != NULL)
		UnregisterSnapshot(snap);
}

