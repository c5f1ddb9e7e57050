/*-------------------------------------------------------------------------
 *
 * rescan.c
 *		sequenced_delete_missing: after a full snapshot taken at sequence S
 *		was applied, delete every key it did not contain (SPEC section 6) --
 *		behind a circuit breaker.  And sequenced_delete_missing_count, the
 *		same count without deleting (what the breaker would see; the proxy
 *		sums it over shards before any shard deletes).
 *
 * A key is missing when it has a live row (not soft-deleted) whose stored
 * sequence -- the higher of its row's and its key state row's -- is below
 * S: the snapshot did not send it, and no message at S or newer touched it
 * since.  Deleting it is exactly what a delete message at S for that key
 * would do, so that is what is done: the missing keys become a batch of
 * delete messages at S, applied by the one pipeline every call uses
 * (apply.c) -- hard or soft, tombstone, change position, max_sequence,
 * history -- with the one difference that a tie is never applied (a key
 * whose stored sequence reached S between the count and its lock stays,
 * whatever on_equal says, and raises nothing).
 *
 * Why it never deletes what it must not: the pipeline locks each key in
 * the one global key order (as every call does: no deadlock with them) and
 * decides again under the lock, against the latest committed state; a key
 * a message at S or newer touched meanwhile is then stale and stays -- and
 * gets no history version either (b->stale_unversioned): it is not missing,
 * so the rescan says nothing about it (a stale message a source sent is a
 * version; a key that was missing only before its lock is no message).
 *
 * The breaker: live (keys with a live row) and missing are counted over
 * the same rows first (within scope, as the caller sees them: row-level
 * security applies); when missing > max_fraction * live nothing is deleted
 * and the call fails with 54000.  A snapshot that sent nothing has every
 * key missing: it trips unless max_fraction >= 1.
 *
 * What it reads: on a table whose every key has a key state row (catalog.c:
 * not sparse), the key state alone, in C, when the scope names only key
 * columns and row-level security does not limit the caller; else the live
 * rows within scope by one statement as the caller (privileges and
 * row-level security apply, as to a SELECT of theirs; the scope compared
 * with each column type's own equality operator, so an index serves), and
 * for each such row its key state row, in C through the key state's index.
 * On a sparse table the rows are the key state (statetable.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "utils/sortsupport.h"
#include "utils/typcache.h"
#include "utils/rls.h"
#include "catalog/pg_index.h"
#include "access/genam.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/float.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "utils/acl.h"
#include "utils/syscache.h"
#include "catalog/objectaddress.h"
#include "pg_sequenced.h"

PG_FUNCTION_INFO_V1(sequenced_delete_missing);
PG_FUNCTION_INFO_V1(sequenced_delete_missing_count);

typedef struct Missing
{
	int64		live;
	int64		missing;
	Batch	   *b;				/* a delete message at S per missing key */
} Missing;

/* A missing key: a delete message at seq for it, into b */
static void
add_missing(Batch *b, SeqTable *st, Datum *keyvals, int64 seq)
{
	MemoryContext old = MemoryContextSwitchTo(b->mcxt);
	Message    *m = input_add_message(b);

	m->action = MSG_DELETE;
	m->seq = seq;
	for (int k = 0; k < st->nkeys; k++)
	{
		SeqColumn  *c = &st->cols[st->keys[k].attnum - 1];
		int			a = st->keys[k].attnum - 1;

		m->values[a] = datumCopy(keyvals[k], c->typbyval, c->typlen);
		MSG_ISNULL(m, st->natts)[a] = false;
		MSG_PRESENT(m, st->natts)[a] = true;
	}
	MemoryContextSwitchTo(old);
}

/*
 * The key state alone (a table whose every key has a key state row, a
 * scope on key columns only, no row security for the caller): read in C,
 * straight from its heap -- the key columns compared with the key index's
 * own equality (operator classes only superusers make), no statement (one
 * would need the internal schema, and plan with the key types' estimators)
 */
