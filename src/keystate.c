/*-------------------------------------------------------------------------
 *
 * keystate.c
 *		The key state: reading it (the probe), and the per-key locks.
 *
 * Each registered table with a key has a key state table
 * (_sequenced.state_<n>): one row per key that was ever applied (or was in
 * the table at registration) -- the key columns with the types and
 * operator classes of the table's key index, the stored sequence, the
 * change position (positions.c), and whether the key is a tombstone.
 *
 * The probe (keystate_probe) reads each candidate's stored sequence straight
 * from the state's unique index under a fresh snapshot, in key order (the
 * leaf-page walk of probe.c; an ordinary index scan where it cannot answer
 * exactly), locking and writing nothing.  A key's stored sequence never
 * goes down, so a message older than what the probe saw is stale for good.
 *
 * The locks (keystate_lock): INSERT ... ON CONFLICT DO UPDATE ... WHERE on the
 * state table, done with the executor's own pieces, for every candidate in
 * key order.  A key the probe found is updated in place (table_tuple_update
 * waits for a concurrent writer and reports its change; the key is then
 * looked up again, locked with table_tuple_lock and decided again); a key
 * it did not find is inserted speculatively, as ON CONFLICT does, so that
 * two calls inserting one new key never raise a unique violation: the loser
 * sees the conflict, drops its tuple and starts over on the winner's.
 *
 * Why it is correct (the concurrency argument).  Every call that writes a
 * key holds the key's state row lock -- the tuple lock of its update, or
 * its uncommitted speculative insert, which makes a concurrent inserter
 * wait -- from its lock phase to the end of its transaction, and takes these
 * locks in one global order, the key order of the state's unique index.  So
 *	- all calls that touch a key are serialized on it, and each decides
 *	  against the latest committed state (the update's recheck, the lock's
 *	  re-read): any interleaving ends as applying every message in sequence
 *	  order would;
 *	- no cycle of waits can form (a call waits only for a key above every
 *	  key it holds, in the one order): overlapping calls never deadlock;
 *	- calls on disjoint keys share no lock at all.
 * A delete racing an older upsert of the same key: whichever locks it
 * second sees the other's committed sequence, so the older is stale and a
 * deleted row never comes back.  Under REPEATABLE READ and SERIALIZABLE, a
 * key changed after the transaction's snapshot fails with 40001, as
 * INSERT ... ON CONFLICT does.
 *
 * Helpers shared with the target's direct writes (target.c): the
 * speculative insertion, the update with its index entries, the
 * serialization failure, and keystate_message_wins (the newer-wins test).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/relscan.h"
#include "access/stratnum.h"
#include "access/sysattr.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/visibilitymap.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/readfuncs.h"
#include "optimizer/optimizer.h"
#include "rewrite/rewriteHandler.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

#include "pg_sequenced.h"

/* What the executor raises for a row changed after a transaction's snapshot */
void
keystate_serialization_failure(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
			 errmsg("could not serialize access due to concurrent update")));
}

/*
 * Insert slot as INSERT ... ON CONFLICT does: speculatively, so that others
 * wait on our token, not our transaction, until we know whether we won.
 * False: the arbiter index had the key already (the tuple is withdrawn).
 */
bool
keystate_insert_speculative(Relation rel, ResultRelInfo *rri, EState *estate, TupleTableSlot *slot,
				   CommandId cid, List *arbiters)
{
	TransactionId xid = GetCurrentTransactionId();
	uint32		token = SpeculativeInsertionLockAcquire(xid);
	bool		specconflict = false;

	table_tuple_insert_speculative(rel, slot, cid, 0, NULL, token);
	list_free(ExecInsertIndexTuples(rri, slot, estate, false, true, &specconflict, arbiters));
	table_tuple_complete_speculative(rel, slot, token, !specconflict);
	SpeculativeInsertionLockRelease(xid);
	return !specconflict;
}

/* Update the row version at tid to slot, waiting for a concurrent writer, and its index entries */
TM_Result
keystate_update_row(Relation rel, ItemPointer tid, ResultRelInfo *rri, EState *estate, TupleTableSlot *slot,
		   CommandId cid, Snapshot snap)
{
	TM_FailureData tmfd;
	LockTupleMode lockmode;
	bool		update_indexes;
	TM_Result	res;

	res = table_tuple_update(rel, tid, slot, cid, snap, InvalidSnapshot, true,
							 &tmfd, &lockmode, &update_indexes);
	if (res == TM_Ok && update_indexes)
		list_free(ExecInsertIndexTuples(rri, slot, estate, true, false, NULL, NIL));
	return res;
}

