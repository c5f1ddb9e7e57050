/*-------------------------------------------------------------------------
 *
 * direct.c
 *		The direct path: for each candidate, in key order, its key is looked
 *		up, decided and written in one go, straight through the heaps and
 *		indexes -- the row of the table is the key's state, and writing it
 *		is taking the key's lock.
 *
 * Used for a call whose rows need nothing the executor would add (no
 * trigger, rule, row-level security, partitioning, deferrable index or
 * serializable transaction: target_direct_ok).  On a table whose key state
 * is sparse (catalog.c) a key has:
 *	- its row R, holding its values and, in the sequence column, the
 *	  sequence of the message that wrote them;
 *	- a key state row S only where R cannot say the key's state: a
 *	  tombstone (a deleted key has no row), a key whose state a statement
 *	  wrote, a tie under on_equal 'replace' (a second change at one
 *	  sequence).  S holds the key's stored sequence and the position of its
 *	  current state.
 * An ordinary change of a key writes one row: R, by a HOT update where its
 * page has room, or an insertion -- plus a few bytes in the change log,
 * written once per chunk (changelog.c).  On a table registered with
 * unchanged => 'skip' every key has S (its sequence may be newer than
 * R's): every key is then written as a key with S is below.
 *
 * Deciding.  A message is applied when its sequence beats the higher of
 * R's and S's (ties: on_equal), else it is stale and writes nothing.
 *
 * Locking: one lock per key, always taken in the same order within a key
 * -- S first, when the key has or gets one, then R -- and keys in the one
 * global key order (dedup.c), as everywhere else (keystate.c):
 *	- a key with S: S is updated first (the per-key lock, as in keystate.c),
 *	  then R written; R is changed only under S's lock (or by a writer
 *	  around the functions, found by R's own update: its recheck).
 *	- a key with R and no S: R is updated without any other lock; a
 *	  concurrent writer of the key (which must have found no S either, or
 *	  it would hold S and wait for us on R) makes the update wait, then say
 *	  the row changed: the key is looked up again from the top.  A writer
 *	  that needs S for such a key (a hard delete, a statement's call)
 *	  inserts S before it writes R, and waits for us on R.
 *	- a key with neither: an upsert inserts R speculatively and, before it
 *	  completes the insertion, looks for S with a dirty snapshot; a delete
 *	  inserts S (a tombstone) speculatively and looks for R likewise.  Each
 *	  inserts before it looks, so of two racing calls at least one sees the
 *	  other.  One that sees the other's completed row withdraws its own and
 *	  waits for the other's transaction; seeing the other's speculative
 *	  row, the younger transaction withdraws and waits for the older's
 *	  token, and the older waits (briefly) for the younger's token: as
 *	  ON CONFLICT prevents livelocks.  The one that withdrew starts over
 *	  and finds the other's key.
 * So every writer of a key holds its lock (S, or R, or its uncommitted
 * insertion) from its decision to its end, decides against the latest
 * committed state, and waits only for keys at or above the keys it holds:
 * overlapping calls never deadlock, calls on disjoint keys share no lock,
 * and any interleaving ends as applying every message in sequence order.
 *
 * A row written around the functions with a newer sequence than a message
 * that holds S is found by the row's update (or the insertion's conflict):
 * the message is stale, and S takes the row's sequence (the fix-up).  Under
 * REPEATABLE READ a key changed after the transaction's snapshot fails
 * with 40001, as INSERT ... ON CONFLICT does.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/sysattr.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "tcop/utility.h"
#include "utils/datum.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"

#include "pg_sequenced.h"

typedef struct Direct
{
	Batch	   *b;
	SeqTable   *st;
	ChangeLog  *cl;
	StateProbe	p;				/* the probe: S and R of each key */
	Relation	rel;			/* the table */
	Relation	srel;			/* its key state */
	EState	   *estate;
	ResultRelInfo *rri;			/* the table, its indexes opened for ON CONFLICT */
	ResultRelInfo *srri;		/* the key state, likewise */
	List	   *arbiters;		/* the key index */
	List	   *sarbiters;		/* the key state's index */
	TupleTableSlot *newslot;	/* the row a message writes (virtual) */
	TupleTableSlot *sslot;		/* the key state row it writes (virtual) */
	TupleDesc	desc;
	DefaultState ds;
	CommandId	cid;
	bool		has_constraints;
	bool		checked_update;
	bool		checked_delete;
	MemoryContext valuecxt;		/* where a lazy batch's values are made */
} Direct;

