/*-------------------------------------------------------------------------
 *
 * target.c
 *		Writing the target table: the accepted messages of a chunk, as the
 *		caller, and what the target refused (the fix-up).
 *
 * Upserts go straight into the target's heap and indexes (direct_upserts)
 * when nothing else would run: no INSERT/UPDATE trigger (which includes
 * foreign keys), rule, row-level security, generated or non-key identity
 * column, deferrable unique index, partitioning, serializable transaction,
 * and the caller holds INSERT, UPDATE and SELECT on the whole table.  Each
 * key's row is looked up by the target's key index and updated if older (the
 * key kept as stored); a key without a row is inserted as INSERT ... ON
 * CONFLICT DO NOTHING inserts (the dirty pre-check, which waits for an
 * uncommitted insert of the key, then a speculative insertion), so an insert
 * around the functions racing the call is found and decided against, never
 * a unique violation; with ExecConstraints and ExecInsertIndexTuples as the
 * executor would, and UPDATE's recheck after a concurrent writer.
 *
 * Otherwise, and for deletes, statements with generic cached plans: one
 * UPDATE ... FROM unnest($1) for rows that exist, one INSERT ... ON
 * CONFLICT DO NOTHING for new keys, one DELETE (or soft-delete UPDATE),
 * each guarded by the row's own sequence, so that a newer row written
 * around the functions is never overwritten.
 *
 * Either way, a constraint error names its record (blame.c), and an
 * accepted message the target refused is stale, its key state taking the
 * row's sequence (fixup).  Append-only tables: every message is inserted.
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
#include "catalog/pg_index.h"
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

/* ----------------------------------------------------------------
 * SQL generation
 * ---------------------------------------------------------------- */

const char *
target_from_clause(SeqTable *st)
{
	return get_rel_relkind(st->relid) == RELKIND_PARTITIONED_TABLE ?
		st->qualname : psprintf("ONLY %s", st->qualname);
}

/* t.k1 = r.k1 AND ... over the target's key columns */
void
target_append_keymatch(StringInfo s, SeqTable *st, const char *l, const char *r)
{
	for (int k = 0; k < st->nkeys; k++)
	{
		const char *name = quote_identifier(st->key_names[k]);

		appendStringInfo(s, "%s%s.%s %s %s.%s", k ? " AND " : "", l, name,
						 st->keys[k].eqopr_sql, r, name);
	}
}

void
target_append_state_keymatch(StringInfo s, SeqTable *st, const char *l, const char *r)
{
	for (int k = 0; k < st->nkeys; k++)
		appendStringInfo(s, "%s%s.k%d %s %s.k%d", k ? " AND " : "", l, k + 1,
						 st->keys[k].eqopr_sql, r, k + 1);
}

void
target_append_key_list(StringInfo s, SeqTable *st, const char *alias)
{
	for (int k = 0; k < st->nkeys; k++)
		appendStringInfo(s, "%s%s.%s", k ? ", " : "", alias, quote_identifier(st->key_names[k]));
}

/* A column the apply statements write: not dropped, generated or a non-key identity */
bool
target_col_written(SeqColumn *c)
{
	return !c->dropped && !c->generated && !(c->identity && c->keyno < 0);
}

static const char *
older_guard(SeqTable *st, const char *t, const char *r)
{
	const char *seq = quote_identifier(st->cols[st->seqatt - 1].name);

	return psprintf("(%s.%s IS NULL OR %s.%s OPERATOR(pg_catalog.%s) %s.%s)",
					t, seq, t, seq, st->on_equal == ON_EQUAL_REPLACE ? "<=" : "<", r, seq);
}

static SPIPlanPtr
prepare_plan_n(SPIPlanPtr *slot, const char *sql, int nargs, Oid *argtypes)
{
	rights_pin_path();
	if (*slot == NULL)
	{
		/*
		 * A generic plan: the batch arrives as one array parameter, so a
		 * custom plan would only re-plan every call for nothing.
		 */
		SPIPlanPtr	p = SPI_prepare_cursor(sql, nargs, argtypes, CURSOR_OPT_GENERIC_PLAN);

		if (p == NULL)
			elog(ERROR, "failed to prepare \"%s\": %s", sql, SPI_result_code_string(SPI_result));
		if (SPI_keepplan(p) != 0)
			elog(ERROR, "SPI_keepplan failed");
		*slot = p;
	}
	return *slot;
}