/*
 * Does a message of sequence seq beat a stored sequence (stored_null: the
 * stored one is NULL, older than any message)?  Ties: on_equal.
 */
bool
keystate_message_wins(SeqTable *st, int64 seq, int64 stored, bool stored_null)
{
	return stored_null || stored < seq ||
		(stored == seq && st->on_equal == ON_EQUAL_REPLACE);
}

/*
 * Step 0: read each candidate's stored state straight from the state table's
 * unique index, under a fresh snapshot, locking and writing nothing.  A
 * message already older than what is stored is stale for good (a key's
 * stored sequence never goes down), so it leaves the batch here: a stale
 * message costs one index probe and no statement at all.  The others are
 * decided again, under lock, by keystate_lock.  Returns how many remain.
 */
int
keystate_probe(Batch *b, int *cand, int ncand)
{
	SeqTable   *st = b->st;
	Relation	srel;
	Relation	irel;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	ScanKeyData skeys[INDEX_MAX_KEYS];
	AttrNumber	seqattno = st->nkeys + 1;	/* k1..kn, sequence, ... */
	int			nkept = 0;
	bool		covering;
	Buffer		vmbuffer = InvalidBuffer;
	LeafProbe  *lp = NULL;
	Datum		keyvals[INDEX_MAX_KEYS];

	/* see what earlier statements of this transaction wrote */
	CommandCounterIncrement();
	PushActiveSnapshot(GetTransactionSnapshot());
	srel = table_open(st->staterelid, RowExclusiveLock);
	irel = index_open(st->stateindexid, RowExclusiveLock);
	slot = table_slot_create(srel, NULL);
	scan = index_beginscan(srel, irel, GetActiveSnapshot(), st->nkeys, 0);
	for (int k = 0; k < st->nkeys; k++)
		ScanKeyEntryInitializeWithInfo(&skeys[k], 0, k + 1, BTEqualStrategyNumber,
									   InvalidOid, st->keys[k].ssup.ssup_collation,
									   &st->keys[k].eqproc, (Datum) 0);
	/*
	 * With the sequence in the index (INCLUDE), a key whose heap page is
	 * all-visible is answered by the index alone, as an index-only scan
	 * does: after a VACUUM, a replay touches no heap page at all.
	 */
	covering = irel->rd_index->indnatts > st->nkeys &&
		irel->rd_index->indkey.values[st->nkeys] == seqattno;
	scan->xs_want_itup = covering;
	/* keys come sorted: most are answered on the leaf page of the one before */
	if (covering)
		lp = leafprobe_begin(srel, irel, st->keys, st->nkeys, GetActiveSnapshot(), seqattno, seqattno);
	for (int i = 0; i < ncand; i++)
	{
		Message    *m = &b->msgs[cand[i]];
		bool		stale = false;
		bool		isnull = true;
		Datum		d = (Datum) 0;
		ItemPointer tid;
		LeafResult	r = LEAF_UNSURE;

#ifdef __GNUC__

		/*
		 * Candidates come in key order, their messages in input order: ask
		 * for the message a few keys ahead, and for its key values once the
		 * message itself has had time to arrive, so that the probe does not
		 * wait on them.
		 */
		if (i + 8 < ncand)
			__builtin_prefetch(&b->msgs[cand[i + 8]]);
		if (i + 4 < ncand)
			__builtin_prefetch(&b->msgs[cand[i + 4]].values[st->keys[0].attnum - 1]);
#endif

		for (int k = 0; k < st->nkeys; k++)
			keyvals[k] = m->values[st->keys[k].attnum - 1];
		m->found = false;
		m->exact = false;
		if (lp != NULL)
		{
			int64		stored;

			CHECK_FOR_INTERRUPTS();
			r = leafprobe_get(lp, keyvals, slot, &m->tid, &m->exact, &stored, &isnull);
			ExecClearTuple(slot);
			if (r == LEAF_FOUND)
			{
				d = Int64GetDatum(stored);
				m->found = true;
			}
		}
		if (r == LEAF_UNSURE)
		{
			for (int k = 0; k < st->nkeys; k++)
				skeys[k].sk_argument = keyvals[k];
			index_rescan(scan, skeys, st->nkeys, NULL, 0);
		}
		while (r == LEAF_UNSURE && (tid = index_getnext_tid(scan, ForwardScanDirection)) != NULL)
		{
			if (covering && VM_ALL_VISIBLE(srel, ItemPointerGetBlockNumber(tid), &vmbuffer))
			{
				d = index_getattr(scan->xs_itup, st->nkeys + 1, scan->xs_itupdesc, &isnull);
				m->tid = *tid;
				m->exact = false;
				m->found = true;
				break;
			}
			if (index_fetch_heap(scan, slot))
			{
				d = slot_getattr(slot, seqattno, &isnull);
				m->tid = slot->tts_tid;
				m->exact = true;
				m->found = true;
				break;
			}
		}
		/* ties under 'error' are decided (and raised) under lock */
		m->wins = m->found && keystate_message_wins(st, m->seq, DatumGetInt64(d), isnull);
		if (m->found && !m->wins &&
			!(st->on_equal == ON_EQUAL_ERROR && DatumGetInt64(d) == m->seq))
			stale = true;
		ExecClearTuple(slot);
		if (stale)
			m->outcome = OUT_STALE;
		else
			cand[nkept++] = cand[i];
	}
	if (vmbuffer != InvalidBuffer)
		ReleaseBuffer(vmbuffer);
	leafprobe_end(lp);
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	index_close(irel, NoLock);
	table_close(srel, NoLock);
	PopActiveSnapshot();
	return nkept;
}

