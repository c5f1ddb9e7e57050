/*-------------------------------------------------------------------------
 *
 * call.c
 *		The call protocol, and the SQL-callable apply functions.
 *
 * Every call that applies records -- sequenced_upsert (both forms),
 * sequenced_delete, the staging trigger, sequenced_import -- runs the same
 * protocol, written here once:
 *
 *	1. call_begin: lock the target (RowExclusiveLock), refuse a table
 *	   that Citus manages, connect SPI, open a GUC nest level (search_path
 *	   is pinned just before the first statement, if any), note the
 *	   caller's search_path, open the cached table description;
 *	2. parse the input into a Batch (input.c for jsonb, staging.c for the
 *	   rows of a staging table), values converted under the caller's
 *	   search_path (call_caller_path);
 *	3. call_apply: refuse deletes sent to an append-only table, check the
 *	   caller's rights, then apply.c's pipeline;
 *	4. call_emit: one output row per message, in input order;
 *	5. call_end: undo the settings, close SPI, the description and the
 *	   target.
 *
 * An error anywhere aborts the call, and the transaction (or subtransaction)
 * undoes everything the call did: nothing of a failed call is applied.
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

PG_FUNCTION_INFO_V1(sequenced_upsert_data);
PG_FUNCTION_INFO_V1(sequenced_upsert_messages);
PG_FUNCTION_INFO_V1(sequenced_delete);

const char *
call_outcome_name(Outcome o)
{
	switch (o)
	{
		case OUT_INSERTED:
			return "inserted";
		case OUT_UPDATED:
			return "updated";
		case OUT_DELETED:
			return "deleted";
		case OUT_STALE:
			return "stale";
		case OUT_SUPERSEDED:
			return "superseded";
		case OUT_UNCHANGED:
			return "unchanged";
		default:
			return NULL;
	}
}

void
call_emit(Batch *b, FunctionCallInfo fcinfo)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext rowcxt = AllocSetContextCreate(CurrentMemoryContext,
												 "pg_sequenced output row",
												 ALLOCSET_SMALL_SIZES);
	MemoryContext old = MemoryContextSwitchTo(rowcxt);
	Datum		outcomes[OUT_LAST + 1];

	/* six words for a million rows: made once */
	MemoryContextSwitchTo(b->mcxt);
	for (int o = OUT_INSERTED; o <= OUT_LAST; o++)
		outcomes[o] = CStringGetTextDatum(call_outcome_name((Outcome) o));
	MemoryContextSwitchTo(rowcxt);

	for (int i = 0; i < b->nmsgs; i++)
	{
		Message    *m = &b->msgs[i];
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};

		/* the tuplestore copies the row: nothing of it has to outlive it */
		MemoryContextReset(rowcxt);
		values[0] = Int32GetDatum(m->ord);
		if (b->st->nkeys > 0)
			values[1] = JsonbPGetDatum(input_key_jsonb(b->st, m));
		else
			nulls[1] = true;
		values[2] = Int64GetDatum(m->seq);
		if (m->outcome < OUT_INSERTED || m->outcome > OUT_LAST)
			elog(ERROR, "failed to decide the outcome of record %d", m->ord);
		values[3] = outcomes[m->outcome];
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(rowcxt);
}

/* ----------------------------------------------------------------
 * SQL-callable functions
 * ---------------------------------------------------------------- */

typedef enum CallKind
{
	CALL_UPSERT_DATA,
	CALL_UPSERT_MESSAGES,
	CALL_DELETE
} CallKind;

/*
 * What every call that applies records does around the batch: lock the
 * target, connect SPI, pin search_path, open the cached table description.
 */
void
call_begin(CallSession *s, Oid relid, LOCKMODE lockmode, RightsNeed need)
{
	s->rel = catalog_open_target(relid, lockmode, need);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	s->guclevel = NewGUCNestLevel();	/* search_path is pinned before the first statement */
	s->caller_path = namespace_search_path ? pstrdup(namespace_search_path) : NULL;
	s->st = catalog_open(relid);
}

/*
 * Values are converted under the caller's search_path, as an INSERT would
 * convert them, whether or not a statement has pinned it already (reading
 * the registration does, on a cold cache; so does a chunk's writing before
 * the next chunk's records are converted again): the same record converts
 * the same way in every call.  Costs nothing when the path is the caller's.
 */