static void
find_missing_in_state(SeqTable *st, Batch *b, Message *sm, int64 seq, Snapshot snap, Missing *res)
{
	Relation	srel = table_open(st->staterelid, AccessShareLock);
	TupleTableSlot *slot = table_slot_create(srel, NULL);
	TableScanDesc scan = table_beginscan(srel, snap, 0, NULL);
	MemoryContext rowcxt = AllocSetContextCreate(CurrentMemoryContext, "pg_sequenced rescan",
												 ALLOCSET_DEFAULT_SIZES);

	while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		MemoryContext old = MemoryContextSwitchTo(rowcxt);
		Datum		keyvals[INDEX_MAX_KEYS];
		bool		seqnull;
		int64		stored;
		bool		in_scope = true;

		CHECK_FOR_INTERRUPTS();
		slot_getallattrs(slot);
		/* k1..kn, sequence, position, deleted */
		if (DatumGetBool(slot->tts_values[st->nkeys + 2]))
		{
			MemoryContextSwitchTo(old);
			continue;			/* a tombstone (or a soft-deleted row): not live */
		}
		for (int k = 0; k < st->nkeys; k++)
		{
			int			a = st->keys[k].attnum - 1;

			keyvals[k] = slot->tts_values[k];
			if (sm != NULL && MSG_PRESENT(sm, st->natts)[a])
				in_scope = in_scope && !MSG_ISNULL(sm, st->natts)[a] &&
					DatumGetBool(FunctionCall2Coll(&st->keys[k].eqproc, st->keys[k].ssup.ssup_collation,
												   keyvals[k], sm->values[a]));
		}
		if (in_scope)
		{
			res->live++;
			stored = DatumGetInt64(slot_getattr(slot, st->nkeys + 1, &seqnull));
			if (seqnull || stored < seq)
			{
				add_missing(b, st, keyvals, seq);
				res->missing++;
			}
		}
		MemoryContextSwitchTo(old);
		MemoryContextReset(rowcxt);
	}
	table_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	table_close(srel, NoLock);
	MemoryContextDelete(rowcxt);
}

/*
 * The live rows within scope, as the caller sees them, and among them the
 * missing keys: into res->b as delete messages at seq.
 */
static void
find_missing(CallSession *s, int64 seq, Jsonb *scope, Missing *res)
{
	SeqTable   *st = s->st;
	Batch	   *b = call_new_batch(s, 64);
	Message    *sm = NULL;
	Message		scope_msg;
	StringInfoData sql;
	Oid		   *argtypes = palloc(sizeof(Oid) * Max(st->natts, 1));
	Datum	   *args = palloc(sizeof(Datum) * Max(st->natts, 1));
	int			nargs = 0;
	bool		where = false;
	Portal		portal;
	StateProbe	p;
	Snapshot	snap;
	bool		from_state;

	res->live = res->missing = 0;
	res->b = b;

	/* the scope, converted as record values are */
	if (scope != NULL)
	{
		int			level = call_caller_path_begin(b);

		sm = input_add_message(b);
		input_parse_object(b, sm, scope, "scope");
		call_caller_path_end(level);

		/*
		 * Not a message to apply: its slot in b->msgs goes to the first
		 * missing key (which add_missing clears), so keep a copy of it (its
		 * values stay where they are, in the batch's memory).
		 */
		scope_msg = *sm;
		sm = &scope_msg;
		b->nmsgs = 0;
	}

	/*
	 * Where the stored sequences are: a table whose every key has a key
	 * state row (catalog.c: not sparse) is read there alone -- unless the
	 * scope names a column outside the key, or row-level security limits
	 * the caller, who then sees what the target's rows say.  A sparse
	 * table's rows are its key state.
	 */
	from_state = !st->sparse && check_enable_rls(st->relid, InvalidOid, true) != RLS_ENABLED;
	for (int i = 0; from_state && sm != NULL && i < st->natts; i++)
		if (MSG_PRESENT(sm, st->natts)[i] && st->cols[i].keyno < 0)
			from_state = false;

	if (from_state)
	{
		CommandCounterIncrement();
		snap = GetTransactionSnapshot();
		PushActiveSnapshot(snap);
		find_missing_in_state(st, b, sm, seq, GetActiveSnapshot(), res);
		PopActiveSnapshot();
		return;
	}

	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT ");
	{
		for (int k = 0; k < st->nkeys; k++)
			appendStringInfo(&sql, "t.%s, ", quote_identifier(st->cols[st->keys[k].attnum - 1].name));
		appendStringInfo(&sql, "t.%s FROM %s AS t", quote_identifier(st->cols[st->seqatt - 1].name),
						 target_from_clause(st));
		if (st->delatt != InvalidAttrNumber)
		{
			appendStringInfo(&sql, " WHERE t.%s IS NULL", quote_identifier(SEQ_DELETED_AT_COLUMN));
			where = true;
		}
	}
	for (int i = 0; sm != NULL && i < st->natts; i++)
	{
		SeqColumn  *c = &st->cols[i];
		char	   *col = psprintf("t.%s", quote_identifier(c->name));

		if (!MSG_PRESENT(sm, st->natts)[i])
			continue;
		appendStringInfoString(&sql, where ? " AND " : " WHERE ");
		where = true;
		if (MSG_ISNULL(sm, st->natts)[i])
			appendStringInfo(&sql, "%s IS NULL", col);
		else
		{
			/* the type's own equality, so that an index on the column serves */
			Oid			eqopr = c->keyno >= 0 ? st->keys[c->keyno].eqopr :
				lookup_type_cache(c->typid, TYPECACHE_EQ_OPR)->eq_opr;

			if (!OidIsValid(eqopr))
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_FUNCTION),
						 errmsg("scope names column \"%s\", whose type %s has no equality operator",
								c->name, format_type_be(c->typid)),
						 record_errcolumn(st, c->name)));
			argtypes[nargs] = c->typid;
			args[nargs] = sm->values[i];
			nargs++;
			appendStringInfo(&sql, "%s %s $%d", col, catalog_qualified_operator(eqopr), nargs);
		}
	}

	/*
	 * The rows, as the caller, then each key's key state row, in C
	 */
	CommandCounterIncrement();
	snap = GetTransactionSnapshot();
	PushActiveSnapshot(snap);
	stateprobe_begin(&p, st, false, GetActiveSnapshot());
	rights_pin_path();
	portal = SPI_cursor_open_with_args(NULL, sql.data, nargs, argtypes, args, NULL, true, 0);
	for (;;)
	{
		SPI_cursor_fetch(portal, true, 10000);
		if (SPI_processed == 0)
			break;
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			HeapTuple	tup = SPI_tuptable->vals[r];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			Datum		keyvals[INDEX_MAX_KEYS];
			bool		isnull;
			bool		seqnull;
			int64		stored;
			Datum		d;
			KeyFound	kf;

			CHECK_FOR_INTERRUPTS();
			res->live++;
			for (int k = 0; k < st->nkeys; k++)
				keyvals[k] = SPI_getbinval(tup, desc, k + 1, &isnull);
			d = SPI_getbinval(tup, desc, st->nkeys + 1, &seqnull);
			stored = seqnull ? PG_INT64_MIN : DatumGetInt64(d);
			stateprobe_get(&p, keyvals, &kf);
			ExecClearTuple(p.sslot);
			if (kf.sfound && !kf.sseqnull && kf.sseq > stored)
				stored = kf.sseq;
			if (stored >= seq)
				continue;
			add_missing(b, st, keyvals, seq);
			res->missing++;
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	stateprobe_end(&p);
	PopActiveSnapshot();
}

