/*-------------------------------------------------------------------------
 *
 * delivery.c
 *		The consumers' tables (SPEC section 8): _sequenced.consumers, one
 *		row per consumer, and _sequenced.deliveries, what a consumer has in
 *		flight, waiting or acknowledged above its acked_through.
 *
 * Both belong to the extension's owner.  Statements on them run as that
 * owner (rights_begin_internal) and touch no user's table and no value of
 * a user's type: names, oids, positions, timestamps and keys as jsonb, so
 * no code a role can attach to its own table or types runs here (rights.c).
 *
 * A delivery row: (incarnation, ident, pos) -- the consumer's incarnation,
 * the key as the feed writes it in jsonb (an append-only table's position
 * instead), the position of the change -- with the log entry's sequence,
 * whether it is acknowledged, the ack_id it was handed out with (kept when
 * acknowledged, cleared by a nack), how many times the key was handed out
 * since its last acknowledgement, and visible_at: when it may be handed out
 * (again; 'infinity': when the feed brings the key's newer change).  A key
 * may have several rows: the one in flight and a newer change waiting
 * behind it, acknowledged ones.
 *
 * Locking.  Receives of one consumer take turns through a short critical
 * section (consumer_lock_receive: a lock on the consumer's id, released as
 * the claiming is done, not at the end of the transaction); everything
 * else about them never waits:
 *	- delivery_probe reads a key's rows under a dirty snapshot, so a
 *	  receive sees what an earlier receive claimed in a transaction still
 *	  in progress, and marks rows another transaction in progress holds
 *	  (inserted, updated, deleted) as foreign: the caller skips such a key;
 *	- delivery_lock locks a row SKIP LOCKED style (LockWaitSkip) before it
 *	  is updated or deleted, so a receive never waits for an acknowledgement
 *	  or another receive;
 *	- consumer_try_lock likewise for the consumer's row, whose head and
 *	  acked_through only the receive that got its lock moves on;
 *	- a probe reads the index before it judges the row versions, so it can
 *	  miss a row another transaction updated in between (a nack, or an
 *	  acknowledgement that did not stay on its page): delivery_insert
 *	  checks the key index itself, without waiting, and never records a
 *	  change twice.
 * Rows are written through the heap and their indexes directly, so that a
 * receive under REPEATABLE READ updates the newest version of a row (which
 * its snapshot may not see) without a serialization failure; statements on
 * these tables read with the latest snapshot for the same reason.
 * Acknowledgements are statements (consumer.c): they may wait for the
 * receive that handed an expired delivery out again, then find it changed.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "executor/executor.h"
#include "jit/jit.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "pg_sequenced.h"

/* _sequenced.deliveries' columns */
#define DLV_INCARNATION	1
#define DLV_IDENT		2
#define DLV_POS			3
#define DLV_SEQ			4
#define DLV_ACKED		5
#define DLV_ACK_ID		6
#define DLV_DELIVERIES	7
#define DLV_VISIBLE_AT	8
#define DLV_NATTS		8

/* the lock tag's last field, apart from those of SQL's advisory locks (1, 2) */
#define SEQ_RECEIVE_LOCK 0x5EC0

/* the statements of consumer.c, receive.c and this file, planned once */
#define SEQ_CONSUMER_PLANS CSTMT_COUNT

/* oids of the extension's objects, for this backend's extension */
static uint64 rels_generation = 0;
static Oid	deliveries_oid = InvalidOid;
static Oid	deliveries_key_oid = InvalidOid;
static Oid	consumers_oid = InvalidOid;
static Oid	ack_ids_oid = InvalidOid;
static Oid	consumer_ids_oid = InvalidOid;
static SPIPlanPtr plans[SEQ_CONSUMER_PLANS];

struct DeliveryStore
{
	Relation	rel;
	Relation	keyidx;			/* (incarnation, ident, pos), unique */
	IndexInfo  *keyinfo;
	EState	   *estate;
	ResultRelInfo *rri;
	TupleTableSlot *slot;		/* what a probe reads */
	TupleTableSlot *newslot;	/* what is written */
	TupleTableSlot *lockslot;
	IndexScanDesc scan;
	SnapshotData dirty;
	Snapshot	snap;			/* the latest, when opened */
	MemoryContext cxt;			/* what probes return */
};