SPIPlanPtr
target_prepare_plan(SPIPlanPtr *slot, const char *sql, Oid argtype)
{
	return prepare_plan_n(slot, sql, 1, &argtype);
}

static SPIPlanPtr
plan_update(SeqTable *st)
{
	StringInfoData s;
	bool		first = true;

	if (st->plan_update)
		return st->plan_update;
	initStringInfo(&s);
	appendStringInfo(&s, "UPDATE %s AS t SET ", target_from_clause(st));
	for (int i = 0; i < st->natts; i++)
	{
		SeqColumn  *c = &st->cols[i];

		if (!target_col_written(c) || c->keyno >= 0)
			continue;
		appendStringInfo(&s, "%s%s = r.%s", first ? "" : ", ",
						 quote_identifier(c->name), quote_identifier(c->name));
		first = false;
	}
	appendStringInfoString(&s, " FROM pg_catalog.unnest($1) AS r WHERE ");
	target_append_keymatch(&s, st, "t", "r");
	appendStringInfo(&s, " AND %s RETURNING ", older_guard(st, "t", "r"));
	target_append_key_list(&s, st, "r");
	return target_prepare_plan(&st->plan_update, s.data, st->relarraytype);
}

static void
append_insert(StringInfo s, SeqTable *st)
{
	bool		first = true;

	appendStringInfo(s, "INSERT INTO %s AS t (", st->qualname);
	for (int i = 0; i < st->natts; i++)
	{
		if (!target_col_written(&st->cols[i]))
			continue;
		appendStringInfo(s, "%s%s", first ? "" : ", ", quote_identifier(st->cols[i].name));
		first = false;
	}
	appendStringInfoString(s, ") SELECT ");
	first = true;
	for (int i = 0; i < st->natts; i++)
	{
		if (!target_col_written(&st->cols[i]))
			continue;
		appendStringInfo(s, "%sr.%s", first ? "" : ", ", quote_identifier(st->cols[i].name));
		first = false;
	}
	appendStringInfoString(s, " FROM pg_catalog.unnest($1) AS r");
}

static SPIPlanPtr
plan_insert(SeqTable *st)
{
	StringInfoData s;

	if (st->plan_insert)
		return st->plan_insert;
	initStringInfo(&s);
	append_insert(&s, st);
	appendStringInfoString(&s, " ON CONFLICT (");
	for (int k = 0; k < st->nkeys; k++)
		appendStringInfo(&s, "%s%s", k ? ", " : "", quote_identifier(st->key_names[k]));
	appendStringInfoString(&s, ") DO NOTHING RETURNING ");
	target_append_key_list(&s, st, "t");
	return target_prepare_plan(&st->plan_insert, s.data, st->relarraytype);
}

static SPIPlanPtr
plan_delete(SeqTable *st)
{
	StringInfoData s;

	if (st->soft_deletes ? st->plan_softdelete != NULL : st->plan_delete != NULL)
		return st->soft_deletes ? st->plan_softdelete : st->plan_delete;
	initStringInfo(&s);
	if (st->soft_deletes)
	{
		const char *seq = quote_identifier(st->cols[st->seqatt - 1].name);

		appendStringInfo(&s, "UPDATE %s AS t SET %s = r.%s, %s = pg_catalog.now() "
						 "FROM pg_catalog.unnest($1) AS r WHERE ",
						 target_from_clause(st), seq, seq, quote_identifier(SEQ_DELETED_AT_COLUMN));
	}
	else
		appendStringInfo(&s, "DELETE FROM %s AS t USING pg_catalog.unnest($1) AS r WHERE ",
						 target_from_clause(st));
	target_append_keymatch(&s, st, "t", "r");
	appendStringInfo(&s, " AND %s RETURNING ", older_guard(st, "t", "r"));
	target_append_key_list(&s, st, "r");
	return target_prepare_plan(st->soft_deletes ? &st->plan_softdelete : &st->plan_delete,
						s.data, st->relarraytype);
}

