/*-------------------------------------------------------------------------
 *
 * keystate.c
 *		The key state: reading it (the probe), and the per-key locks.
 *
 * Each registered table with a key has a key state table
 * (_sequenced.state_<n>, statetable.c): the key columns with the types and
 * operator classes of the table's key index, the stored sequence, the
 * position of the key's current change (positions.c, changelog.c; NULL:
 * none of its own), and whether the key is a tombstone.  On a plain table
 * registered with unchanged => 'write' and no history, a key has such a row
 * only where its row cannot say its state (direct.c has the list); else
 * every key has one.  A key's stored sequence is the higher of its row's
 * and its key state row's (keystate_stored).
 *
 * The probe (stateprobe_get, keystate_probe) reads each candidate's key
 * state row and, where the key state is sparse, its row, under a fresh
 * snapshot, in key order (the leaf-page walk of probe.c; an ordinary index
 * scan where it cannot answer exactly), locking and writing nothing.  A key's stored sequence never
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
 * on_equal => 'error': a message whose sequence equals the stored one fails
 * the call (21000, cardinality_violation), naming its record.  Every path
 * that decides against a stored sequence calls this first.
 */
void
keystate_check_equal(SeqTable *st, Message *m, int64 stored, bool stored_null)
{
	if (st->on_equal != ON_EQUAL_ERROR || stored_null || stored != m->seq)
		return;
	record_context_at(0, NULL); /* the message names the record */
	ereport(ERROR,
			(errcode(ERRCODE_CARDINALITY_VIOLATION),
			 errmsg("record %d has sequence " INT64_FORMAT ", the same as the stored sequence of key %s",
					m->ord, m->seq, input_key_text(st, m)),
			 errdetail("Table %s is registered with on_equal => 'error'.", st->relname),
			 record_errtable(st)));
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
 * What a key has stored, from what stateprobe_get found: the higher of its
 * row's sequence and its key state row's (NULL: older than any message).
 * False: the key has neither.
 */
bool
keystate_stored(KeyFound *kf, int64 *stored, bool *stored_null)
{
	bool		have = false;

	*stored = 0;
	*stored_null = true;
	if (kf->rfound && !kf->rseqnull)
	{
		*stored = kf->rseq;
		*stored_null = false;
	}
	if (kf->sfound && !kf->sseqnull && (*stored_null || kf->sseq > *stored))
	{
		*stored = kf->sseq;
		*stored_null = false;
	}
	have = kf->rfound || kf->sfound;
	return have;
}

/*
 * Probing keys, in key order: the key state row (its unique index, leaf by
 * leaf: probe.c; an ordinary scan where that cannot answer exactly) and,
 * where rows are probed, the table's row (its key index, likewise).  Both
 * under snap; the row versions found are left in p->sslot and p->rslot.
 */
void
stateprobe_begin(StateProbe *p, SeqTable *st, bool rows, Snapshot snap)
{
	memset(p, 0, sizeof(StateProbe));
	p->st = st;
	p->snap = snap;
	p->srel = table_open(st->staterelid, RowExclusiveLock);
	p->sirel = index_open(st->stateindexid, RowExclusiveLock);
	p->sslot = table_slot_create(p->srel, NULL);
	p->slp = leafprobe_begin(p->srel, p->sirel, st->keys, st->nkeys, snap, 0, st->nkeys + 1);
	p->sscan = index_beginscan(p->srel, p->sirel, snap, st->nkeys, 0);
	for (int k = 0; k < st->nkeys; k++)
		ScanKeyEntryInitializeWithInfo(&p->sskeys[k], 0, k + 1, BTEqualStrategyNumber,
									   InvalidOid, st->keys[k].ssup.ssup_collation,
									   &st->keys[k].eqproc, (Datum) 0);
	if (rows)
	{
		p->rrel = table_open(st->relid, NoLock);	/* locked by the call */
		p->rirel = index_open(st->keyindexid, RowExclusiveLock);
		p->rslot = table_slot_create(p->rrel, NULL);
		p->rlp = leafprobe_begin(p->rrel, p->rirel, st->ikeys, st->nkeys, snap, 0, st->seqatt);
		p->rscan = index_beginscan(p->rrel, p->rirel, snap, st->nkeys, 0);
		for (int c = 0; c < st->nkeys; c++)
			ScanKeyEntryInitializeWithInfo(&p->rskeys[c], 0, c + 1, BTEqualStrategyNumber,
										   InvalidOid, st->ikeys[c].ssup.ssup_collation,
										   &st->ikeys[c].eqproc, (Datum) 0);
	}
}

/* A new snapshot for what follows (READ COMMITTED, after a concurrent writer) */
void
stateprobe_resnap(StateProbe *p, Snapshot snap)
{
	SeqTable   *st = p->st;

	p->snap = snap;
	index_endscan(p->sscan);
	leafprobe_end(p->slp);
	p->slp = leafprobe_begin(p->srel, p->sirel, st->keys, st->nkeys, snap, 0, st->nkeys + 1);
	p->sscan = index_beginscan(p->srel, p->sirel, snap, st->nkeys, 0);
	if (p->rrel != NULL)
	{
		index_endscan(p->rscan);
		leafprobe_end(p->rlp);
		p->rlp = leafprobe_begin(p->rrel, p->rirel, st->ikeys, st->nkeys, snap, 0, st->seqatt);
		p->rscan = index_beginscan(p->rrel, p->rirel, snap, st->nkeys, 0);
	}
}

/* One relation's row version for a key: leaf probe, else an index scan */
static bool
probe_one(LeafProbe *lp, IndexScanDesc scan, ScanKey skeys, int nkeys, Datum *vals,
		  TupleTableSlot *slot, AttrNumber seqatt, ItemPointer tid, int64 *seq, bool *seqnull)
{
	LeafResult	r = LEAF_UNSURE;
	bool		exact = false;

	ExecClearTuple(slot);
	if (lp != NULL)
	{
		CHECK_FOR_INTERRUPTS();
		r = leafprobe_get(lp, vals, slot, tid, &exact, seq, seqnull);
		if (r == LEAF_FOUND)
			return true;
		if (r == LEAF_ABSENT)
			return false;
	}
	for (int k = 0; k < nkeys; k++)
		skeys[k].sk_argument = vals[k];
	index_rescan(scan, skeys, nkeys, NULL, 0);
	if (index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		Datum		d = slot_getattr(slot, seqatt, seqnull);

		*seq = *seqnull ? 0 : DatumGetInt64(d);
		*tid = slot->tts_tid;
		return true;
	}
	return false;
}

/* What the key (keyvals[k]: key column k) has: its key state row, its row */
void
stateprobe_get(StateProbe *p, Datum *keyvals, KeyFound *kf)
{
	SeqTable   *st = p->st;

	memset(kf, 0, sizeof(KeyFound));
	kf->sfound = probe_one(p->slp, p->sscan, p->sskeys, st->nkeys, keyvals, p->sslot,
						   st->nkeys + 1, &kf->stid, &kf->sseq, &kf->sseqnull);
	if (kf->sfound)
	{
		bool		isnull;
		Datum		d = slot_getattr(p->sslot, st->nkeys + 2, &kf->sposnull);

		kf->spos = kf->sposnull ? 0 : DatumGetInt64(d);
		kf->sdeleted = DatumGetBool(slot_getattr(p->sslot, st->nkeys + 3, &isnull));
	}
	if (p->rrel != NULL)
	{
		Datum		ivals[INDEX_MAX_KEYS];

		for (int c = 0; c < st->nkeys; c++)
			ivals[c] = keyvals[st->ikeyof[c]];
		kf->rfound = probe_one(p->rlp, p->rscan, p->rskeys, st->nkeys, ivals, p->rslot,
							   st->seqatt, &kf->rtid, &kf->rseq, &kf->rseqnull);
		if (kf->rfound && st->delatt != InvalidAttrNumber)
		{
			bool		notdeleted;

			(void) slot_getattr(p->rslot, st->delatt, &notdeleted);
			kf->rsoftdeleted = !notdeleted;
		}
	}
}

void
stateprobe_end(StateProbe *p)
{
	ExecDropSingleTupleTableSlot(p->sslot);
	leafprobe_end(p->slp);
	index_endscan(p->sscan);
	index_close(p->sirel, NoLock);
	table_close(p->srel, NoLock);
	if (p->rrel != NULL)
	{
		ExecDropSingleTupleTableSlot(p->rslot);
		leafprobe_end(p->rlp);
		index_endscan(p->rscan);
		index_close(p->rirel, NoLock);
		table_close(p->rrel, NoLock);
	}
}

/*
 * The probe of a call whose rows are written by statements: each
 * candidate's stored state under a fresh snapshot, in key order, locking and
 * writing nothing.  A key's stored sequence never goes down, so a message
 * older than what the probe saw is stale for good: it leaves the batch here,
 * having cost a probe.  The others are decided again, under lock, by
 * keystate_lock.  Returns how many remain.  (A call that writes rows
 * directly probes as it goes: direct.c.)
 */
int
keystate_probe(Batch *b, int *cand, int ncand)
{
	SeqTable   *st = b->st;
	StateProbe	p;
	int			nkept = 0;
	Datum		keyvals[INDEX_MAX_KEYS];

	/* see what earlier statements of this transaction wrote */
	CommandCounterIncrement();
	PushActiveSnapshot(GetTransactionSnapshot());
	stateprobe_begin(&p, st, st->sparse, GetActiveSnapshot());
	for (int i = 0; i < ncand; i++)
	{
		Message    *m = &b->msgs[cand[i]];
		KeyFound	kf;
		int64		stored;
		bool		stored_null;
		bool		have;

#ifdef __GNUC__
		/*
		 * Candidates come in key order, their messages in input order: ask
		 * for the message a few keys ahead, and for its key values once the
		 * message itself has had time to arrive.
		 */
		if (i + 8 < ncand)
			__builtin_prefetch(&b->msgs[cand[i + 8]]);
		if (i + 4 < ncand)
			__builtin_prefetch(&b->msgs[cand[i + 4]].values[st->keys[0].attnum - 1]);
#endif
		for (int k = 0; k < st->nkeys; k++)
			keyvals[k] = m->values[st->keys[k].attnum - 1];
		stateprobe_get(&p, keyvals, &kf);
		ExecClearTuple(p.sslot);
		if (p.rslot)
			ExecClearTuple(p.rslot);
		have = keystate_stored(&kf, &stored, &stored_null);
		m->found = kf.sfound;
		m->exact = kf.sfound;
		m->tid = kf.stid;
		/* the key's row: updated first by the statements (else inserted) */
		m->fresh = st->sparse ? !kf.rfound : !kf.sfound;
		m->wins = kf.sfound && keystate_message_wins(st, m->seq, kf.sseq, kf.sseqnull);
		m->oldpos = kf.sfound && !kf.sposnull ? kf.spos : 0;
		/* ties under 'error' are decided (and raised) under lock */
		if (have && !keystate_message_wins(st, m->seq, stored, stored_null) &&
			!(st->on_equal == ON_EQUAL_ERROR && !stored_null && stored == m->seq))
			m->outcome = OUT_STALE;
		else
			cand[nkept++] = cand[i];
	}
	stateprobe_end(&p);
	PopActiveSnapshot();
	return nkept;
}

/*
 * The per-key locks of a call whose rows are written by statements: every
 * candidate's key state row, in key order -- INSERT ... ON CONFLICT DO
 * UPDATE ... WHERE on the key state, done straight on its heap and index
 * with the executor's own building blocks.  A key the probe found is
 * updated through the row version it saw (a lock is a WAL record of its
 * own; should another transaction have changed it since, the update says
 * so, having waited, and the key is looked up again and locked); a key it
 * did not find is inserted speculatively, as ON CONFLICT does, so that two
 * calls inserting one new key never raise a unique violation: the loser
 * sees the conflict, forgets its tuple and starts over on the winner's.
 * Accepted candidates keep OUT_NONE and get their position (m->pos); the
 * others become stale.  The row's own stored sequence is the statements'
 * guard (target.c): what they refuse, the fix-up corrects.
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
	RecordContext errcb;
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
		bool		from_probe = m->found;
		bool		precheck = false;
		bool		only_lock = false;

		record_context_at(m->ord, NULL);
		m->pos = 0;
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
			slot->tts_values[seqno + 1] = (Datum) 0;	/* the position, once decided */
			slot->tts_isnull[seqno + 1] = false;
			slot->tts_values[seqno + 2] = BoolGetDatum(m->action == MSG_DELETE);
			slot->tts_isnull[seqno + 2] = false;

			if (m->outcome == OUT_STALE)
			{
				/*
				 * Stale by ordering => 'per_table', kept for its history
				 * (dedup.c): only the key's lock -- none for a key without
				 * a key state row, which then gets no version
				 */
				ExecStoreVirtualTuple(slot);
				if (ExecCheckIndexConstraints(rri, slot, estate, &conflict, arbiters))
				{
					/*
					 * A key never seen: its lock is a key state row of its
					 * own, a tombstone of no sequence (direct.c says why)
					 */
					ExecClearTuple(slot);
					slot->tts_isnull[seqno] = true;
					slot->tts_isnull[seqno + 1] = true;
					slot->tts_values[seqno + 2] = BoolGetDatum(true);
					ExecStoreVirtualTuple(slot);
					if (!keystate_insert_speculative(srel, rri, estate, slot, cid, arbiters))
					{
						precheck = true;
						continue;
					}
					break;
				}
				only_lock = true;
			}
			else if (from_probe && m->wins)
			{
				/* the probe saw this row version and the message beats it: update it */
				from_probe = false;
				if (m->pos == 0)
					m->pos = positions_next(st->logrelid);
				slot->tts_values[seqno + 1] = Int64GetDatum(m->pos);
				ExecStoreVirtualTuple(slot);
				res = keystate_update_row(srel, &m->tid, rri, estate, slot, cid, snap);
				if (res == TM_Ok)
					break;
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
			else
			{
				ExecStoreVirtualTuple(slot);
				if (!precheck || ExecCheckIndexConstraints(rri, slot, estate, &conflict, arbiters))
				{
					/* no key state row for the key, as far as anyone can tell: insert it */
					m->oldpos = 0;
					if (m->pos == 0)
						m->pos = positions_next(st->logrelid);
					ExecClearTuple(slot);
					slot->tts_values[seqno + 1] = Int64GetDatum(m->pos);
					ExecStoreVirtualTuple(slot);
					if (!keystate_insert_speculative(srel, rri, estate, slot, cid, arbiters))
					{
						/* lost the race: from the top, where the pre-check finds the winner */
						precheck = true;
						continue;
					}
					break;
				}
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
			if (only_lock)
			{
				ExecClearTuple(existing);
				break;
			}

			/* as ON CONFLICT: under REPEATABLE READ, a row our snapshot misses is a conflict */
			if (IsolationUsesXactSnapshot() && !table_tuple_satisfies_snapshot(srel, existing, snap))
			{
				Datum		xmin = slot_getsysattr(existing, MinTransactionIdAttributeNumber, &isnull);

				if (!TransactionIdIsCurrentTransactionId(DatumGetTransactionId(xmin)))
					keystate_serialization_failure();
			}

			{
				Datum		oldpos = slot_getattr(existing, seqno + 2, &isnull);

				m->oldpos = isnull ? 0 : DatumGetInt64(oldpos);
			}
			stored = slot_getattr(existing, seqno + 1, &isnull);
			if (!keystate_message_wins(st, m->seq, DatumGetInt64(stored), isnull))
			{
				keystate_check_equal(st, m, DatumGetInt64(stored), isnull);
				m->outcome = OUT_STALE; /* the row stays locked, as under ON CONFLICT */
				m->pos = 0;
				ExecClearTuple(existing);
				break;
			}
			if (m->pos == 0)
				m->pos = positions_next(st->logrelid);
			slot->tts_values[seqno + 1] = Int64GetDatum(m->pos);
			ExecStoreVirtualTuple(slot);
			res = keystate_update_row(srel, &existing->tts_tid, rri, estate, slot, cid, snap);
			if (res != TM_Ok)
				elog(ERROR, "failed to update the state of a key of table %s (%d)", st->relname, (int) res);
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