/* The key index's order: its columns in its order, each ascending or not */
typedef struct IndexOrder
{
	Batch	   *b;
	bool		desc[INDEX_MAX_KEYS];
} IndexOrder;

static int
compare_keys(const void *a, const void *b, void *arg)
{
	IndexOrder *io = (IndexOrder *) arg;
	SeqTable   *st = io->b->st;
	Datum	   *va = io->b->msgs[*(const int *) a].values;
	Datum	   *vb = io->b->msgs[*(const int *) b].values;

	for (int c = 0; c < st->nkeys; c++)
	{
		SeqKey	   *key = &st->ikeys[c];
		int			cmp = ApplySortComparator(va[key->attnum - 1], false,
											  vb[key->attnum - 1], false, &key->ssup);

		if (cmp != 0)
			return io->desc[c] ? -cmp : cmp;
	}
	return 0;
}

/* the arguments, checked; *max_fraction < 0: no limit */
static void
read_args(FunctionCallInfo fcinfo, bool with_fraction, int64 *seq, float8 *max_fraction, Jsonb **scope)
{
	int			scopearg = with_fraction ? 3 : 2;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("target must not be null")));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the sequence must not be null"),
				 errhint("Pass the sequence the snapshot was taken at as the argument seq.")));
	*seq = PG_GETARG_INT64(1);
	*max_fraction = -1;
	if (with_fraction && !PG_ARGISNULL(2))
	{
		*max_fraction = PG_GETARG_FLOAT8(2);
		if (isnan(*max_fraction) || *max_fraction < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("max_fraction must be a number of at least 0, or NULL for no limit")));
	}
	*scope = PG_NARGS() > scopearg && !PG_ARGISNULL(scopearg) ? PG_GETARG_JSONB_P(scopearg) : NULL;
}