static SPIPlanPtr
plan_fixup_read(SeqTable *st)
{
	StringInfoData s;

	if (st->plan_fixup_read)
		return st->plan_fixup_read;
	initStringInfo(&s);
	appendStringInfoString(&s, "SELECT ");
	target_append_key_list(&s, st, "t");
	appendStringInfo(&s, ", t.%s, %s FROM pg_catalog.unnest($1) AS r JOIN %s AS t ON ",
					 quote_identifier(st->cols[st->seqatt - 1].name),
					 st->delatt ? psprintf("t.%s IS NOT NULL", quote_identifier(SEQ_DELETED_AT_COLUMN)) : "false",
					 target_from_clause(st));
	target_append_keymatch(&s, st, "t", "r");
	return target_prepare_plan(&st->plan_fixup_read, s.data, st->relarraytype);
}

static SPIPlanPtr
plan_fixup_state(SeqTable *st)
{
	StringInfoData s;

	if (st->plan_fixup_state)
		return st->plan_fixup_state;
	initStringInfo(&s);
	appendStringInfo(&s, "UPDATE %s AS s SET sequence = r.sequence, deleted = r.deleted "
					 "FROM pg_catalog.unnest($1) AS r WHERE ", st->state_qualname);
	target_append_state_keymatch(&s, st, "s", "r");
	return target_prepare_plan(&st->plan_fixup_state, s.data, st->statearraytype);
}

/* ----------------------------------------------------------------
 * building rows
 * ---------------------------------------------------------------- */

void
target_defaults_init(DefaultState *ds, SeqTable *st)
{
	Relation	rel;

	if (ds->ready)
		return;
	ds->estate = CreateExecutorState();
	ds->econtext = GetPerTupleExprContext(ds->estate);
	ds->exprs = palloc0(sizeof(ExprState *) * st->natts);
	ds->volatile_default = palloc0(sizeof(bool) * st->natts);
	rel = relation_open(st->relid, NoLock);
	for (int i = 0; i < st->natts; i++)
	{
		SeqColumn  *c = &st->cols[i];
		Node	   *expr;

		if (!target_col_written(c) || !c->has_default || c->guard != COLGUARD_NONE)
			continue;
		expr = build_column_default(rel, i + 1);
		if (expr)
		{
			ds->volatile_default[i] = contain_volatile_functions(expr);
			ds->exprs[i] = ExecPrepareExpr((Expr *) expr, ds->estate);
		}
	}
	relation_close(rel, NoLock);
	ds->ready = true;
}

void
target_defaults_done(DefaultState *ds)
{
	if (ds->ready)
		FreeExecutorState(ds->estate);
}

/*
 * The target row for an accepted upsert: the record's values, DEFAULT for
 * the columns it omits (the message is the whole record), its sequence, and
 * no soft-delete mark.
 */
void
target_values(Batch *b, Message *m, TupleDesc desc, DefaultState *ds, bool keys_only,
			  Datum *values, bool *nulls)
{
	SeqTable   *st = b->st;

	for (int i = 0; i < st->natts; i++)
	{
		SeqColumn  *c = &st->cols[i];

		values[i] = (Datum) 0;
		nulls[i] = true;
		if (c->dropped)
			continue;
		if (i == st->seqatt - 1)
		{
			values[i] = Int64GetDatum(m->seq);
			nulls[i] = false;
		}
		else if (keys_only && c->keyno < 0)
			continue;
		else if ((c->guard != COLGUARD_NONE && c->guard != COLGUARD_EXTRA) || !target_col_written(c))
			continue;
		else if (MSG_PRESENT(m, st->natts)[i])
		{
			values[i] = m->values[i];
			nulls[i] = MSG_ISNULL(m, st->natts)[i];
		}
		else if (c->has_default)
		{
			target_defaults_init(ds, st);
			if (ds->exprs[i] && !(ds->skip_volatile && ds->volatile_default[i]))
			{
				bool		isnull;
				Datum		d;
				RecordAt	was = record_context_now();

				record_context_at(m->ord, c->name);
				d = ExecEvalExprSwitchContext(ds->exprs[i], ds->econtext, &isnull);
				record_context_back(was);
				nulls[i] = isnull;
				if (!isnull)
				{
					Form_pg_attribute att = TupleDescAttr(desc, i);

					values[i] = datumCopy(d, att->attbyval, att->attlen);
				}
				ResetExprContext(ds->econtext);
			}
		}
	}
}