typedef enum
{
	DONE,						/* m->outcome set */
	RETRY						/* something changed: from the top */
} Step;

/* Start over under the newest snapshot: what a concurrent writer committed is then seen */
static void
resnap(Direct *d)
{
	if (IsolationUsesXactSnapshot())
		keystate_serialization_failure();
	PopActiveSnapshot();
	PushActiveSnapshot(GetLatestSnapshot());
	stateprobe_resnap(&d->p, GetActiveSnapshot());
}

/* The key state row a message writes into d->sslot */
static void
form_state(Direct *d, Message *m, int64 seq, bool seqnull, int64 pos, bool deleted)
{
	SeqTable   *st = d->st;
	TupleTableSlot *slot = d->sslot;

	ExecClearTuple(slot);
	for (int k = 0; k < st->nkeys; k++)
	{
		slot->tts_values[k] = m->values[st->keys[k].attnum - 1];
		slot->tts_isnull[k] = false;
	}
	slot->tts_values[st->nkeys] = Int64GetDatum(seq);
	slot->tts_isnull[st->nkeys] = seqnull;
	slot->tts_values[st->nkeys + 1] = Int64GetDatum(pos);
	slot->tts_isnull[st->nkeys + 1] = pos == 0;	/* (none of its own) */
	slot->tts_values[st->nkeys + 2] = BoolGetDatum(deleted);
	slot->tts_isnull[st->nkeys + 2] = false;
	ExecStoreVirtualTuple(slot);
}

/*
 * What a dirty look at a relation's unique index finds for a key: nothing,
 * a row that is there (committed, or this transaction's), or one a
 * transaction in progress inserts (or deletes): its id, and its
 * speculative insertion token if it has not completed it.
 */
typedef enum
{
	SEEN_NONE,
	SEEN_ROW,
	SEEN_IN_PROGRESS
} Seen;