static Oid
internal_rel(const char *name)
{
	Oid			nsp = get_namespace_oid("_sequenced", false);
	Oid			oid = get_relname_relid(name, nsp);

	if (!OidIsValid(oid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("relation \"_sequenced.%s\" is missing", name),
				 errhint("Update the extension: ALTER EXTENSION pg_sequenced UPDATE.")));
	return oid;
}

/* The oids of the tables, looked up again when the extension was made anew */
static void
delivery_rels(void)
{
	uint64		gen = catalog_generation();

	if (gen == rels_generation && OidIsValid(deliveries_oid))
		return;
	for (int i = 0; i < SEQ_CONSUMER_PLANS; i++)
	{
		if (plans[i] != NULL)
			SPI_freeplan(plans[i]);
		plans[i] = NULL;
	}
	deliveries_oid = internal_rel("deliveries");
	deliveries_key_oid = internal_rel("deliveries_key");
	consumers_oid = internal_rel("consumers");
	ack_ids_oid = internal_rel("ack_ids");
	consumer_ids_oid = internal_rel("consumer_ids");
	rels_generation = gen;
}

/*
 * Run one of the statements on the consumers' tables (which: its slot in
 * the plan cache, sql always the same for it), as the extension's owner,
 * with the latest snapshot (this transaction's own writes are seen).  SPI must be connected.  Returns the
 * first column of the first row (0 if none or NULL); *processed: the rows.
 * SPI_tuptable is left for the caller to read, in its own memory context.
 */
Datum
delivery_exec(int which, const char *sql, int nargs, Oid *types, Datum *values,
			  const char *nulls, int64 *processed)
{
	Oid			save_userid;
	int			save_sec;
	int			rc;
	Datum		first = (Datum) 0;
	MemoryContext caller = CurrentMemoryContext;

	Assert(which >= 0 && which < SEQ_CONSUMER_PLANS);
	delivery_rels();
	rights_begin_internal(&save_userid, &save_sec);
	/*
	 * No JIT: these statements read a few rows, but the planner settings of
	 * the feed (rights_guc_planner: no sequential scans) price them far
	 * above jit_above_cost, and compiling would cost a hundred times more
	 * than running them.  (At the caller's GUC nest level, undone with it.)
	 */
	if (jit_enabled)
		(void) set_config_option("jit", "off", PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	if (plans[which] == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare(sql, nargs, types);

		if (plan == NULL)
			elog(ERROR, "failed to prepare a statement on the consumers' tables: %s",
				 SPI_result_code_string(SPI_result));
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "failed to keep a plan");
		plans[which] = plan;
	}
	/* (not read-only: SPI increments the command counter, so this transaction's writes are seen) */
	rc = SPI_execute_snapshot(plans[which], values, nulls, GetLatestSnapshot(), InvalidSnapshot,
							  false, true, 0);
	rights_end_internal(save_userid, save_sec);
	/* (SPI leaves its own context current: what the caller reads goes in its) */
	MemoryContextSwitchTo(caller);
	if (rc < 0)
		elog(ERROR, "failed to run a statement on the consumers' tables: %s", SPI_result_code_string(rc));
	if (processed)
		*processed = (int64) SPI_processed;
	if (SPI_tuptable != NULL && SPI_processed > 0 && SPI_tuptable->tupdesc->natts > 0)
	{
		bool		isnull;

		first = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		if (isnull)
			first = (Datum) 0;
	}
	return first;
}

/*
 * A consumer's row, as it stands now (the latest snapshot), by name.
 * False: there is none.
 */