Datum
target_row_datum(Batch *b, Message *m, TupleDesc desc, DefaultState *ds, bool keys_only)
{
	SeqTable   *st = b->st;
	Datum	   *values = palloc(sizeof(Datum) * st->natts);
	bool	   *nulls = palloc(sizeof(bool) * st->natts);
	HeapTuple	tup;

	target_values(b, m, desc, ds, keys_only, values, nulls);
	/* the descriptor is the type cache's own: it stamps type and version */
	tup = heap_form_tuple(desc, values, nulls);
	pfree(values);
	pfree(nulls);
	return HeapTupleGetDatum(tup);
}

static Datum
state_row(SeqTable *st, TupleDesc sdesc, Message *m, int64 seq, bool seqnull, bool deleted)
{
	Datum	   *values = palloc(sizeof(Datum) * sdesc->natts);
	bool	   *nulls = palloc0(sizeof(bool) * sdesc->natts);
	HeapTuple	tup;

	for (int k = 0; k < st->nkeys; k++)
		values[k] = m->values[st->keys[k].attnum - 1];
	values[st->nkeys] = Int64GetDatum(seq);
	nulls[st->nkeys] = seqnull;
	values[st->nkeys + 1] = Int64GetDatum(m->pos);
	values[st->nkeys + 2] = BoolGetDatum(deleted);
	tup = heap_form_tuple(sdesc, values, nulls);
	return HeapTupleGetDatum(tup);
}

Datum
target_make_array(Datum *elems, int n, Oid elemtype)
{
	return PointerGetDatum(construct_array(elems, n, elemtype, -1, false, TYPALIGN_DOUBLE));
}

int
target_exec_plan(SPIPlanPtr plan, Datum arg, int expected)
{
	Datum		args[1] = {arg};
	int			rc;

	rights_pin_path();
	/* the previous statement's result has been read: free it now, not at SPI_finish */
	SPI_freetuptable(SPI_tuptable);
	rc = SPI_execute_plan(plan, args, NULL, false, 0);

	if (rc != expected)
		elog(ERROR, "pg_sequenced statement failed: %s", SPI_result_code_string(rc));
	return rc;
}

/* ----------------------------------------------------------------
 * locating messages by key or position
 * ---------------------------------------------------------------- */

/* cand[] holds message indexes in key order; find the one with this key */
Message *
target_find_by_key(Batch *b, int *cand, int ncand, Datum *keyvals)
{
	SeqTable   *st = b->st;
	int			lo = 0,
				hi = ncand - 1;
	Datum	   *probe = palloc0(sizeof(Datum) * st->natts);

	for (int k = 0; k < st->nkeys; k++)
		probe[st->keys[k].attnum - 1] = keyvals[k];
	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;
		Message    *m = &b->msgs[cand[mid]];
		int			cmp = dedup_compare_keys(st, m->values, probe);

		if (cmp == 0)
		{
			pfree(probe);
			return m;
		}
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	elog(ERROR, "pg_sequenced: a returned key matches no message");
	return NULL;
}

/* Mark each message whose key the last statement returned (columns 1..nkeys) */
static void
mark_returned(Batch *b, int *cand, int ncand, Outcome outcome)
{
	SeqTable   *st = b->st;
	Datum	   *keyvals = palloc(sizeof(Datum) * st->nkeys);

	for (uint64 r = 0; r < SPI_processed; r++)
	{
		bool		isnull;

		for (int k = 0; k < st->nkeys; k++)
			keyvals[k] = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, k + 1, &isnull);
		target_find_by_key(b, cand, ncand, keyvals)->outcome = outcome;
	}
	pfree(keyvals);
}