/*
 * Step 1: take the per-key locks and decide against the stored state.
 * Accepted candidates keep OUT_NONE; the others become stale.
 *
 * This is INSERT ... ON CONFLICT DO UPDATE ... WHERE on the state table,
 * done straight on the heap and its indexes with the executor's own
 * building blocks, for every candidate in key order (the one lock order
 * every call shares).  A key the probe found is locked through the tuple
 * the probe saw; a key it did not find is inserted speculatively, as ON
 * CONFLICT does, so that two calls inserting one new key never raise a
 * unique violation: the loser sees a conflict, forgets its tuple and starts
 * over on the winner's.  Only a lost race pays the pre-check probe.
 */
void
keystate_lock(Batch *b, int *cand, int ncand)
{
	SeqTable   *st = b->st;
	EState	   *estate = CreateExecutorState();
	ResultRelInfo *rri = makeNode(ResultRelInfo);
	Relation	srel = table_open(st->staterelid, RowExclusiveLock);
	TupleTableSlot *slot;
	TupleTableSlot *existing;
	List	   *arbiters = list_make1_oid(st->stateindexid);
	CommandId	cid = GetCurrentCommandId(true);
	Snapshot	snap;
	ErrorContextCallback errcb;
	int			seqno = st->nkeys;	/* 0-based: k1..kn, sequence, position, deleted */

	/* an error here (an oversized key, say) is about the record at hand */
	record_context_push(&errcb, b->st);
	PushActiveSnapshot(GetTransactionSnapshot());
	snap = GetActiveSnapshot();
	estate->es_output_cid = cid;
	InitResultRelInfo(rri, srel, 0, NULL, 0);
	ExecOpenIndices(rri, true);
	slot = table_slot_create(srel, NULL);
	existing = table_slot_create(srel, NULL);

	for (int i = 0; i < ncand; i++)
	{
		Message    *m = &b->msgs[cand[i]];

		/*
		 * Only a row version itself is locked; an index entry (an
		 * index-only answer) is looked up again, like a lost race.
		 */
		bool		from_probe = m->found && m->exact;
		bool		precheck = m->found && !m->exact;

		record_context_at(m->ord, NULL);
		m->pos = positions_next(st->staterelid);
		for (;;)
		{
			ItemPointerData conflict;
			TM_FailureData tmfd;
			TM_Result	res;
			bool		isnull;
			Datum		stored;

			CHECK_FOR_INTERRUPTS();
			ResetPerTupleExprContext(estate);
			ExecClearTuple(slot);
			for (int k = 0; k < st->nkeys; k++)
			{
				slot->tts_values[k] = m->values[st->keys[k].attnum - 1];
				slot->tts_isnull[k] = false;
			}
			slot->tts_values[seqno] = Int64GetDatum(m->seq);
			slot->tts_isnull[seqno] = false;
			slot->tts_values[seqno + 1] = Int64GetDatum(m->pos);
			slot->tts_isnull[seqno + 1] = false;
			slot->tts_values[seqno + 2] = BoolGetDatum(m->action == MSG_DELETE);
			slot->tts_isnull[seqno + 2] = false;
			ExecStoreVirtualTuple(slot);

			if (from_probe && m->wins)
			{
				/*
				 * The probe saw this row version and the message beats it:
				 * update it without locking it first (a lock is a WAL record
				 * of its own).  If another transaction changed it since, the
				 * update says so (having waited for it) and the key is looked
				 * up again and locked, as below.
				 */
				from_probe = false;
				res = keystate_update_row(srel, &m->tid, rri, estate, slot, cid, snap);
				if (res == TM_Ok)
				{
					m->fresh = false;
					break;
				}
				if (res != TM_Updated && res != TM_Deleted)
					elog(ERROR, "failed to update the state of a key of table %s (%d)", st->relname, (int) res);
				if (IsolationUsesXactSnapshot())
					keystate_serialization_failure();
				precheck = true;
				continue;
			}
			else if (from_probe)
			{
				/* the probe saw a row: lock that one */
				conflict = m->tid;
				from_probe = false;
			}
			else if (!precheck || ExecCheckIndexConstraints(rri, slot, estate, &conflict, arbiters))
			{
				/* no row for the key, as far as anyone can tell: insert it */
				if (!keystate_insert_speculative(srel, rri, estate, slot, cid, arbiters))
				{
					/* lost the race: from the top, where the pre-check finds the winner */
					precheck = true;
					continue;
				}
				m->fresh = true;	/* a key never seen: its upsert goes straight to INSERT */
				break;
			}

			res = table_tuple_lock(srel, &conflict, snap, existing, cid,
								   LockTupleExclusive, LockWaitBlock, 0, &tmfd);
			if (res == TM_Updated || res == TM_Deleted)
			{
				ExecClearTuple(existing);	/* no pin kept while we wait on the next try */
				if (IsolationUsesXactSnapshot())
					keystate_serialization_failure();
				precheck = true;	/* changed under us: look again */
				continue;
			}
			if (res != TM_Ok)
				elog(ERROR, "failed to lock the state of a key of table %s (%d)", st->relname, (int) res);

			/* as ON CONFLICT: under REPEATABLE READ, a row our snapshot misses is a conflict */
			if (IsolationUsesXactSnapshot() && !table_tuple_satisfies_snapshot(srel, existing, snap))
			{
				Datum		xmin = slot_getsysattr(existing, MinTransactionIdAttributeNumber, &isnull);

				if (!TransactionIdIsCurrentTransactionId(DatumGetTransactionId(xmin)))
					keystate_serialization_failure();
			}

			stored = slot_getattr(existing, seqno + 1, &isnull);
			if (!keystate_message_wins(st, m->seq, DatumGetInt64(stored), isnull))
			{
				if (st->on_equal == ON_EQUAL_ERROR && !isnull && DatumGetInt64(stored) == m->seq)
				{
					record_context_at(0, NULL);	/* the message names it */
					ereport(ERROR,
							(errcode(ERRCODE_CARDINALITY_VIOLATION),
							 errmsg("record %d has sequence " INT64_FORMAT ", the same as the stored sequence of key %s",
									m->ord, m->seq, input_key_text(b->st, m)),
							 errdetail("Table %s is registered with on_equal => 'error'.", st->relname),
							 record_errtable(st)));
				}
				m->outcome = OUT_STALE; /* the row stays locked, as under ON CONFLICT */
				ExecClearTuple(existing);
				break;
			}
			res = keystate_update_row(srel, &existing->tts_tid, rri, estate, slot, cid, snap);
			if (res != TM_Ok)
				elog(ERROR, "failed to update the state of a key of table %s (%d)", st->relname, (int) res);
			m->fresh = false;
			ExecClearTuple(existing);
			break;
		}
	}

	ExecDropSingleTupleTableSlot(slot);
	ExecDropSingleTupleTableSlot(existing);
	ExecCloseIndices(rri);
	FreeExecutorState(estate);
	table_close(srel, NoLock);
	PopActiveSnapshot();
	record_context_pop(&errcb);
}