bool
consumer_read(const char *name, ConsumerRow *c)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(name)};
	int64		n;
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;

	(void) delivery_exec(CSTMT_READ, "SELECT name, id, target::pg_catalog.oid, creator::pg_catalog.oid, start, "
						 "visibility_timeout, incarnation, head, acked_through, pruned_through, ctid "
						 "FROM _sequenced.consumers WHERE name OPERATOR(pg_catalog.=) $1",
						 1, types, values, NULL, &n);
	if (n == 0)
		return false;
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	c->name = SPI_getvalue(tup, desc, 1);
	c->id = DatumGetInt64(SPI_getbinval(tup, desc, 2, &isnull));
	c->target = DatumGetObjectId(SPI_getbinval(tup, desc, 3, &isnull));
	c->creator = DatumGetObjectId(SPI_getbinval(tup, desc, 4, &isnull));
	c->start = SPI_getvalue(tup, desc, 5);
	c->timeout = SPI_datumTransfer(SPI_getbinval(tup, desc, 6, &isnull), false, sizeof(Interval));
	c->incarnation = DatumGetInt64(SPI_getbinval(tup, desc, 7, &isnull));
	c->head = DatumGetInt64(SPI_getbinval(tup, desc, 8, &isnull));
	c->acked_through = DatumGetInt64(SPI_getbinval(tup, desc, 9, &isnull));
	c->pruned_through = DatumGetInt64(SPI_getbinval(tup, desc, 10, &isnull));
	c->tid = *(ItemPointer) DatumGetPointer(SPI_getbinval(tup, desc, 11, &isnull));
	SPI_freetuptable(SPI_tuptable);
	return true;
}

/*
 * Lock the consumer's row as read (c->tid), without waiting: false when
 * another transaction holds it, or changed it since it was read.
 */
bool
consumer_try_lock(ConsumerRow *c)
{
	Relation	rel;
	TupleTableSlot *slot;
	TM_FailureData tmfd;
	TM_Result	res;

	delivery_rels();
	rel = table_open(consumers_oid, RowShareLock);
	slot = table_slot_create(rel, NULL);
	res = table_tuple_lock(rel, &c->tid, GetLatestSnapshot(), slot, GetCurrentCommandId(false),
						   LockTupleNoKeyExclusive, LockWaitSkip, 0, &tmfd);
	ExecDropSingleTupleTableSlot(slot);
	table_close(rel, NoLock);
	return res == TM_Ok;
}

/*
 * The critical section receives of one consumer take turns through (on:
 * enter, else leave): a lock on the consumer's id, outside SQL's advisory
 * lock space, held only while a receive claims keys.
 */
void
consumer_lock_receive(ConsumerRow *c, bool on)
{
	LOCKTAG		tag;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, (uint32) ((uint64) c->id >> 32), (uint32) c->id,
						 SEQ_RECEIVE_LOCK);
	if (on)
		(void) LockAcquire(&tag, ExclusiveLock, false, false);
	else
		LockRelease(&tag, ExclusiveLock, false);
}

/* A new ack_id (ack) or consumer id / incarnation */
int64
consumer_next_id(bool ack)
{
	delivery_rels();
	return nextval_internal(ack ? ack_ids_oid : consumer_ids_oid, false);
}

/*
 * acked_through, for a head: the highest position at or below it at which
 * a change was acknowledged with every change below it acknowledged too
 * (no delivery row that is not acknowledged lies below), or the stored one
 * if higher.
 */
int64
consumer_acked_through(ConsumerRow *c, int64 head)
{
	Oid			types[3] = {INT8OID, INT8OID, INT8OID};
	Datum		values[3] = {Int64GetDatum(c->incarnation), Int64GetDatum(head),
	Int64GetDatum(c->acked_through)};
	Datum		d;

	/*
	 * Only rows above the stored acked_through matter (every row not
	 * acknowledged lies above it): the index is read from there, not over
	 * the rows pruned below it that vacuum has not removed yet.
	 */
	d = delivery_exec(CSTMT_ACKED_THROUGH, "SELECT pg_catalog.max(d.pos) FROM _sequenced.deliveries d "
					  "WHERE d.incarnation OPERATOR(pg_catalog.=) $1 AND d.acked "
					  "AND d.pos OPERATOR(pg_catalog.>) $3 AND d.pos OPERATOR(pg_catalog.<=) $2 "
					  "AND d.pos OPERATOR(pg_catalog.<) COALESCE((SELECT pg_catalog.min(u.pos) "
					  "FROM _sequenced.deliveries u WHERE u.incarnation OPERATOR(pg_catalog.=) $1 "
					  "AND u.pos OPERATOR(pg_catalog.>) $3 "
					  "AND NOT u.acked), 9223372036854775807)",
					  3, types, values, NULL, NULL);
	if (d != (Datum) 0 && DatumGetInt64(d) > c->acked_through)
		return DatumGetInt64(d);
	return c->acked_through;
}

