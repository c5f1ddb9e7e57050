/*-------------------------------------------------------------------------
 *
 * positions.c
 *		Change positions, and the watermark below which the changes feed
 *		may hand them out.
 *
 * Every change applied to a registered table gets a position, its place in
 * the table's changes feed:
 *
 *		position = offset + (base << POS_CTR_BITS | counter)
 *
 * where base is the full id of a transaction (the applying one's, or of a
 * subtransaction of it, below) and counter counts the positions handed out
 * under that base.  offset is 0 in the cluster where the extension was
 * made; after pg_dump/restore it lifts new positions above every restored
 * one (positions_offset).
 *
 * The watermark.  Transactions commit in any order, so "the highest
 * position committed so far" is no safe cursor for a consumer: a
 * transaction that took a lower position may still commit.  The feed hands
 * out only positions below a watermark W, computed by positions_watermark
 * before the feed takes the snapshot it reads with:
 *
 *	1. N := the next transaction id to be assigned (read first);
 *	2. H := the transactions holding a lock on the table's key state that
 *	   conflicts with SHARE, i.e. RowExclusiveLock, which every call that
 *	   may hand out positions of this table takes before its first one
 *	   (positions_lock) and holds to its end (GetLockConflicts: never
 *	   waits, and sees every lock granted before it looked);
 *	3. W := min(N, the top-level id of each transaction in H that has one),
 *	   shifted into positions.
 *
 * The rule for bases (positions_lock and next_base) is what makes W safe:
 * a transaction takes as base an id assigned *after* it took the lock --
 * its own id, when it had none yet as it took the lock (it gets one at its
 * first write, later), else the id of a fresh subtransaction taken at its
 * first position.  Should it lose the lock (a subtransaction that took it
 * rolled back), it takes a new base the next time.
 *
 * Claim: every position below W belongs to a transaction that had ended
 * (committed, or aborted) before W was computed.  Let T hand out position
 * p < W, under base B.  T held the lock from before B was assigned until
 * it ends.  If T held it when H was read, T is in H and, having a base, has
 * an id X <= B (X is T's top-level id, B its own or a subtransaction's), so
 * W <= X <= B <= p: a contradiction.  So T took the lock after H was read
 * (and B was assigned after that, so B >= N >= W: a contradiction again),
 * or T released it before: T had ended.  A transaction that ended before W
 * was computed is visible to every snapshot taken after it (a transaction
 * becomes visible before it releases its locks), so a consumer that
 * resumes from the last position it saw never misses a change: not one
 * committed later by a transaction that began earlier, not a late record
 * for a new key carrying an old sequence (positions are not sequences).
 *
 * Under REPEATABLE READ the feed reads with the transaction's snapshot,
 * which may miss transactions that ended after it was taken: W is then
 * also kept at or below the id of every transaction that snapshot saw
 * running and that has ended since, and below its xmax (the ids of later
 * ones).
 *
 * What holds the feed back is only a transaction that holds the table's
 * key state lock: one applying records to this very table, until it ends.
 * An idle transaction elsewhere (another table, another database) does
 * not; sequenced_feed_status says which backend, if any, holds it back.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/transam.h"
#include "access/twophase.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "storage/sinvaladt.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "pg_sequenced.h"

PG_FUNCTION_INFO_V1(sequenced_feed_status);

#define POS_CTR_BITS 24
#define POS_CTR_LIMIT (UINT64CONST(1) << POS_CTR_BITS)
#define POS_FXID_LIMIT (UINT64CONST(1) << (63 - POS_CTR_BITS))

static bool pos_offset_valid = false;
static int64 pos_offset = 0;

/*
 * The base and counter of one table's positions in the current transaction
 * (lxid tells which transaction an entry is of: older entries are stale).
 */
typedef struct PosBase
{
	Oid			staterelid;		/* hash key */
	LocalTransactionId lxid;
	bool		need_fresh;		/* the transaction had an id as it took the lock */
	bool		have_base;
	FullTransactionId base;
	uint64		ctr;
} PosBase;

static HTAB *pos_bases = NULL;

/*
 * The database's position offset (SPI connected).  Read once per backend;
 * when the settings row was written in another cluster (a restore), the
 * offset is moved above every position there is, so positions keep growing
 * across pg_dump/restore and consumers can resume where they were.
 */
