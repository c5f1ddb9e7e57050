/*-------------------------------------------------------------------------
 *
 * maxlog.c
 *		max_sequence: the insert-only log behind it (_sequenced.max_log),
 *		read, raised, compacted and forgotten here only.
 *
 * A call that raises a table's maximum inserts a row (relid, seq) instead
 * of updating one, so writers on disjoint keys never queue on a shared row
 * lock, and a call that rolls back leaves no trace (max_sequence is
 * transactional).  The maximum is the highest visible row.  Older rows are
 * compacted away now and then (a backend's first insert, then every 32nd),
 * skipping any row another transaction holds: compaction never waits.
 *
 * The log is read and written straight through its heap and index, not
 * with statements: at one record per call, three planned statements per
 * call were a quarter of the time, and a generic plan that chose a bitmap
 * scan walked every dead entry of the log on every pass (bitmap scans
 * never mark index entries dead; this plain index scan does).  The log's
 * and its index's oids are cached per backend, looked up again when the
 * extension is made anew.
 *
 * Rights: the log belongs to the extension's owner; it holds oids and
 * sequences only, so reading and writing it in C runs no code of anyone's.
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
#include "access/tupconvert.h"
#include "access/visibilitymap.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_index.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_opclass.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/executor.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/readfuncs.h"
#include "nodes/value.h"
#include "optimizer/optimizer.h"
#include "parser/parse_coerce.h"
#include "parser/parse_func.h"
#include "rewrite/rewriteHandler.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/rls.h"
#include "utils/ruleutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

#include "pg_sequenced.h"

static int	max_log_inserts = 0;
static FullTransactionId max_log_xact = {0};	/* last transaction that inserted */

/* ----------------------------------------------------------------
 * the steps
 * ---------------------------------------------------------------- */

/*
 * The max log (_sequenced.max_log, one index on (relid, seq)) is read and
 * written here straight through its heap and index, not with statements:
 * at one record per call, three planned statements per call were a quarter
 * of the time, and a generic plan that chose a bitmap scan for the
 * compaction walked every dead entry of the log on every pass (bitmap scans
 * never mark index entries dead; this plain index scan does).
 */
typedef struct MaxLog
{
	Relation	rel;
	Relation	irel;
	ScanKeyData skeys[2];
	Snapshot	snap;
} MaxLog;

typedef struct MaxFound
{
	int64		seq;
	bool		found;
} MaxFound;

static void
maxlog_open(MaxLog *ml, Oid relid, LOCKMODE mode)
{
	static uint64 generation = 0;
	static Oid	logid = InvalidOid;
	static Oid	idxid = InvalidOid;

	/* looked up by name once, and again when the extension was made anew */
	if (catalog_generation() != generation)
	{
		Oid			nsp = get_namespace_oid("_sequenced", false);

		logid = get_relname_relid("max_log", nsp);
		idxid = get_relname_relid("max_log_relid_seq", nsp);
		if (!OidIsValid(logid) || !OidIsValid(idxid))
			elog(ERROR, "failed to find _sequenced.max_log and its index");
		generation = catalog_generation();
	}
	/* see what earlier statements of this transaction wrote, as a statement would */
	CommandCounterIncrement();
	PushActiveSnapshot(GetTransactionSnapshot());
	ml->snap = GetActiveSnapshot();
	ml->rel = table_open(logid, mode);
	ml->irel = index_open(idxid, mode);
	ScanKeyInit(&ml->skeys[0], 1, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(relid));
}

static void
maxlog_close(MaxLog *ml)
{
	index_close(ml->irel, NoLock);
	table_close(ml->rel, NoLock);
	PopActiveSnapshot();
}

/*
 * Visit the log rows of the table whose sequence compares with seq as
 * strategy says, in index order (dir), until visit returns false.
 */