/* ----------------------------------------------------------------
 * delivery rows, in C
 * ---------------------------------------------------------------- */

DeliveryStore *
delivery_open(void)
{
	DeliveryStore *ds = palloc0(sizeof(DeliveryStore));

	delivery_rels();
	ds->cxt = AllocSetContextCreate(CurrentMemoryContext, "pg_sequenced deliveries",
									ALLOCSET_DEFAULT_SIZES);
	ds->rel = table_open(deliveries_oid, RowExclusiveLock);
	if (RelationGetDescr(ds->rel)->natts != DLV_NATTS)
		elog(ERROR, "table _sequenced.deliveries has %d columns, expected %d",
			 RelationGetDescr(ds->rel)->natts, DLV_NATTS);
	ds->keyidx = index_open(deliveries_key_oid, RowExclusiveLock);
	ds->estate = CreateExecutorState();
	ds->rri = makeNode(ResultRelInfo);
	InitResultRelInfo(ds->rri, ds->rel, 0, NULL, 0);
	ExecOpenIndices(ds->rri, false);
	/*
	 * The key index is written here, not by ExecInsertIndexTuples: a new
	 * row's uniqueness is checked without waiting (delivery_insert).
	 */
	for (int i = 0; i < ds->rri->ri_NumIndices; i++)
		if (RelationGetRelid(ds->rri->ri_IndexRelationDescs[i]) == deliveries_key_oid)
		{
			int			last = ds->rri->ri_NumIndices - 1;

			index_close(ds->rri->ri_IndexRelationDescs[i], RowExclusiveLock);
			ds->rri->ri_IndexRelationDescs[i] = ds->rri->ri_IndexRelationDescs[last];
			ds->rri->ri_IndexRelationInfo[i] = ds->rri->ri_IndexRelationInfo[last];
			ds->rri->ri_NumIndices = last;
			break;
		}
	ds->keyinfo = BuildIndexInfo(ds->keyidx);
	ds->slot = table_slot_create(ds->rel, NULL);
	ds->newslot = table_slot_create(ds->rel, NULL);
	ds->lockslot = table_slot_create(ds->rel, NULL);
	InitDirtySnapshot(ds->dirty);
	ds->snap = RegisterSnapshot(GetLatestSnapshot());
	ds->scan = index_beginscan(ds->rel, ds->keyidx, &ds->dirty, 2, 0);
	return ds;
}

void
delivery_close(DeliveryStore *ds)
{
	index_endscan(ds->scan);
	UnregisterSnapshot(ds->snap);
	ExecDropSingleTupleTableSlot(ds->slot);
	ExecDropSingleTupleTableSlot(ds->newslot);
	ExecDropSingleTupleTableSlot(ds->lockslot);
	ExecCloseIndices(ds->rri);
	FreeExecutorState(ds->estate);
	index_close(ds->keyidx, NoLock);
	table_close(ds->rel, NoLock);
	MemoryContextDelete(ds->cxt);
	pfree(ds);
}

/* One row from the probe's slot, its ident copied into cxt */
static void
read_row(TupleTableSlot *slot, DeliveryRow *r, MemoryContext cxt)
{
	bool		isnull;
	Datum		d;
	MemoryContext old;

	r->tid = slot->tts_tid;
	d = slot_getattr(slot, DLV_IDENT, &isnull);
	old = MemoryContextSwitchTo(cxt);
	r->ident = PointerGetDatum(PG_DETOAST_DATUM_COPY(d));
	MemoryContextSwitchTo(old);
	r->pos = DatumGetInt64(slot_getattr(slot, DLV_POS, &isnull));
	d = slot_getattr(slot, DLV_SEQ, &r->seqnull);
	r->seq = r->seqnull ? 0 : DatumGetInt64(d);
	r->acked = DatumGetBool(slot_getattr(slot, DLV_ACKED, &isnull));
	d = slot_getattr(slot, DLV_ACK_ID, &isnull);
	r->ack_id = isnull ? 0 : DatumGetInt64(d);
	r->deliveries = DatumGetInt32(slot_getattr(slot, DLV_DELIVERIES, &isnull));
	r->visible_at = DatumGetTimestampTz(slot_getattr(slot, DLV_VISIBLE_AT, &isnull));
}