static Seen
dirty_look(Relation rel, Relation irel, SeqKey *keys, int nkeys, Datum *vals,
		   TransactionId *xid, uint32 *token)
{
	SnapshotData dirty;
	IndexScanDesc scan;
	ScanKeyData skeys[INDEX_MAX_KEYS];
	TupleTableSlot *slot = table_slot_create(rel, NULL);
	Seen		seen = SEEN_NONE;

	InitDirtySnapshot(dirty);
	for (int k = 0; k < nkeys; k++)
		ScanKeyEntryInitializeWithInfo(&skeys[k], 0, k + 1, BTEqualStrategyNumber,
									   InvalidOid, keys[k].ssup.ssup_collation,
									   &keys[k].eqproc, vals[k]);
	scan = index_beginscan(rel, irel, &dirty, nkeys, 0);
	index_rescan(scan, skeys, nkeys, NULL, 0);
	if (index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		*xid = TransactionIdIsValid(dirty.xmin) ? dirty.xmin : dirty.xmax;
		*token = dirty.speculativeToken;
		seen = TransactionIdIsValid(*xid) ? SEEN_IN_PROGRESS : SEEN_ROW;
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	return seen;
}

/*
 * One side of a key's two relations, for a speculative insertion: the
 * relation, its unique index over the key (the arbiter), and the key's
 * values in that index' column order.
 */
typedef struct Side
{
	Relation	rel;
	Relation	irel;
	ResultRelInfo *rri;
	List	   *arbiters;
	SeqKey	   *keys;
	Datum	   *vals;
} Side;

/* Wait for the transaction (or its speculative insertion) a dirty look saw */
static void
wait_for(Relation rel, TransactionId xid, uint32 token)
{
	if (token != 0)
		SpeculativeInsertionWait(xid, token);
	else
		XactLockTableWait(xid, rel, NULL, XLTW_InsertIndex);
}

/*
 * Insert slot into self.rel speculatively and complete the insertion only
 * if it met no other row for the key there, and the other relation has
 * nothing for the key either -- the race of two calls for a key that has
 * neither a row nor a key state row (see the top of this file).  False:
 * withdrawn (after waiting for the transaction whose row it met), the
 * caller starts over under a new snapshot.
 */
static bool
insert_crosschecked(Direct *d, Side *self, TupleTableSlot *slot, Side *other)
{
	TransactionId me = GetCurrentTransactionId();
	uint32		mytoken = SpeculativeInsertionLockAcquire(me);
	bool		conflict = false;
	TransactionId xid = InvalidTransactionId;
	uint32		token = 0;
	Seen		seen;
	Relation	waitrel = other->rel;

	table_tuple_insert_speculative(self->rel, slot, d->cid, 0, NULL, mytoken);
	list_free(ExecInsertIndexTuples(self->rri, slot, d->estate, false, true, &conflict, self->arbiters));
	if (conflict)
	{
		/* the key's row is in the index already: whose? (as ON CONFLICT's pre-check) */
		seen = dirty_look(self->rel, self->irel, self->keys, d->st->nkeys, self->vals, &xid, &token);
		if (seen == SEEN_NONE)
			seen = SEEN_ROW;	/* gone again: start over all the same */
		waitrel = self->rel;
	}
	else
	{
		for (;;)
		{
			seen = dirty_look(other->rel, other->irel, other->keys, d->st->nkeys, other->vals, &xid, &token);
			/* the older of two speculative inserters waits for the younger to withdraw */
			if (seen == SEEN_IN_PROGRESS && token != 0 && TransactionIdPrecedes(me, xid))
			{
				SpeculativeInsertionWait(xid, token);
				continue;
			}
			break;
		}
	}
	table_tuple_complete_speculative(self->rel, slot, mytoken, seen == SEEN_NONE);
	SpeculativeInsertionLockRelease(me);
	if (seen == SEEN_IN_PROGRESS)
		wait_for(waitrel, xid, token);
	return seen == SEEN_NONE;
}

/*
 * After a speculative insertion met the key in its arbiter index: wait for
 * the transaction that wrote it, if it is still in progress (as ON
 * CONFLICT's pre-check does), so that starting over finds its outcome
 * instead of meeting the same entry again and again.
 */
static void
wait_for_conflict(Direct *d, ResultRelInfo *rri, TupleTableSlot *slot, List *arbiters)
{
	ItemPointerData conflict;

	(void) ExecCheckIndexConstraints(rri, slot, d->estate, &conflict, arbiters);
}

/* Update the key state row at tid (the key's lock); false: changed since */
static bool
update_state(Direct *d, ItemPointer tid)
{
	TM_Result	res = keystate_update_row(d->srel, tid, d->srri, d->estate, d->sslot,
										  d->cid, GetActiveSnapshot());

	if (res == TM_Ok)
		return true;
	if (res != TM_Updated && res != TM_Deleted)
		elog(ERROR, "failed to update the state of a key of table %s (%d)", d->st->relname, (int) res);
	return false;
}

/*
 * The row a message writes (for an upsert: its values, the key kept as
 * stored; for a soft delete: the stored row, marked, with the delete's
 * sequence), into d->newslot; old: the row version there is, or NULL.
 */
static void
form_row(Direct *d, Message *m, TupleTableSlot *old)
{
	SeqTable   *st = d->st;
	TupleTableSlot *slot = d->newslot;

	ExecClearTuple(slot);
	if (m->action == MSG_DELETE)
	{
		/* a soft delete of a row that is there */
		slot_getallattrs(old);
		memcpy(slot->tts_values, old->tts_values, sizeof(Datum) * st->natts);
		memcpy(slot->tts_isnull, old->tts_isnull, sizeof(bool) * st->natts);
		slot->tts_values[st->seqatt - 1] = Int64GetDatum(m->seq);
		slot->tts_isnull[st->seqatt - 1] = false;
		slot->tts_values[st->delatt - 1] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
		slot->tts_isnull[st->delatt - 1] = false;
	}
	else
	{
		target_values(d->b, m, d->desc, &d->ds, false, slot->tts_values, slot->tts_isnull);
		if (old != NULL)
		{
			/* the key is kept as stored (equal is not always identical) */
			slot_getallattrs(old);
			for (int k = 0; k < st->nkeys; k++)
			{
				int			a = st->keys[k].attnum - 1;

				slot->tts_values[a] = old->tts_values[a];
				slot->tts_isnull[a] = old->tts_isnull[a];
			}
			/* omitted => 'keep': what the record omits stays as stored */
			if (st->omitted_keep)
				for (int i = 0; i < st->natts; i++)
					if (!MSG_PRESENT(m, st->natts)[i] && st->cols[i].keyno < 0 &&
						target_col_written(&st->cols[i]) && i != st->seqatt - 1 &&
						(st->delatt == InvalidAttrNumber || i != st->delatt - 1))
					{
						slot->tts_values[i] = old->tts_values[i];
						slot->tts_isnull[i] = old->tts_isnull[i];
					}
		}
	}
	ExecStoreVirtualTuple(slot);
}

typedef enum
{
	ROW_WRITTEN,
	ROW_GONE,					/* (a delete: there is no row to delete) */
	ROW_NEWER,					/* a newer row, written around the functions */
	ROW_CHANGED					/* changed by a concurrent writer: start over */
} RowResult;

/*
 * Write the message's row: update (or mark, or delete) the version the
 * probe found in d->p.rslot, or insert one when there is none.  locked: the
 * caller holds the key's state row, so only a writer around the functions
 * can have changed the row since: its change is looked at here (as
 * UPDATE's recheck), and a newer row makes the message stale (*newer: that
 * row's sequence).  Not locked: any change means start over.
 */
static RowResult
write_row(Direct *d, Message *m, KeyFound *kf, bool locked, Datum *keyvals,
		  int64 *newerseq, bool *newerseqnull, bool *newersoft, bool *hadrow)
{
	SeqTable   *st = d->st;
	bool		found = kf->rfound;
	ItemPointerData tid = kf->rtid;

	for (;;)
	{
		TM_Result	res;
		TM_FailureData tmfd;

		CHECK_FOR_INTERRUPTS();
		if (found && locked)
		{
			/* decide again against the row there is now */
			bool		isnull;
			Datum		s = slot_getattr(d->p.rslot, st->seqatt, &isnull);

			if (!isnull && !keystate_message_wins(st, m->seq, DatumGetInt64(s), false))
			{
				*newerseq = DatumGetInt64(s);
				*newerseqnull = false;
				*newersoft = false;
				if (st->delatt != InvalidAttrNumber)
				{
					bool		notdel;

					(void) slot_getattr(d->p.rslot, st->delatt, &notdel);
					*newersoft = !notdel;
				}
				return ROW_NEWER;
			}
		}
		if (m->action == MSG_DELETE && !st->soft_deletes)
		{
			if (!found)
				return ROW_GONE;
			if (!d->checked_delete)
			{
				CheckCmdReplicaIdentity(d->rel, CMD_DELETE);
				d->checked_delete = true;
			}
			res = table_tuple_delete(d->rel, &tid, d->cid, GetActiveSnapshot(), InvalidSnapshot,
									 true, &tmfd, false);
		}
		else if (found)
		{
			if (m->action == MSG_DELETE)
				form_row(d, m, d->p.rslot);
			else
			{
				form_row(d, m, d->p.rslot);
				if (d->has_constraints)
					ExecConstraints(d->rri, d->newslot, d->estate);
			}
			if (!d->checked_update)
			{
				CheckCmdReplicaIdentity(d->rel, CMD_UPDATE);
				d->checked_update = true;
			}
			res = keystate_update_row(d->rel, &tid, d->rri, d->estate, d->newslot, d->cid,
									  GetActiveSnapshot());
		}
		else if (m->action == MSG_DELETE)
			return ROW_GONE;	/* a soft delete of a key without a row: S only */
		else
		{
			form_row(d, m, NULL);
			if (d->has_constraints)
				ExecConstraints(d->rri, d->newslot, d->estate);
			if (locked)
			{
				if (keystate_insert_speculative(d->rel, d->rri, d->estate, d->newslot, d->cid, d->arbiters))
					return ROW_WRITTEN;
				wait_for_conflict(d, d->rri, d->newslot, d->arbiters);
			}
			else
			{
				Datum		ivals[INDEX_MAX_KEYS];
				Side		self = {d->rel, d->p.rirel, d->rri, d->arbiters, st->ikeys, ivals};
				Side		other = {d->srel, d->p.sirel, d->srri, d->sarbiters, st->keys, keyvals};

				for (int c = 0; c < st->nkeys; c++)
					ivals[c] = keyvals[st->ikeyof[c]];
				if (insert_crosschecked(d, &self, d->newslot, &other))
					return ROW_WRITTEN;
			}
			if (!locked)
				return ROW_CHANGED;
			res = TM_Updated;	/* a row inserted around the functions: look at it */
		}
		if (res == TM_Ok)
		{
			*hadrow = found;	/* (found again, it may be a row written around the functions) */
			return ROW_WRITTEN;
		}
		if (res == TM_Deleted && m->action == MSG_DELETE && !st->soft_deletes && locked)
			return ROW_GONE;	/* deleted around the functions: the tombstone says it */
		if (res != TM_Updated && res != TM_Deleted)
			elog(ERROR, "failed to write a row of table %s (%d)", st->relname, (int) res);
		if (!locked)
			return ROW_CHANGED;
		/* around the functions: look again at what it left, under the newest snapshot */
		resnap(d);
		{
			KeyFound	again;

			stateprobe_get(&d->p, keyvals, &again);
			ExecClearTuple(d->p.sslot);
			found = again.rfound;
			tid = again.rtid;
		}
	}
}

/*
 * A message that holds its key's state row lost to a newer row written
 * around the functions: it is stale, and the key state takes the row's
 * sequence (keeping the position it took, whose log entry shows the row).
 */
static void
fix_state(Direct *d, Message *m, int64 seq, bool seqnull, bool soft)
{
	SeqTable   *st = d->st;

	keystate_check_equal(st, m, seq, seqnull);
	{
		/* the key state row this call wrote: updated again, under a new command id */
		ItemPointerData stid = d->sslot->tts_tid;

		CommandCounterIncrement();
		d->cid = GetCurrentCommandId(true);
		d->estate->es_output_cid = d->cid;
		form_state(d, m, seq, seqnull, m->pos, soft);
		if (!update_state(d, &stid))
			elog(ERROR, "failed to correct the state of a key of table %s", st->relname);
	}
	m->outcome = OUT_STALE;
}

/*
 * Lock a key whose message is stale, for its history: its key state row
 * (every key of a table with history has one; a row written around the
 * functions without one gets one, with the row's sequence).  False: the
 * key changed since the probe, start over.
 */
static bool
lock_key(Direct *d, Message *m, KeyFound *kf)
{
	if (kf->sfound)
	{
		TM_FailureData tmfd;
		TupleTableSlot *locked = table_slot_create(d->srel, NULL);
		TM_Result	res = table_tuple_lock(d->srel, &kf->stid, GetActiveSnapshot(), locked, d->cid,
										   LockTupleExclusive, LockWaitBlock, 0, &tmfd);

		ExecDropSingleTupleTableSlot(locked);
		if (res == TM_Ok)
			return true;
		if (res != TM_Updated && res != TM_Deleted)
			elog(ERROR, "failed to lock the state of a key of table %s (%d)", d->st->relname, (int) res);
		return false;
	}
	form_state(d, m, kf->rseq, kf->rseqnull, 0, false);
	if (keystate_insert_speculative(d->srel, d->srri, d->estate, d->sslot, d->cid, d->sarbiters))
		return true;
	wait_for_conflict(d, d->srri, d->sslot, d->sarbiters);
	return false;
}

/* One candidate: look it up, decide, write. */
static Step
direct_one(Direct *d, Message *m, Datum *keyvals)
{
	SeqTable   *st = d->st;
	KeyFound	kf;
	int64		stored;
	bool		stored_null;
	bool		locked = false;
	bool		tombstone;
	RowResult	r;
	int64		newseq = 0;
	bool		newseqnull = true;
	bool		newsoft = false;
	bool		hadrow;

	stateprobe_get(&d->p, keyvals, &kf);
	if (m->outcome == OUT_STALE)
	{
		/*
		 * Stale by ordering => 'per_table' (dedup.c), kept for its history:
		 * the key's lock, if the key has a state to lock -- a key never seen
		 * gets no version (it has no lock that every writer of it takes)
		 */
		ExecClearTuple(d->p.sslot);
		ExecClearTuple(d->p.rslot);
		if (!kf.sfound && !kf.rfound)
		{
			/*
			 * A key never seen: its lock is a key state row of its own, a
			 * tombstone of no sequence (no row, no position: no message is
			 * older than it, the feed shows nothing of it, purge leaves it)
			 */
			form_state(d, m, 0, true, 0, true);
			if (!keystate_insert_speculative(d->srel, d->srri, d->estate, d->sslot, d->cid, d->sarbiters))
			{
				wait_for_conflict(d, d->srri, d->sslot, d->sarbiters);
				return RETRY;
			}
		}
		else if (!lock_key(d, m, &kf))
			return RETRY;
		return DONE;
	}
	if (keystate_stored(&kf, &stored, &stored_null) &&
		!keystate_message_wins(st, m->seq, stored, stored_null))
	{
		ExecClearTuple(d->p.sslot);
		ExecClearTuple(d->p.rslot);
		/*
		 * with history, a stale message too is a version: the key's lock
		 * (history.c) -- unless the batch's stale messages get none
		 */
		if (st->history && !d->b->stale_unversioned && !lock_key(d, m, &kf))
			return RETRY;
		keystate_check_equal(st, m, stored, stored_null);
		m->outcome = OUT_STALE;
		return DONE;
	}
	ExecClearTuple(d->p.sslot);
	PreventCommandIfReadOnly("pg_sequenced writes");
	if (m->action == MSG_UPSERT && m->record != NULL)
		input_materialize(d->b, m, d->valuecxt);

	/*
	 * unchanged => 'skip': the stored values again write no row; the key
	 * state takes the sequence and keeps its position (unchanged.c).  Its
	 * update is the key's lock: had anyone changed the key since the probe,
	 * it says so, and the key is looked at again.
	 */
	if (st->skip_unchanged && m->action == MSG_UPSERT && kf.rfound &&
		unchanged_same(d->b, m, d->desc, &d->ds, d->p.rslot))
	{
		ExecClearTuple(d->p.rslot);
		form_state(d, m, m->seq, false, kf.sfound && !kf.sposnull ? kf.spos : 0, false);
		if (kf.sfound ? !update_state(d, &kf.stid) :
			!keystate_insert_speculative(d->srel, d->srri, d->estate, d->sslot, d->cid, d->sarbiters))
		{
			if (!kf.sfound)
				wait_for_conflict(d, d->srri, d->sslot, d->sarbiters);
			return RETRY;
		}
		m->outcome = OUT_UNCHANGED;
		return DONE;
	}

	/*
	 * The key's state row first, when it has one, or needs one: a hard
	 * delete leaves a tombstone; a tie under 'replace' a position of its own
	 * (the log entry at the row's sequence would be ambiguous).
	 */
	tombstone = m->action == MSG_DELETE && (!st->soft_deletes || !kf.rfound);
	if (kf.sfound || tombstone || !st->sparse ||
		(kf.rfound && !kf.rseqnull && kf.rseq == m->seq))
	{
		if (m->pos == 0)
			m->pos = positions_next(st->logrelid);
		form_state(d, m, m->seq, false, m->pos, m->action == MSG_DELETE);
		if (kf.sfound)
		{
			if (!update_state(d, &kf.stid))
			{
				ExecClearTuple(d->p.rslot);
				return RETRY;
			}
		}
		else if (kf.rfound)
		{
			/* (a row is there: none to race with for the key's absence) */
			if (!keystate_insert_speculative(d->srel, d->srri, d->estate, d->sslot, d->cid, d->sarbiters))
			{
				wait_for_conflict(d, d->srri, d->sslot, d->sarbiters);
				ExecClearTuple(d->p.rslot);
				return RETRY;
			}
		}
		else
		{
			Datum		ivals[INDEX_MAX_KEYS];
			Side		self = {d->srel, d->p.sirel, d->srri, d->sarbiters, st->keys, keyvals};
			Side		other = {d->rel, d->p.rirel, d->rri, d->arbiters, st->ikeys, ivals};

			for (int c = 0; c < st->nkeys; c++)
				ivals[c] = keyvals[st->ikeyof[c]];
			if (!insert_crosschecked(d, &self, d->sslot, &other))
				return RETRY;
		}
		locked = true;
	}

	hadrow = kf.rfound;
	r = write_row(d, m, &kf, locked, keyvals, &newseq, &newseqnull, &newsoft, &hadrow);
	ExecClearTuple(d->p.rslot);
	switch (r)
	{
		case ROW_CHANGED:
			return RETRY;
		case ROW_NEWER:
			fix_state(d, m, newseq, newseqnull, newsoft);
			changelog_add(d->cl, m->pos, keyvals, newseqnull ? PG_INT64_MIN : newseq);
			return DONE;
		case ROW_GONE:
		case ROW_WRITTEN:
			if (m->action == MSG_DELETE)
				m->outcome = OUT_DELETED;
			else
				m->outcome = hadrow ? OUT_UPDATED : OUT_INSERTED;
			break;
	}
	if (m->pos == 0)
		m->pos = positions_next(st->logrelid);
	changelog_add(d->cl, m->pos, keyvals, m->seq);
	return DONE;
}

/*
 * Apply the candidates cand[0..ncand-1] (key order) of a call whose rows
 * are written directly, and log their changes in cl.
 */
void
direct_apply(Batch *b, int *cand, int ncand, ChangeLog *cl)
{
	SeqTable   *st = b->st;
	Direct		d;
	RecordContext errcb;
	int			level;
	HistoryWriter *hw = NULL;

	memset(&d, 0, sizeof(Direct));
	d.b = b;
	d.st = st;
	d.cl = cl;
	d.valuecxt = CurrentMemoryContext;
	d.rel = table_open(st->relid, NoLock);	/* locked by the call */
	d.srel = table_open(st->staterelid, RowExclusiveLock);
	d.desc = RelationGetDescr(d.rel);
	d.has_constraints = d.desc->constr != NULL &&
		(d.desc->constr->has_not_null || d.desc->constr->num_check > 0);
	d.estate = CreateExecutorState();
	d.rri = makeNode(ResultRelInfo);
	InitResultRelInfo(d.rri, d.rel, 0, NULL, 0);
	ExecOpenIndices(d.rri, true);
	d.srri = makeNode(ResultRelInfo);
	InitResultRelInfo(d.srri, d.srel, 0, NULL, 0);
	ExecOpenIndices(d.srri, true);
	d.arbiters = list_make1_oid(st->keyindexid);
	d.sarbiters = list_make1_oid(st->stateindexid);
	d.newslot = MakeSingleTupleTableSlot(d.desc, &TTSOpsVirtual);
	d.sslot = MakeSingleTupleTableSlot(RelationGetDescr(d.srel), &TTSOpsVirtual);

	/* see what earlier statements and steps of this call wrote */
	CommandCounterIncrement();
	d.cid = GetCurrentCommandId(true);
	d.estate->es_output_cid = d.cid;
	PushActiveSnapshot(GetTransactionSnapshot());
	stateprobe_begin(&d.p, st, true, GetActiveSnapshot());
	record_context_push(&errcb, st);
	level = call_caller_path_begin(b);	/* values converted as the caller would */

	if (st->history)
		hw = history_begin(b);
	for (int i = 0; i < ncand; i++)
	{
		Message    *m = &b->msgs[cand[i]];
		Datum		keyvals[INDEX_MAX_KEYS];

		CHECK_FOR_INTERRUPTS();
		ResetPerTupleExprContext(d.estate);
		record_context_at(m->ord, NULL);
		for (int k = 0; k < st->nkeys; k++)
			keyvals[k] = m->values[st->keys[k].attnum - 1];
		m->pos = 0;
		while (direct_one(&d, m, keyvals) == RETRY)
			resnap(&d);
		/* the key's versions, under its lock */
		if (hw != NULL && !(b->stale_unversioned && m->outcome == OUT_STALE))
			history_key(hw, b->grp_first[cand[i]], b->grp_len[cand[i]], d.valuecxt);
		record_context_at(0, NULL);
	}
	if (hw != NULL)
		history_end(hw);

	call_caller_path_end(level);
	record_context_pop(&errcb);
	stateprobe_end(&d.p);
	PopActiveSnapshot();
	target_defaults_done(&d.ds);
	ExecDropSingleTupleTableSlot(d.newslot);
	ExecDropSingleTupleTableSlot(d.sslot);
	ExecCloseIndices(d.rri);
	ExecCloseIndices(d.srri);
	FreeExecutorState(d.estate);
	table_close(d.srel, NoLock);
	table_close(d.rel, NoLock);
}
