/*-------------------------------------------------------------------------
 *
 * changes.c
 *		sequenced_changes: the changes feed of a registered table.
 *
 * Every change pg_sequenced applies stamps the key's state row with a
 * position: (id of the applying transaction << 24) | counter (catalog.c).
 * Registration stamps the rows already there with 1, 2, ..., below any
 * later position.  The feed returns, in position order, the current state
 * of every key whose position is above `after`.
 *
 * Why a consumer that resumes from the last position it saw never misses a
 * change: the feed hands out only positions below a watermark, computed
 * before the snapshot it reads with is taken; positions.c has the proof.
 *
 * The read is two index-backed statements: positions above `after` from the
 * state table (as the extension's owner; LIMIT max_rows), then the current
 * rows of those keys from the target (as the caller, so privileges and
 * row-level security apply: a live key whose row the caller cannot see is
 * left out).  It takes no lock that writers wait on.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "catalog/objectaddress.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "access/xact.h"
#include "utils/typcache.h"

#include "pg_sequenced.h"

PG_FUNCTION_INFO_V1(sequenced_changes);

/* positions one read takes at least when row-level security hides rows */
#define SEQ_FEED_READ 1000

typedef struct Change
{
	int64		pos;
	int64		seq;
	bool		seqnull;
	bool		deleted;
	Datum		key;			/* jsonb, or 0 */
	Datum		record;			/* jsonb, or 0 */
	Datum		staterow;		/* for the row lookup */
	Datum		tableoid;		/* append-only: where the row was inserted */
	ItemPointerData tid;
	bool		tidnull;
	bool		hidden;			/* append-only: row-level security hides it */
} Change;

static int
compare_row_ids(Change *c, Oid tableoid, ItemPointer tid)
{
	if (DatumGetObjectId(c->tableoid) != tableoid)
		return DatumGetObjectId(c->tableoid) < tableoid ? -1 : 1;
	return ItemPointerCompare(&c->tid, tid);
}

static int
sort_row_ids(const void *a, const void *b, void *arg)
{
	Change	   *changes = (Change *) arg;
	Change	   *cb = &changes[*(const int *) b];

	return compare_row_ids(&changes[*(const int *) a], DatumGetObjectId(cb->tableoid), &cb->tid);
}

/*
 * Mark the append-only changes whose rows the caller cannot see: the rows
 * are looked up by (tableoid, ctid) as the caller, so that row-level
 * security applies to them as to a SELECT, and must still hold what was
 * inserted (a change whose row was since updated, deleted or moved is left
 * out).
 */
static void
filter_visible_appends(SeqTable *st, Change *changes, uint64 n)
{
	Datum	   *oids = palloc(sizeof(Datum) * n);
	Datum	   *tids = palloc(sizeof(Datum) * n);
	Oid			argtypes[2] = {OIDARRAYOID, TIDARRAYOID};
	Datum		args[2];
	char	   *sql;
	int			m = 0;

	int		   *byrow = palloc(sizeof(int) * n);

	for (uint64 i = 0; i < n; i++)
	{
		changes[i].hidden = true;
		if (changes[i].tidnull)
			continue;
		oids[m] = changes[i].tableoid;
		tids[m] = PointerGetDatum(&changes[i].tid);
		byrow[m++] = i;
	}
	if (m == 0)
		return;
	qsort_arg(byrow, m, sizeof(int), sort_row_ids, changes);
	args[0] = PointerGetDatum(construct_array(oids, m, OIDOID, sizeof(Oid), true, TYPALIGN_INT));
	args[1] = PointerGetDatum(construct_array(tids, m, TIDOID, sizeof(ItemPointerData), false, TYPALIGN_SHORT));
	/*
	 * The row at that place must still be the row that was inserted: a
	 * place is reused (VACUUM frees it, VACUUM FULL and CLUSTER renumber
	 * rows), and another row found there is not the one this change is of.
	 */
	sql = psprintf("SELECT t.tableoid, t.ctid, pg_catalog.to_jsonb(t.*) FROM %s%s AS t "
				   "WHERE t.ctid OPERATOR(pg_catalog.=) ANY ($2) "
				   "AND t.tableoid OPERATOR(pg_catalog.=) ANY ($1)",
				   get_rel_relkind(st->relid) == RELKIND_PARTITIONED_TABLE ? "" : "ONLY ",
				   st->qualname);
	if (SPI_execute_with_args(sql, 2, argtypes, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "failed to read the rows of table %s", st->relname);
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		bool		isnull;
		Oid			toid = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull));
		ItemPointer tid = (ItemPointer) DatumGetPointer(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2, &isnull));

		uint64		lo = 0,
					hi = m;

		/* byrow[] is sorted by (tableoid, tid); a row is found once */
		while (lo < hi)
		{
			uint64		mid = (lo + hi) / 2;

			if (compare_row_ids(&changes[byrow[mid]], toid, tid) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo < (uint64) m && compare_row_ids(&changes[byrow[lo]], toid, tid) == 0)
		{
			bool		recnull;
			Datum		rec = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 3, &recnull);
			Change	   *c = &changes[byrow[lo]];

			if (!recnull && c->record != (Datum) 0 &&
				DatumGetBool(DirectFunctionCall2(jsonb_eq, rec, c->record)))
				c->hidden = false;
		}
	}
	SPI_freetuptable(SPI_tuptable);
}