/*
 * Every row of one key (ident) of an incarnation, as they stand now: rows
 * of transactions in progress included, marked foreign when another
 * transaction holds them.  *rows is allocated in the store's context,
 * which the next probe resets: copy what must last.  (The index scan keeps
 * to the context it was begun in: it allocates as it goes, such as the
 * list of dead items to mark, and frees that at its end.)
 */
int
delivery_probe(DeliveryStore *ds, int64 incarnation, Datum ident, DeliveryRow **rows)
{
	ScanKeyData keys[2];
	int			n = 0;
	int			cap = 4;

	MemoryContextReset(ds->cxt);
	*rows = MemoryContextAlloc(ds->cxt, sizeof(DeliveryRow) * cap);
	ScanKeyInit(&keys[0], 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(incarnation));
	ScanKeyInit(&keys[1], 2, BTEqualStrategyNumber, F_JSONB_EQ, ident);
	index_rescan(ds->scan, keys, 2, NULL, 0);
	while (index_getnext_slot(ds->scan, ForwardScanDirection, ds->slot))
	{
		DeliveryRow *r;

		if (n == cap)
		{
			cap *= 2;
			*rows = repalloc(*rows, sizeof(DeliveryRow) * cap);
		}
		r = &(*rows)[n++];
		read_row(ds->slot, r, ds->cxt);
		/* (the dirty snapshot names a transaction in progress, never this one) */
		r->foreign = TransactionIdIsValid(ds->dirty.xmin) || TransactionIdIsValid(ds->dirty.xmax);
		ExecClearTuple(ds->slot);
	}
	return n;
}

static void
form_row(DeliveryStore *ds, int64 incarnation, DeliveryRow *r)
{
	TupleTableSlot *slot = ds->newslot;

	ExecClearTuple(slot);
	memset(slot->tts_isnull, false, sizeof(bool) * DLV_NATTS);
	slot->tts_values[DLV_INCARNATION - 1] = Int64GetDatum(incarnation);
	slot->tts_values[DLV_IDENT - 1] = r->ident;
	slot->tts_values[DLV_POS - 1] = Int64GetDatum(r->pos);
	slot->tts_values[DLV_SEQ - 1] = Int64GetDatum(r->seq);
	slot->tts_isnull[DLV_SEQ - 1] = r->seqnull;
	slot->tts_values[DLV_ACKED - 1] = BoolGetDatum(r->acked);
	slot->tts_values[DLV_ACK_ID - 1] = Int64GetDatum(r->ack_id);
	slot->tts_isnull[DLV_ACK_ID - 1] = r->ack_id == 0;
	slot->tts_values[DLV_DELIVERIES - 1] = Int32GetDatum(r->deliveries);
	slot->tts_values[DLV_VISIBLE_AT - 1] = TimestampTzGetDatum(r->visible_at);
	ExecStoreVirtualTuple(slot);
}

/* The key index's entry of the row in newslot (checked as asked) */
static bool
insert_key(DeliveryStore *ds, int64 incarnation, DeliveryRow *r, IndexUniqueCheck check, bool unchanged)
{
	Datum		values[3] = {Int64GetDatum(incarnation), r->ident, Int64GetDatum(r->pos)};
	bool		isnull[3] = {false, false, false};

	return index_insert(ds->keyidx, values, isnull, &ds->newslot->tts_tid, ds->rel, check,
						unchanged, ds->keyinfo);
}

/*
 * Insert a row.  False, and nothing inserted, when the key index already
 * holds (incarnation, ident, pos), live or being inserted: a probe may miss
 * a row that another transaction updated as the probe read it (the index
 * page is read before the row versions are judged), the index does not.
 * It never waits for the other transaction.
 */
bool
delivery_insert(DeliveryStore *ds, int64 incarnation, DeliveryRow *r)
{
	CommandId	cid = GetCurrentCommandId(true);

	ds->estate->es_output_cid = cid;
	form_row(ds, incarnation, r);
	table_tuple_insert(ds->rel, ds->newslot, cid, 0, NULL);
	if (!insert_key(ds, incarnation, r, UNIQUE_CHECK_PARTIAL, false))
	{
		TM_FailureData tmfd;

		/* (its key index entry stays, pointing at a dead row) */
		CommandCounterIncrement();
		if (table_tuple_delete(ds->rel, &ds->newslot->tts_tid, GetCurrentCommandId(true), ds->snap,
							   InvalidSnapshot, true, &tmfd, false) != TM_Ok)
			elog(ERROR, "failed to take back a delivery row");
		return false;
	}
	list_free(ExecInsertIndexTuples(ds->rri, ds->newslot, ds->estate, false, false, NULL, NIL));
	return true;
}