int64
positions_offset(void)
{
	char		sysid[32];
	Oid			save_userid;
	int			save_sec;
	bool		isnull;

	(void) catalog_owner();
	if (pos_offset_valid)
		return pos_offset;
	snprintf(sysid, sizeof(sysid), UINT64_FORMAT, GetSystemIdentifier());

	rights_begin_internal(&save_userid, &save_sec);
	if (SPI_execute("SELECT system_identifier, position_offset FROM _sequenced.settings", false, 0) != SPI_OK_SELECT)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("failed to read _sequenced.settings")));
	if (SPI_processed == 1 &&
		strcmp(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1), sysid) == 0)
		pos_offset = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	else
	{
		/* first use in this cluster: one backend at a time */
		StringInfoData sql;
		uint64		i;
		int64		maxpos = 0;
		int64		xmin_fxid;
		SPITupleTable *configs;
		uint64		nconfigs;

		if (SPI_execute("LOCK TABLE _sequenced.settings IN EXCLUSIVE MODE", false, 0) != SPI_OK_UTILITY)
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("failed to lock _sequenced.settings")));
		if (SPI_execute("SELECT system_identifier, position_offset FROM _sequenced.settings", false, 0) != SPI_OK_SELECT)
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("failed to read _sequenced.settings")));
		if (SPI_processed == 1 &&
			strcmp(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1), sysid) == 0)
			pos_offset = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
		else
		{
			/*
			 * Every position there is: a key state's, a change log's (most
			 * positions of a keyed table are only there), and a consumer's
			 * head (start => 'end' leaves one at the watermark, above every
			 * position handed out).
			 */
			if (SPI_execute("SELECT state_rel::pg_catalog.text, log_rel::pg_catalog.text FROM _sequenced.config",
							false, 0) != SPI_OK_SELECT)
				ereport(ERROR,
						(errcode(ERRCODE_INTERNAL_ERROR),
						 errmsg("failed to read _sequenced.config")));
			configs = SPI_tuptable;
			nconfigs = SPI_processed;
			initStringInfo(&sql);
			for (i = 0; i < nconfigs; i++)
			{
				char	   *logrel = SPI_getvalue(configs->vals[i], configs->tupdesc, 2);

				appendStringInfo(&sql, "%sSELECT pg_catalog.max(position) AS p FROM %s",
								 i ? " UNION ALL " : "", SPI_getvalue(configs->vals[i], configs->tupdesc, 1));
				if (logrel != NULL)
					appendStringInfo(&sql, " UNION ALL SELECT pg_catalog.max(last) FROM %s", logrel);
			}
			if (OidIsValid(get_relname_relid("consumers", get_namespace_oid("_sequenced", false))))
			{
				appendStringInfo(&sql, "%sSELECT pg_catalog.max(head) FROM _sequenced.consumers",
								 nconfigs > 0 ? " UNION ALL " : "");
				nconfigs++;
			}
			if (nconfigs > 0)
			{
				if (SPI_execute(psprintf("SELECT pg_catalog.max(p) FROM (%s) s", sql.data), false, 0) != SPI_OK_SELECT)
					ereport(ERROR,
							(errcode(ERRCODE_INTERNAL_ERROR),
							 errmsg("failed to read the positions of the registered tables")));
				if (SPI_processed == 1)
				{
					Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

					if (!isnull)
						maxpos = DatumGetInt64(d);
				}
			}
			/* every base still to be taken is at or above xmin */
			if (SPI_execute("SELECT pg_catalog.pg_snapshot_xmin(pg_catalog.pg_current_snapshot())::pg_catalog.text::pg_catalog.int8",
							false, 0) != SPI_OK_SELECT)
				ereport(ERROR,
						(errcode(ERRCODE_INTERNAL_ERROR),
						 errmsg("failed to read the snapshot")));
			xmin_fxid = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
			pos_offset = Max(0, maxpos + 1 - (int64) ((uint64) xmin_fxid << POS_CTR_BITS));
			{
				Oid			argtypes[2] = {TEXTOID, INT8OID};
				Datum		args[2] = {CStringGetTextDatum(sysid), Int64GetDatum(pos_offset)};

				if (SPI_execute("DELETE FROM _sequenced.settings", false, 0) != SPI_OK_DELETE ||
					SPI_execute_with_args("INSERT INTO _sequenced.settings VALUES ($1, $2)",
										  2, argtypes, args, NULL, false, 0) != SPI_OK_INSERT)
					ereport(ERROR,
							(errcode(ERRCODE_INTERNAL_ERROR),
							 errmsg("failed to write _sequenced.settings")));
			}
		}
	}
	rights_end_internal(save_userid, save_sec);
	pos_offset_valid = true;
	return pos_offset;
}