/* Open the call: the rights are SELECT, and DELETE (hard) or UPDATE (soft) */
static void
begin(CallSession *s, FunctionCallInfo fcinfo, bool deleting)
{
	SeqTable   *st;
	Oid			relid = PG_GETARG_OID(0);

	/* (the rights before the lock, as LOCK checks them: rights_precheck) */
	call_begin(s, relid, deleting ? RowExclusiveLock : AccessShareLock,
			   deleting ? RIGHTS_DELETE_MISSING : RIGHTS_READ);
	st = s->st;
	if (st->nkeys == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("table %s is append-only: it has no keys to delete", st->relname),
				 record_errtable(st)));
	rights_check_read(st);
	if (deleting)
		rights_check_delete(st);
}

Datum
sequenced_delete_missing(PG_FUNCTION_ARGS)
{
	CallSession s;
	int64		seq;
	float8		max_fraction;
	Jsonb	   *scope;
	Missing		res;
	int			saved_on_equal;
	bool		saved_per_table;
	Batch	   *b;

	call_init_srf(fcinfo);
	read_args(fcinfo, true, &seq, &max_fraction, &scope);
	begin(&s, fcinfo, true);
	input_check_seq_arg(s.st, seq);
	find_missing(&s, seq, scope, &res);
	if (max_fraction >= 0 && (float8) res.missing > max_fraction * (float8) res.live)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("sequenced_delete_missing would delete too large a part of table %s",
						s.st->relname),
				 errdetail("%lld of %lld live keys were not sent at sequence %lld or later; max_fraction allows %g of them.",
						   (long long) res.missing, (long long) res.live, (long long) seq,
						   max_fraction * (float8) res.live),
				 errhint("If the snapshot was complete, call it again with a larger max_fraction (or NULL for no limit)."),
				 record_errtable(s.st)));

	/*
	 * Apply the deletes.  A tie is never applied (see the top of this
	 * file): for this batch, on_equal is 'keep'.
	 */
	b = res.b;
	b->stale_unversioned = true;
	saved_on_equal = s.st->on_equal;
	saved_per_table = s.st->per_table;
	s.st->on_equal = ON_EQUAL_KEEP;
	s.st->per_table = false;	/* (the snapshot itself raised max_sequence to S) */
	PG_TRY();
	{
		if (b->nmsgs > 0)
			apply_batch(b);		/* (the rights were checked: begin()) */
	}
	PG_FINALLY();
	{
		s.st->on_equal = saved_on_equal;
		s.st->per_table = saved_per_table;
	}
	PG_END_TRY();

	/* one row per deleted key, in key order, numbered from 1 */
	{
		ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
		int		   *order = palloc(sizeof(int) * Max(b->nmsgs, 1));
		int			n = 0;
		int			ord = 0;
		IndexOrder	io;
		Relation	irel = index_open(s.st->keyindexid, AccessShareLock);

		for (int i = 0; i < b->nmsgs; i++)
			if (b->msgs[i].outcome == OUT_DELETED)
				order[n++] = i;
		io.b = b;
		for (int c = 0; c < s.st->nkeys; c++)
			io.desc[c] = (irel->rd_indoption[c] & INDOPTION_DESC) != 0;
		index_close(irel, AccessShareLock);
		qsort_arg(order, n, sizeof(int), compare_keys, &io);
		for (int i = 0; i < n; i++)
		{
			Message    *m = &b->msgs[order[i]];
			Datum		values[4];
			bool		nulls[4] = {false, false, false, false};

			values[0] = Int32GetDatum(++ord);
			values[1] = JsonbPGetDatum(input_key_jsonb(s.st, m));
			values[2] = Int64GetDatum(m->seq);
			values[3] = CStringGetTextDatum("deleted");
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	}
	call_end(&s);
	return (Datum) 0;
}

Datum
sequenced_delete_missing_count(PG_FUNCTION_ARGS)
{
	CallSession s;
	int64		seq;
	float8		max_fraction;
	Jsonb	   *scope;
	Missing		res;
	TupleDesc	desc;
	Datum		values[2];
	bool		nulls[2] = {false, false};

	desc = call_result_desc(fcinfo);
	read_args(fcinfo, false, &seq, &max_fraction, &scope);
	begin(&s, fcinfo, false);
	input_check_seq_arg(s.st, seq);
	find_missing(&s, seq, scope, &res);
	values[0] = Int64GetDatum(res.live);
	values[1] = Int64GetDatum(res.missing);
	call_end(&s);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}