/* Where the last row delivery_insert wrote is */
ItemPointer
delivery_last_tid(DeliveryStore *ds)
{
	return &ds->newslot->tts_tid;
}

/* Lock a row probed, without waiting: false if another transaction holds it */
bool
delivery_lock(DeliveryStore *ds, ItemPointer tid)
{
	TM_FailureData tmfd;
	TM_Result	res;

	res = table_tuple_lock(ds->rel, tid, ds->snap, ds->lockslot, GetCurrentCommandId(false),
						   LockTupleExclusive, LockWaitSkip, 0, &tmfd);
	ExecClearTuple(ds->lockslot);
	return res == TM_Ok;
}

/* Write r over the row at r->tid, which delivery_lock locked */
void
delivery_update(DeliveryStore *ds, int64 incarnation, DeliveryRow *r)
{
	CommandId	cid = GetCurrentCommandId(true);
	TM_FailureData tmfd;
	LockTupleMode lockmode;
	bool		update_indexes;
	TM_Result	res;

	ds->estate->es_output_cid = cid;
	form_row(ds, incarnation, r);
	res = table_tuple_update(ds->rel, &r->tid, ds->newslot, cid, ds->snap, InvalidSnapshot, true,
							 &tmfd, &lockmode, &update_indexes);
	if (res != TM_Ok)
		elog(ERROR, "failed to update a delivery row (%d)", (int) res);
	if (update_indexes)
	{
		(void) insert_key(ds, incarnation, r, UNIQUE_CHECK_YES, true);
		list_free(ExecInsertIndexTuples(ds->rri, ds->newslot, ds->estate, true, false, NULL, NIL));
	}
}

/* Delete the row at tid, which delivery_lock locked */
void
delivery_delete(DeliveryStore *ds, ItemPointer tid)
{
	TM_FailureData tmfd;
	TM_Result	res;

	res = table_tuple_delete(ds->rel, tid, GetCurrentCommandId(true), ds->snap, InvalidSnapshot,
							 true, &tmfd, false);
	if (res != TM_Ok)
		elog(ERROR, "failed to delete a delivery row (%d)", (int) res);
}

/* int64s in ascending order, for qsort and bsearch (consumer.c's too) */
int
delivery_cmp_int64(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return x < y ? -1 : x > y ? 1 : 0;
}

/*
 * Remove the delivery rows of incarnations that no consumer has any more
 * (dropped consumers, rewound ones), those another transaction holds left
 * for a later call; returns how many.  SPI must be connected.
 */
int64
delivery_gc(void)
{
	int64		n;
	int64	   *live;
	DeliveryStore *ds;
	TableScanDesc scan;
	int64		removed = 0;

	(void) delivery_exec(CSTMT_LIVE_INCARNATIONS, "SELECT incarnation FROM _sequenced.consumers", 0, NULL, NULL, NULL, &n);
	live = palloc(sizeof(int64) * Max(n, 1));
	for (int64 i = 0; i < n; i++)
	{
		bool		isnull;

		live[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
	}
	SPI_freetuptable(SPI_tuptable);
	qsort(live, n, sizeof(int64), delivery_cmp_int64);

	ds = delivery_open();
	scan = table_beginscan(ds->rel, ds->snap, 0, NULL);
	while (table_scan_getnextslot(scan, ForwardScanDirection, ds->slot))
	{
		bool		isnull;
		int64		inc = DatumGetInt64(slot_getattr(ds->slot, DLV_INCARNATION, &isnull));
		ItemPointerData tid = ds->slot->tts_tid;

		CHECK_FOR_INTERRUPTS();
		if (bsearch(&inc, live, n, sizeof(int64), delivery_cmp_int64) != NULL)
			continue;
		if (delivery_lock(ds, &tid))
		{
			delivery_delete(ds, &tid);
			removed++;
		}
	}
	table_endscan(scan);
	delivery_close(ds);
	return removed;
}