/*
 * Run a write statement over rows (msgidx[i]: the message of rows[i]).  A
 * constraint the rows break is reported by the statement as a whole; this
 * adds which record it was.
 */
static void
exec_write(Batch *b, SPIPlanPtr plan, Datum *rows, int *msgidx, int n, Oid rowtype, int expected)
{
	MemoryContext cxt = CurrentMemoryContext;
	Datum		arr = target_make_array(rows, n, rowtype);

	PG_TRY();
	{
		target_exec_plan(plan, arr, expected);
	}
	PG_CATCH();
	{
		ErrorData  *edata;
		volatile int ord;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		ord = blame_record(b, edata, rows, msgidx, n);
		if (ord == 0)
			ReThrowError(edata);
		edata->context = edata->context
			? psprintf("record %d\n%s", ord, edata->context)
			: psprintf("record %d", ord);
		ReThrowError(edata);
	}
	PG_END_TRY();
}

/*
 * A delete that found no row the caller can see: is there one it cannot see
 * (row-level security)?  Asked through the key index (keyprobe.c: no query
 * as anyone but the caller), and answered with an error, never with data.
 */
static void
hidden_rows_check(Batch *b, int *todo, int ntodo)
{
	SeqTable   *st = b->st;
	KeyProbe   *kp;
	Datum		keyvals[INDEX_MAX_KEYS];

	if (check_enable_rls(st->relid, InvalidOid, true) != RLS_ENABLED)
		return;
	kp = keyprobe_begin(st);
	PushActiveSnapshot(GetLatestSnapshot());
	for (int i = 0; i < ntodo; i++)
	{
		Message    *m = &b->msgs[todo[i]];

		if (m->outcome != OUT_NONE)
			continue;
		for (int k = 0; k < st->nkeys; k++)
			keyvals[k] = m->values[st->keys[k].attnum - 1];
		if (keyprobe_exists(kp, keyvals, GetActiveSnapshot()))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("record %d deletes a row of table %s that the current role cannot see",
							m->ord, st->relname),
					 errdetail("Key %s exists, hidden by row-level security.", input_key_text(b->st, m)),
					 record_errtable(st)));
	}
	PopActiveSnapshot();
	keyprobe_end(kp);
}

/*
 * Step 3: accepted messages the target refused.  Of the messages of a write
 * step (msgs), those still without an outcome: a row is there (written
 * around the functions, or hidden by row-level security): read it as the
 * caller; if found, the message is stale and the state row takes the row's
 * sequence.  For deletes, no row means the delete left only a tombstone.
 */
static void
fixup(Batch *b, int *cand, int ncand, int *msgs, int nmsgs, TupleDesc desc, bool deletes)
{
	SeqTable   *st = b->st;
	int		   *todo = palloc(sizeof(int) * Max(nmsgs, 1));
	int			ntodo = 0;
	Datum	   *rows;
	Datum	   *keyvals;
	TupleDesc	sdesc;
	Datum	   *fix;
	int			nfix = 0;
	Oid			save_userid;
	int			save_sec;

	for (int i = 0; i < nmsgs; i++)
		if (b->msgs[msgs[i]].outcome == OUT_NONE)
			todo[ntodo++] = msgs[i];
	if (ntodo == 0)
		return;					/* the usual case: the target took them all */

	rows = palloc(sizeof(Datum) * ntodo);
	keyvals = palloc(sizeof(Datum) * st->nkeys);
	for (int i = 0; i < ntodo; i++)
		rows[i] = target_row_datum(b, &b->msgs[todo[i]], desc, NULL, true);
	target_exec_plan(plan_fixup_read(st), target_make_array(rows, ntodo, st->reltype), SPI_OK_SELECT);

	sdesc = lookup_rowtype_tupdesc(st->statetype, -1);
	fix = palloc(sizeof(Datum) * (SPI_processed + 1));
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		bool		isnull,
					seqnull;
		int64		seq;
		bool		del;
		Message    *m;

		for (int k = 0; k < st->nkeys; k++)
			keyvals[k] = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, k + 1, &isnull);
		seq = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, st->nkeys + 1, &seqnull));
		del = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, st->nkeys + 2, &isnull));
		m = target_find_by_key(b, cand, ncand, keyvals);
		m->outcome = OUT_STALE;
		m->oldpos = seqnull ? PG_INT64_MIN : seq;	/* (logged: apply.c) */
		fix[nfix++] = state_row(st, sdesc, m, seq, seqnull, del);
	}
	if (deletes)
		hidden_rows_check(b, todo, ntodo);
	for (int i = 0; i < ntodo; i++)
	{
		Message    *m = &b->msgs[todo[i]];

		if (m->outcome != OUT_NONE)
			continue;
		if (deletes)
			m->outcome = OUT_DELETED;	/* no row: the tombstone is the delete */
		else
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("record %d conflicts with a row of table %s that the current role cannot see",
							m->ord, st->relname),
					 errdetail("Key %s exists, hidden by row-level security.", input_key_text(b->st, m)),
					 record_errtable(st)));
	}
	if (nfix > 0)
	{
		rights_begin_internal(&save_userid, &save_sec);
		target_exec_plan(plan_fixup_state(st), target_make_array(fix, nfix, st->statetype), SPI_OK_UPDATE);
		rights_end_internal(save_userid, save_sec);
	}
	ReleaseTupleDesc(sdesc);
}