int
call_caller_path_begin(Batch *b)
{
	int			level = NewGUCNestLevel();

	if (b->caller_path != NULL &&
		(namespace_search_path == NULL || strcmp(namespace_search_path, b->caller_path) != 0))
		(void) set_config_option("search_path", b->caller_path, PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	return level;
}

void
call_caller_path_end(int level)
{
	AtEOXact_GUC(true, level);
}

void
call_end(CallSession *s)
{
	catalog_close(s->st);
	AtEOXact_GUC(true, s->guclevel);
	SPI_finish();
	table_close(s->rel, NoLock);
}

/* The first delete of a batch sent to an append-only table is an error. */
static void
call_check_deletes(Batch *b)
{
	bool		has_delete = false;

	for (int i = 0; i < b->nmsgs; i++)
	{
		if (b->msgs[i].action != MSG_DELETE)
			continue;
		if (b->st->nkeys == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("message %d is a delete, but table %s is append-only",
							b->msgs[i].ord, b->st->relname),
					 record_errtable(b->st)));
		has_delete = true;
	}
	if (has_delete && !b->st->soft_deletes)
		rights_check_write(b->st, true);
}

/*
 * Begin a call that applies records to relid: call_begin, then the rights
 * every such call needs (SELECT, INSERT, UPDATE; DELETE when deletes are
 * known to come and are hard), checked before any record is read, so that a
 * call whose messages all turn out stale fails the same way as one that
 * writes.
 */
void
call_begin_write(CallSession *s, Oid relid, bool deletes)
{
	call_begin(s, relid, RowExclusiveLock, RIGHTS_WRITE);
	rights_check_write(s->st, deletes && !s->st->soft_deletes);
}

/* A batch for the call's records, converted under the caller's search_path */
Batch *
call_new_batch(CallSession *s, int expected)
{
	Batch	   *b = input_new_batch(s->st, expected);

	b->caller_path = s->caller_path;
	return b;
}

/*
 * Apply the call's batch (apply.c), once every record was read: a delete
 * sent to an append-only table is refused, and a hard delete needs DELETE.
 */
void
call_apply(CallSession *s, Batch *b)
{
	call_check_deletes(b);
	apply_batch(b);
}

/*
 * The row type a function returning one composite row must build, as the
 * executor asks for it: 0A000 where the call gives it none (as PostgreSQL's
 * own record-returning functions say).
 */
TupleDesc
call_result_desc(FunctionCallInfo fcinfo)
{
	TupleDesc	desc;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("function returning record called in context that cannot accept type record")));
	return desc;
}

/*
 * InitMaterializedSRF, taking the result row type the executor already
 * expects when it gives one: looking it up again reads the function's
 * pg_proc row and builds a descriptor from its OUT arguments, a tenth of a
 * one-record call.
 */
void
call_init_srf(FunctionCallInfo fcinfo)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	bool		expected = rsinfo != NULL && IsA(rsinfo, ReturnSetInfo) && rsinfo->expectedDesc != NULL;

	InitMaterializedSRF(fcinfo, expected ? MAT_SRF_USE_EXPECTED_DESC : 0);
}

static Datum
run_call(FunctionCallInfo fcinfo, CallKind kind)
{
	CallSession s;
	Batch	   *b;
	Jsonb	   *input;
	int64		seq = 0;

	call_init_srf(fcinfo);
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("target must not be null")));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be null",
						kind == CALL_UPSERT_DATA ? "data" : kind == CALL_DELETE ? "keys" : "messages")));
	if (kind != CALL_UPSERT_MESSAGES)
	{
		if (PG_ARGISNULL(2))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the sequence must not be null"),
					 errhint("Pass the sequence of the records as the argument seq.")));
		seq = PG_GETARG_INT64(2);
	}
	input = PG_GETARG_JSONB_P(1);

	call_begin(&s, PG_GETARG_OID(0), RowExclusiveLock, RIGHTS_WRITE);
	if (kind == CALL_DELETE && s.st->nkeys == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("table %s is append-only: it takes no deletes", s.st->relname),
				 record_errtable(s.st)));
	rights_check_write(s.st, kind == CALL_DELETE && !s.st->soft_deletes);

	b = call_new_batch(&s, 16);
	{
		int			level = call_caller_path_begin(b);

		if (kind == CALL_UPSERT_MESSAGES)
			input_parse_messages(b, input);
		else
			input_parse_data(b, input, seq, kind == CALL_DELETE ? MSG_DELETE : MSG_UPSERT);
		call_caller_path_end(level);
	}
	call_apply(&s, b);
	call_emit(b, fcinfo);
	call_end(&s);
	return (Datum) 0;
}

Datum
sequenced_upsert_data(PG_FUNCTION_ARGS)
{
	return run_call(fcinfo, CALL_UPSERT_DATA);
}

Datum
sequenced_upsert_messages(PG_FUNCTION_ARGS)
{
	return run_call(fcinfo, CALL_UPSERT_MESSAGES);
}

Datum
sequenced_delete(PG_FUNCTION_ARGS)
{
	return run_call(fcinfo, CALL_DELETE);
}