/* Forget the offset (the extension was made again in this session) */
void
positions_reset_offset(void)
{
	pos_offset_valid = false;
}

static PosBase *
pos_base_entry(Oid staterelid)
{
	PosBase    *e;
	bool		found;

	if (pos_bases == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(PosBase);
		ctl.hcxt = TopMemoryContext;
		pos_bases = hash_create("pg_sequenced position bases", 16, &ctl,
								HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	e = hash_search(pos_bases, &staterelid, HASH_ENTER, &found);
	if (!found || e->lxid != MyProc->lxid)
	{
		e->lxid = MyProc->lxid;
		e->need_fresh = false;
		e->have_base = false;
		e->ctr = 0;
	}
	return e;
}

/*
 * Take the lock on a table's key state that every call that may hand out
 * positions of the table holds (see the top of this file), before its
 * first position.  A transaction that takes it anew (for the first time,
 * or again after a subtransaction that held it rolled back) takes a new
 * base at its next position.
 */
void
positions_lock(Oid staterelid)
{
	LOCKTAG		tag;
	PosBase    *e;

	SET_LOCKTAG_RELATION(tag, MyDatabaseId, staterelid);
	if (LockHeldByMe(&tag, RowExclusiveLock))
		return;
	e = pos_base_entry(staterelid);
	e->have_base = false;
	e->ctr = 0;
	/* an id it has now was assigned before the lock: not a base */
	e->need_fresh = FullTransactionIdIsValid(GetTopFullTransactionIdIfAny());
	LockRelationOid(staterelid, RowExclusiveLock);
}

/* The id of a fresh subtransaction: the current transaction's own, and new */
static FullTransactionId
fresh_id(void)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	FullTransactionId id;

	BeginInternalSubTransaction(NULL);
	id = GetCurrentFullTransactionId();
	ReleaseCurrentSubTransaction();
	MemoryContextSwitchTo(oldcxt);
	CurrentResourceOwner = oldowner;
	return id;
}

/*
 * The next position of a table's changes, in a call that took
 * positions_lock.  A base is used for POS_CTR_LIMIT positions, then a fresh
 * one is taken.
 */
int64
positions_next(Oid staterelid)
{
	int64		offset = positions_offset();
	PosBase    *e = pos_base_entry(staterelid);

	if (!e->have_base || e->ctr >= POS_CTR_LIMIT)
	{
		/* (an id assigned now, after the lock, is a base) */
		e->base = (e->need_fresh || e->have_base) ? fresh_id() : GetTopFullTransactionId();
		e->have_base = true;
		e->ctr = 0;
	}
	if (U64FromFullTransactionId(e->base) >= POS_FXID_LIMIT)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("change positions are exhausted in this cluster")));
	return offset + (int64) ((U64FromFullTransactionId(e->base) << POS_CTR_BITS) | e->ctr++);
}

/* The full id of xid, one of the ids running or recently assigned (below next) */
static FullTransactionId
widen(FullTransactionId next, TransactionId xid)
{
	uint32		epoch = EpochFromFullTransactionId(next);

	if (xid > XidFromFullTransactionId(next) && epoch > 0)
		epoch--;				/* assigned before the counter wrapped */
	return FullTransactionIdFromEpochAndXid(epoch, xid);
}

static void
consider(FullTransactionId *min, FullTransactionId id, Watermark *wm, int pid, TransactionId xid)
{
	if (FullTransactionIdPrecedes(id, *min))
	{
		*min = id;
		wm->held_by_pid = pid;
		wm->held_by_xid = xid;
	}
}

/*
 * The watermark of a table's feed (see the top of this file), as a
 * position: the feed may hand out the positions below it.  Must be
 * computed before the snapshot the feed reads with is taken (under READ
 * COMMITTED); snap: that snapshot under REPEATABLE READ, else NULL.  Also
 * says which backend holds it back (held_by_pid, 0 for none or a prepared
 * transaction, whose id is then held_by_xid).
 */