static void
maxlog_scan(MaxLog *ml, StrategyNumber strategy, RegProcedure proc, int64 seq,
			ScanDirection dir, bool (*visit) (MaxLog *, TupleTableSlot *, void *), void *arg)
{
	TupleTableSlot *slot = table_slot_create(ml->rel, NULL);
	IndexScanDesc scan;
	int			nkeys = 1;

	if (strategy != InvalidStrategy)
	{
		ScanKeyInit(&ml->skeys[1], 2, strategy, proc, Int64GetDatum(seq));
		nkeys = 2;
	}
	/* the scan copies as many keys as it was begun with */
	scan = index_beginscan(ml->rel, ml->irel, ml->snap, nkeys, 0);
	index_rescan(scan, ml->skeys, nkeys, NULL, 0);
	while (index_getnext_slot(scan, dir, slot))
	{
		CHECK_FOR_INTERRUPTS();
		if (!visit(ml, slot, arg))
			break;
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
}

static bool
maxlog_take_first(MaxLog *ml, TupleTableSlot *slot, void *arg)
{
	MaxFound   *r = (MaxFound *) arg;
	bool		isnull;

	r->seq = DatumGetInt64(slot_getattr(slot, 2, &isnull));
	r->found = true;
	return false;
}

/* drop one superseded row, unless another transaction holds it: never wait */
static bool
maxlog_drop(MaxLog *ml, TupleTableSlot *slot, void *arg)
{
	TM_FailureData tmfd;

	(void) table_tuple_delete(ml->rel, &slot->tts_tid, GetCurrentCommandId(true),
							  ml->snap, InvalidSnapshot, false, &tmfd, false);
	return true;
}

bool
maxlog_read(Oid relid, int64 *max)
{
	MaxLog		ml;
	MaxFound	r = {0, false};

	maxlog_open(&ml, relid, AccessShareLock);
	maxlog_scan(&ml, InvalidStrategy, InvalidOid, 0, BackwardScanDirection, maxlog_take_first, &r);
	maxlog_close(&ml);
	*max = r.seq;
	return r.found;
}

void
maxlog_raise(SeqTable *st, int64 callmax)
{
	MaxLog		ml;
	MaxFound	r = {0, false};

	maxlog_open(&ml, st->relid, RowExclusiveLock);
	/* a row as high already (committed, or this transaction's) */
	maxlog_scan(&ml, BTGreaterEqualStrategyNumber, F_INT8GE, callmax, ForwardScanDirection,
				maxlog_take_first, &r);
	if (!r.found)
	{
		ResultRelInfo *rri = makeNode(ResultRelInfo);
		EState	   *estate = CreateExecutorState();
		TupleTableSlot *slot = table_slot_create(ml.rel, NULL);

		estate->es_output_cid = GetCurrentCommandId(true);
		InitResultRelInfo(rri, ml.rel, 0, NULL, 0);
		ExecOpenIndices(rri, false);
		slot->tts_values[0] = ObjectIdGetDatum(st->relid);
		slot->tts_isnull[0] = false;
		slot->tts_values[1] = Int64GetDatum(callmax);
		slot->tts_isnull[1] = false;
		ExecStoreVirtualTuple(slot);
		table_tuple_insert(ml.rel, slot, estate->es_output_cid, 0, NULL);
		list_free(ExecInsertIndexTuples(rri, slot, estate, false, false, NULL, NIL));
		ExecDropSingleTupleTableSlot(slot);
		ExecCloseIndices(rri);
		FreeExecutorState(estate);

		/*
		 * Now and then, drop older log rows: at a backend's first insert
		 * (so that sessions making one call each keep the log short too) and
		 * every 32nd after.  Only before this transaction's first insert (the
		 * one just made aside): deleting rows a transaction inserted itself
		 * costs it memory for every such row (combo command ids), which would
		 * grow without bound in a long transaction.
		 */
		if (!FullTransactionIdEquals(max_log_xact, GetTopFullTransactionId()) &&
			(max_log_inserts++ % 32) == 0)
			maxlog_scan(&ml, BTLessStrategyNumber, F_INT8LT, callmax, ForwardScanDirection,
						maxlog_drop, NULL);
		max_log_xact = GetTopFullTransactionId();
	}
	maxlog_close(&ml);
}
PG_FUNCTION_INFO_V1(sequenced_max_sequence);

/* Forget a table's rows (it is unregistered; its writers are locked out) */
void
maxlog_forget(Oid relid)
{
	MaxLog		ml;

	maxlog_open(&ml, relid, RowExclusiveLock);
	maxlog_scan(&ml, InvalidStrategy, InvalidOid, 0, ForwardScanDirection, maxlog_drop, NULL);
	maxlog_close(&ml);
}

/*
 * sequenced_max_sequence(target): the highest sequence accepted into the
 * table, NULL before the first; 55000 if it is not registered.  Where a
 * loader stands is the table's data: SELECT on it, or on a column of it.
 */
Datum
sequenced_max_sequence(PG_FUNCTION_ARGS)
{
	Oid			relid;
	int64		result = 0;
	bool		found;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("target must not be null")));
	relid = PG_GETARG_OID(0);
	table_close(catalog_open_target(relid, AccessShareLock, RIGHTS_READ), NoLock);
	if (pg_class_aclcheck(relid, GetUserId(), ACL_SELECT) != ACLCHECK_OK &&
		pg_attribute_aclcheck_all(relid, GetUserId(), ACL_SELECT, ACLMASK_ANY) != ACLCHECK_OK)
		aclcheck_error(ACLCHECK_NO_PRIV, get_relkind_objtype(get_rel_relkind(relid)),
					   get_rel_name(relid));
	if (!catalog_is_registered(relid))
		catalog_not_registered(relid);
	found = maxlog_read(relid, &result);
	if (!found)
		PG_RETURN_NULL();
	PG_RETURN_INT64(result);
}