/*
 * Can upserts be written into the target straight through its heap and
 * indexes, as the executor's INSERT and UPDATE would write them?  Only when
 * nothing else would run or apply: no trigger (foreign keys are triggers),
 * rule, row-level security, generated or non-key identity column,
 * deferrable index, partitioning, or serializable transaction (its
 * predicate locks), and the caller holds INSERT, UPDATE and SELECT on the
 * whole table (column privileges are checked by the statements).  Anything
 * else takes the statements.
 */
bool
target_direct_ok(SeqTable *st, Relation rel, bool deletes)
{
	AclMode		need = ACL_INSERT | ACL_UPDATE | ACL_SELECT;
	TriggerDesc *td = rel->trigdesc;
	List	   *indexes;
	ListCell   *lc;
	bool		ok = true;

	if (rel->rd_rel->relkind != RELKIND_RELATION || rel->rd_rel->relispartition ||
		rel->rd_rules != NULL || rel->rd_rel->relhasrules ||
		IsolationIsSerializable() || !OidIsValid(st->keyindexid))
		return false;
	/* registration's own TRUNCATE trigger is no reason */
	if (td != NULL &&
		(td->trig_insert_before_row || td->trig_insert_after_row || td->trig_insert_instead_row ||
		 td->trig_insert_before_statement || td->trig_insert_after_statement ||
		 td->trig_update_before_row || td->trig_update_after_row || td->trig_update_instead_row ||
		 td->trig_update_before_statement || td->trig_update_after_statement ||
		 td->trig_insert_new_table || td->trig_update_old_table || td->trig_update_new_table))
		return false;
	/* (foreign keys that reference the table are its delete triggers) */
	if (deletes && td != NULL &&
		(td->trig_delete_before_row || td->trig_delete_after_row || td->trig_delete_instead_row ||
		 td->trig_delete_before_statement || td->trig_delete_after_statement ||
		 td->trig_delete_old_table))
		return false;
	for (int i = 0; i < st->natts; i++)
		if (!st->cols[i].dropped &&
			(!target_col_written(&st->cols[i]) ||
			 TupleDescAttr(RelationGetDescr(rel), i)->attidentity == ATTRIBUTE_IDENTITY_ALWAYS))
			return false;			/* INSERT would refuse a value for an ALWAYS identity */
	if (check_enable_rls(st->relid, InvalidOid, true) == RLS_ENABLED)
		return false;
	/* a deferrable unique index needs the executor's deferred checks */
	indexes = RelationGetIndexList(rel);
	foreach(lc, indexes)
	{
		HeapTuple	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(lfirst_oid(lc)));

		if (!HeapTupleIsValid(tup))
			continue;
		if (!((Form_pg_index) GETSTRUCT(tup))->indimmediate)
			ok = false;
		if (lfirst_oid(lc) == st->keyindexid && !((Form_pg_index) GETSTRUCT(tup))->indisvalid)
			ok = false;
		ReleaseSysCache(tup);
	}
	list_free(indexes);
	if (!ok)
		return false;
	return pg_class_aclmask(st->relid, GetUserId(), need | (deletes ? ACL_DELETE : 0), ACLMASK_ALL) ==
		(need | (deletes ? ACL_DELETE : 0));
}