/*
 * One read: the changes above `after` (at most max_rows of them when
 * limited), with their current rows, appended to the result until *emitted
 * reaches max_emit (when limited).  *last is the highest position passed
 * over.  True: the read was limited and took all it asked for, so more may
 * follow.  hidden_rls: row-level security applies to the caller, so a live
 * key whose row this caller cannot see is left out (it is no delete, and
 * its row is not theirs to see), where otherwise a key with no row is
 * reported gone.
 */
static bool
read_changes(ReturnSetInfo *rsinfo, SeqTable *st, int64 after, int64 watermark, bool limited,
			 int64 max_rows, int64 max_emit, bool hidden_rls, int64 *last, int64 *emitted)
{
	StringInfoData sql;
	Oid			argtypes[3] = {INT8OID, INT8OID, INT8OID};
	Datum		args[3];
	char		nulls[3] = {' ', ' ', ' '};
	Oid			save_userid;
	int			save_sec;
	Change	   *changes;
	uint64		n;
	MemoryContext callcxt = CurrentMemoryContext;

	/* 1. positions above `after` and below the watermark, as the owner */
	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT s.position, s.sequence, ");
	if (st->nkeys > 0)
		appendStringInfoString(&sql, "s.deleted, s");
	else
		appendStringInfoString(&sql, "false, s.record, s.row_table, s.row_tid");
	appendStringInfo(&sql, " FROM %s s WHERE s.position OPERATOR(pg_catalog.>) $1 "
					 "AND s.position OPERATOR(pg_catalog.<) $3 "
					 "ORDER BY s.position LIMIT $2", st->state_qualname);
	args[0] = Int64GetDatum(after);
	args[1] = Int64GetDatum(max_rows);
	args[2] = Int64GetDatum(watermark);
	if (!limited)
		nulls[1] = 'n';

	rights_begin_internal(&save_userid, &save_sec);
	if (SPI_execute_with_args(sql.data, 3, argtypes, args, nulls, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "failed to read the changes of table %s", st->relname);
	rights_end_internal(save_userid, save_sec);

	n = SPI_processed;
	changes = MemoryContextAllocZero(callcxt, sizeof(Change) * Max(n, 1));
	for (uint64 i = 0; i < n; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		Datum		d;
		MemoryContext old;

		changes[i].pos = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		d = SPI_getbinval(tup, desc, 2, &changes[i].seqnull);
		changes[i].seq = changes[i].seqnull ? 0 : DatumGetInt64(d);
		changes[i].deleted = DatumGetBool(SPI_getbinval(tup, desc, 3, &isnull));
		old = MemoryContextSwitchTo(callcxt);
		d = SPI_getbinval(tup, desc, 4, &isnull);
		if (st->nkeys == 0)
		{
			changes[i].record = isnull ? (Datum) 0 : PointerGetDatum(PG_DETOAST_DATUM_COPY(d));
			changes[i].tableoid = SPI_getbinval(tup, desc, 5, &isnull);
			d = SPI_getbinval(tup, desc, 6, &changes[i].tidnull);
			if (!changes[i].tidnull)
				changes[i].tid = *(ItemPointer) DatumGetPointer(d);
		}
		else
			changes[i].staterow = datumCopy(d, false, -1);
		MemoryContextSwitchTo(old);
	}
	SPI_freetuptable(SPI_tuptable);

	/*
	 * The keys, as JSON, built here as the caller: a cast to json of a key's
	 * type is its owner's code (catalog.c, "Rights").
	 */
	if (st->nkeys > 0 && n > 0)
	{
		TupleDesc	sdesc = lookup_rowtype_tupdesc(st->statetype, -1);
		HeapTupleData stup;
		Datum		keyvals[INDEX_MAX_KEYS];
		bool		isnull;

		for (uint64 i = 0; i < n; i++)
		{
			HeapTupleHeader th = DatumGetHeapTupleHeader(changes[i].staterow);

			stup.t_len = HeapTupleHeaderGetDatumLength(th);
			ItemPointerSetInvalid(&stup.t_self);
			stup.t_tableOid = InvalidOid;
			stup.t_data = th;
			for (int k = 0; k < st->nkeys; k++)
				keyvals[k] = heap_getattr(&stup, k + 1, sdesc, &isnull);
			changes[i].key = JsonbPGetDatum(input_keyvals_jsonb(st, keyvals));
		}
		ReleaseTupleDesc(sdesc);
	}

	/*
	 * Append-only rows under row-level security: only those the caller can
	 * see now, found again by their row version (a row since updated or
	 * moved by VACUUM FULL is not found, and left out).
	 */
	if (st->nkeys == 0 && n > 0 && hidden_rls)
		filter_visible_appends(st, changes, n);

	/* 2. the current rows of those keys, as the caller */
	if (st->nkeys > 0 && n > 0)
	{
		Datum	   *rows = MemoryContextAlloc(callcxt, sizeof(Datum) * n);
		ArrayType  *arr;
		Oid			argtype = st->statearraytype;
		Datum		arg;

		for (uint64 i = 0; i < n; i++)
			rows[i] = changes[i].staterow;
		arr = construct_array(rows, n, st->statetype, -1, false, TYPALIGN_DOUBLE);
		arg = PointerGetDatum(arr);
		resetStringInfo(&sql);
		appendStringInfo(&sql, "SELECT r.position, pg_catalog.to_jsonb(t.*) FROM pg_catalog.unnest($1) AS r "
						 "JOIN %s%s AS t ON ",
						 get_rel_relkind(st->relid) == RELKIND_PARTITIONED_TABLE ? "" : "ONLY ",
						 st->qualname);
		for (int k = 0; k < st->nkeys; k++)
			appendStringInfo(&sql, "%st.%s %s r.k%d", k ? " AND " : "",
							 quote_identifier(st->key_names[k]), st->keys[k].eqopr_sql, k + 1);
		if (SPI_execute_with_args(sql.data, 1, &argtype, &arg, NULL, true, 0) != SPI_OK_SELECT)
			elog(ERROR, "failed to read the rows of table %s", st->relname);
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			bool		isnull;
			int64		pos = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull));
			Datum		rec = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2, &isnull);
			uint64		lo = 0,
						hi = n;

			/* changes[] is in position order */
			while (lo < hi)
			{
				uint64		mid = (lo + hi) / 2;

				if (changes[mid].pos < pos)
					lo = mid + 1;
				else
					hi = mid;
			}
			if (lo < n && changes[lo].pos == pos && !isnull)
			{
				MemoryContext old = MemoryContextSwitchTo(callcxt);

				changes[lo].record = PointerGetDatum(PG_DETOAST_DATUM_COPY(rec));
				MemoryContextSwitchTo(old);
			}
		}
		SPI_freetuptable(SPI_tuptable);
	}

	for (uint64 i = 0; i < n; i++)
	{
		Datum		values[5];
		bool		isnull[5] = {false, false, false, false, false};
		bool		norow = st->nkeys > 0 && changes[i].record == (Datum) 0;

		if (limited && *emitted >= max_emit)
			return false;		/* what is left is read again from *last */
		*last = changes[i].pos;
		/*
		 * Under row-level security a key without a row the caller may see is
		 * left out: a live key whose row the policies hide is no delete, and
		 * a tombstone has no row for the policies to judge, so its key is not
		 * the caller's to see (README: use soft deletes with row security).
		 */
		if ((norow && hidden_rls) || changes[i].hidden)
			continue;
		values[0] = Int64GetDatum(changes[i].pos);
		values[1] = Int64GetDatum(changes[i].seq);
		isnull[1] = changes[i].seqnull;
		values[2] = changes[i].key;
		isnull[2] = changes[i].key == (Datum) 0;
		/* a key with no row (removed around the functions) is gone */
		values[3] = BoolGetDatum(changes[i].deleted || norow);
		values[4] = changes[i].record;
		isnull[4] = changes[i].record == (Datum) 0;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, isnull);
		(*emitted)++;
	}
	/* more may follow: this read took all it asked for */
	return limited && n == (uint64) max_rows;
}