int64
positions_watermark(Oid staterelid, Snapshot snap, Watermark *wm)
{
	FullTransactionId next = ReadNextFullTransactionId();
	FullTransactionId min = next;
	LOCKTAG		tag;
	VirtualTransactionId *holders;
	int			n;

	wm->held_by_pid = 0;
	wm->held_by_xid = InvalidTransactionId;
	pg_memory_barrier();
	SET_LOCKTAG_RELATION(tag, MyDatabaseId, staterelid);
	holders = GetLockConflicts(&tag, ShareLock, &n);
	for (int i = 0; i < n; i++)
	{
		TransactionId xid;
		TransactionId xmin;
		int			pid = 0;

		bool		more;

		if (VirtualTransactionIdIsRecoveredPreparedXact(holders[i]))
			xid = holders[i].localTransactionId;	/* its lxid is its id */
		else if (TransactionIdIsValid(xid = TwoPhaseGetXidByVirtualXID(holders[i], &more)))
			;					/* prepared: it keeps the vxid it had */
		else
		{
			PGPROC	   *proc = BackendIdGetProc(holders[i].backendId);

			BackendIdGetTransactionIds(holders[i].backendId, &xid, &xmin);
			if (proc != NULL)
				pid = proc->pid;
		}
		/* (no id yet: it will get one after N was read) */
		if (TransactionIdIsNormal(xid))
			consider(&min, widen(next, xid), wm, pid, xid);
	}

	/* this transaction's own positions, until it ends (GetLockConflicts skips it) */
	if (LockHeldByMe(&tag, RowExclusiveLock) &&
		FullTransactionIdIsValid(GetTopFullTransactionIdIfAny()))
		consider(&min, GetTopFullTransactionId(), wm, MyProcPid, GetTopTransactionId());

	if (snap != NULL)
	{
		/* what this snapshot cannot see: ids at or above xmax ... */
		consider(&min, widen(next, snap->xmax), wm, 0, InvalidTransactionId);
		/* ... and those it saw running that have ended since */
		for (uint32 i = 0; i < snap->xcnt; i++)
			if (!TransactionIdIsInProgress(snap->xip[i]))
				consider(&min, widen(next, snap->xip[i]), wm, 0, InvalidTransactionId);
	}
	wm->next = next;
	return positions_offset() + (int64) (U64FromFullTransactionId(min) << POS_CTR_BITS);
}

/*
 * sequenced_feed_status(target): where the feed stands, and which backend,
 * if any, holds it back, so that a consumer can tell "caught up" from
 * "held back".
 */
Datum
sequenced_feed_status(PG_FUNCTION_ARGS)
{
	CallSession s;
	Watermark	wm;
	int64		watermark;
	Datum		values[4];
	bool		nulls[4] = {false, true, true, true};
	TupleDesc	desc;
	Oid			save_userid;
	int			save_sec;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("target must not be null")));
	desc = call_result_desc(fcinfo);
	call_begin(&s, PG_GETARG_OID(0), AccessShareLock, RIGHTS_READ);
	rights_check_read(s.st);
	rights_pin_path();
	watermark = positions_watermark(SEQ_POSREL(s.st),
									IsolationUsesXactSnapshot() ? GetTransactionSnapshot() : NULL, &wm);
	values[0] = Int64GetDatum(watermark);

	/* the highest position there is, under a snapshot taken now */
	rights_begin_internal(&save_userid, &save_sec);
	if (SPI_execute(s.st->nkeys > 0 ?
					psprintf("SELECT pg_catalog.max(last) FROM _sequenced.%s",
							 quote_identifier(get_rel_name(s.st->logrelid))) :
					psprintf("SELECT pg_catalog.max(position) FROM %s", s.st->state_qualname),
					false, 1) != SPI_OK_SELECT)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("failed to read the positions of table %s", s.st->relname)));
	rights_end_internal(save_userid, save_sec);
	values[1] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &nulls[1]);

	if (wm.held_by_pid != 0 || TransactionIdIsValid(wm.held_by_xid))
	{
		Oid			argtypes[2] = {INT4OID, XIDOID};
		Datum		args[2] = {Int32GetDatum(wm.held_by_pid), TransactionIdGetDatum(wm.held_by_xid)};

		if (wm.held_by_pid != 0)
		{
			values[2] = Int32GetDatum(wm.held_by_pid);
			nulls[2] = false;
		}
		/* since when: its transaction's start, or when it was prepared */
		if (SPI_execute_with_args(wm.held_by_pid != 0 ?
								  "SELECT xact_start FROM pg_catalog.pg_stat_activity WHERE pid OPERATOR(pg_catalog.=) $1" :
								  "SELECT prepared FROM pg_catalog.pg_prepared_xacts WHERE transaction OPERATOR(pg_catalog.=) $2",
								  2, argtypes, args, NULL, true, 1) == SPI_OK_SELECT && SPI_processed == 1)
			values[3] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &nulls[3]);
	}
	call_end(&s);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}