/* Step 2: write the accepted messages into the target, as the caller. */
void
target_write(Batch *b, int *cand, int ncand)
{
	SeqTable   *st = b->st;
	TupleDesc	desc = lookup_rowtype_tupdesc(st->reltype, -1);
	DefaultState ds = {0};
	int		   *ups = palloc(sizeof(int) * ncand);
	int		   *dels = palloc(sizeof(int) * ncand);
	int		   *todo = palloc(sizeof(int) * ncand);
	Datum	   *rows = palloc(sizeof(Datum) * ncand);
	Datum	   *irows = palloc(sizeof(Datum) * ncand);
	int		   *rowmsg = palloc(sizeof(int) * ncand);	/* the message of rows[i] */
	int			nups = 0,
				ndels = 0,
				ntodo;

	for (int i = 0; i < ncand; i++)
	{
		Message    *m = &b->msgs[cand[i]];

		if (m->outcome != OUT_NONE)
			continue;
		if (m->action == MSG_UPSERT)
			ups[nups++] = cand[i];
		else
			dels[ndels++] = cand[i];
	}

	if (nups > 0)
	{
		int			nexisting = 0;

		/* keys seen before: UPDATE first */
		for (int i = 0; i < nups; i++)
			if (!b->msgs[ups[i]].fresh)
			{
				rowmsg[nexisting] = ups[i];
				rows[nexisting++] = target_row_datum(b, &b->msgs[ups[i]], desc, &ds, false);
			}
		if (nexisting > 0)
		{
			exec_write(b, plan_update(st), rows, rowmsg, nexisting, st->reltype, SPI_OK_UPDATE_RETURNING);
			mark_returned(b, cand, ncand, OUT_UPDATED);
		}

		/* new keys, and keys that had no row (tombstones): INSERT */
		ntodo = 0;
		for (int i = 0, j = 0; i < nups; i++)
		{
			Message    *m = &b->msgs[ups[i]];
			Datum		row = (Datum) 0;

			if (m->fresh)
				row = target_row_datum(b, m, desc, &ds, false);
			else
				row = rows[j++];	/* made for the UPDATE, in the same order */
			if (m->outcome == OUT_NONE)
			{
				irows[ntodo] = row;
				todo[ntodo++] = ups[i];
			}
		}
		if (ntodo > 0)
		{
			int			nretry = 0;

			exec_write(b, plan_insert(st), irows, todo, ntodo, st->reltype, SPI_OK_INSERT_RETURNING);
			mark_returned(b, cand, ncand, OUT_INSERTED);

			/*
			 * A key guessed new that the INSERT found taken never had its
			 * UPDATE: try it now, so a wrong guess costs a statement, never
			 * a wrong outcome.
			 */
			for (int i = 0; i < ntodo; i++)
				if (b->msgs[todo[i]].outcome == OUT_NONE && b->msgs[todo[i]].fresh)
				{
					rowmsg[nretry] = todo[i];
					rows[nretry++] = irows[i];
				}
			if (nretry > 0)
			{
				exec_write(b, plan_update(st), rows, rowmsg, nretry, st->reltype, SPI_OK_UPDATE_RETURNING);
				mark_returned(b, cand, ncand, OUT_UPDATED);
			}
			fixup(b, cand, ncand, todo, ntodo, desc, false);
		}
	}

	if (ndels > 0)
	{
		for (int i = 0; i < ndels; i++)
			rows[i] = target_row_datum(b, &b->msgs[dels[i]], desc, NULL, true);
		exec_write(b, plan_delete(st), rows, dels, ndels, st->reltype,
				   st->soft_deletes ? SPI_OK_UPDATE_RETURNING : SPI_OK_DELETE_RETURNING);
		mark_returned(b, cand, ncand, OUT_DELETED);
		fixup(b, cand, ncand, dels, ndels, desc, true);
	}
	target_defaults_done(&ds);
	ReleaseTupleDesc(desc);
}