Datum
sequenced_changes(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	CallSession s;
	SeqTable   *st;
	int64		after = PG_ARGISNULL(1) ? 0 : PG_GETARG_INT64(1);
	bool		limited = !PG_ARGISNULL(2);
	int32		max_rows = limited ? PG_GETARG_INT32(2) : 0;
	bool		hidden_rls;
	int64		emitted = 0;
	MemoryContext passcxt;
	int64		watermark;
	Watermark	wm;

	call_init_srf(fcinfo);
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("target must not be null")));
	if (limited && max_rows < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_rows must not be negative")));

	call_begin(&s, PG_GETARG_OID(0), AccessShareLock, RIGHTS_READ);
	rights_pin_path();
	rights_guc_planner();		/* the reads below are planned */

	/*
	 * The positions are read in order from their index and the read stops
	 * at max_rows: a bitmap scan and a sort (what the planner picks when
	 * it expects many rows above `after`) would read every change above
	 * `after` for each page a consumer asks for.
	 */
	(void) set_config_option("enable_bitmapscan", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("enable_sort", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	st = s.st;
	rights_check_read(st);
	hidden_rls = check_enable_rls(st->relid, InvalidOid, false) == RLS_ENABLED;

	/*
	 * The watermark first, then the snapshot every read of this call uses
	 * (positions.c): under READ COMMITTED a new one, which sees every
	 * transaction that ended before the watermark was computed.
	 */
	if (IsolationUsesXactSnapshot())
	{
		watermark = positions_watermark(st->staterelid, GetTransactionSnapshot(), &wm);
		PushActiveSnapshot(GetTransactionSnapshot());
	}
	else
	{
		watermark = positions_watermark(st->staterelid, NULL, &wm);
		PushActiveSnapshot(GetLatestSnapshot());
	}

	/*
	 * Changes left out for row-level security still count against a read's
	 * LIMIT, so read on from the last position passed over until max_rows
	 * changes are returned or none are left: a page of hidden rows must not
	 * read as the end of the feed to a consumer.  Such reads take at least
	 * SEQ_FEED_READ positions (a long run of hidden rows costs a statement
	 * pair per thousand, not per row) in a memory context of their own.
	 */
	passcxt = AllocSetContextCreate(CurrentMemoryContext, "pg_sequenced changes read",
									ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		int64		last = after;
		int64		want = limited ? max_rows - emitted : 0;
		MemoryContext old = MemoryContextSwitchTo(passcxt);
		bool		more;

		if (hidden_rls && limited)
			want = Max(want, SEQ_FEED_READ);
		more = read_changes(rsinfo, st, after, watermark, limited, want, max_rows, hidden_rls, &last, &emitted);
		MemoryContextSwitchTo(old);
		MemoryContextReset(passcxt);
		if (!more || emitted >= max_rows)
			break;
		after = last;
		CHECK_FOR_INTERRUPTS();
	}
	MemoryContextDelete(passcxt);
	PopActiveSnapshot();
	call_end(&s);
	PG_RETURN_NULL();
}