/* Append-only tables: every message is a new row. */
void
target_append(Batch *b, bool have_max, int64 startmax)
{
	SeqTable   *st = b->st;
	TupleDesc	desc = lookup_rowtype_tupdesc(st->reltype, -1);
	DefaultState ds = {0};
	Datum	   *rows = palloc(sizeof(Datum) * Max(b->nmsgs, 1));
	int		   *idx = palloc(sizeof(int) * Max(b->nmsgs, 1));
	int			n = 0;

	for (int i = 0; i < b->nmsgs; i++)
	{
		Message    *m = &b->msgs[i];

		if (st->per_table && have_max && m->seq <= startmax)
		{
			m->outcome = OUT_STALE;
			continue;
		}
		idx[n] = i;
		rows[n++] = target_row_datum(b, m, desc, &ds, false);
	}
	if (n > 0)
	{
		StringInfoData s;
		Datum	   *records = palloc(sizeof(Datum) * n);
		Datum	   *positions = palloc(sizeof(Datum) * n);
		Datum	   *seqs = palloc(sizeof(Datum) * n);
		Datum	   *oids = palloc(sizeof(Datum) * n);
		Datum	   *tids = palloc(sizeof(Datum) * n);
		Oid			argtypes[5] = {INT8ARRAYOID, INT8ARRAYOID, JSONBARRAYOID, OIDARRAYOID, TIDARRAYOID};
		Datum		args[5];
		Oid			save_userid;
		int			save_sec;

		if (st->plan_append == NULL)
		{
			initStringInfo(&s);
			append_insert(&s, st);
			appendStringInfoString(&s, " RETURNING pg_catalog.to_jsonb(t.*), t.tableoid, t.ctid");
			target_prepare_plan(&st->plan_append, s.data, st->relarraytype);
		}
		exec_write(b, st->plan_append, rows, idx, n, st->reltype, SPI_OK_INSERT_RETURNING);
		if (SPI_processed != (uint64) n)
			elog(ERROR, "pg_sequenced: expected %d inserted rows, got " UINT64_FORMAT, n, SPI_processed);
		for (int i = 0; i < n; i++)
		{
			bool		isnull;
			Message    *m = &b->msgs[idx[i]];

			records[i] = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);
			oids[i] = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull);
			tids[i] = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3, &isnull);
			m->outcome = OUT_INSERTED;
			m->pos = positions_next(st->staterelid);
			positions[i] = Int64GetDatum(m->pos);
			seqs[i] = Int64GetDatum(m->seq);
		}
		args[0] = PointerGetDatum(construct_array(positions, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		args[1] = PointerGetDatum(construct_array(seqs, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		args[2] = PointerGetDatum(construct_array(records, n, JSONBOID, -1, false, TYPALIGN_INT));
		args[3] = PointerGetDatum(construct_array(oids, n, OIDOID, sizeof(Oid), true, TYPALIGN_INT));
		args[4] = PointerGetDatum(construct_array(tids, n, TIDOID, sizeof(ItemPointerData), false, TYPALIGN_SHORT));

		rights_begin_internal(&save_userid, &save_sec);
		if (st->plan_append_state == NULL)
		{
			initStringInfo(&s);
			appendStringInfo(&s, "INSERT INTO %s (position, sequence, record, row_table, row_tid) "
							 "SELECT * FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3), "
							 "pg_catalog.unnest($4), pg_catalog.unnest($5))", st->state_qualname);
			prepare_plan_n(&st->plan_append_state, s.data, 5, argtypes);
		}
		if (SPI_execute_plan(st->plan_append_state, args, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "failed to write the state of table %s", st->relname);
		rights_end_internal(save_userid, save_sec);
	}
	target_defaults_done(&ds);
	ReleaseTupleDesc(desc);
}
