/*-------------------------------------------------------------------------
 *
 * blame.c
 *		Naming the record behind a constraint error of a set-based write.
 *
 * A statement that writes a batch reports a CHECK, UNIQUE or FOREIGN KEY
 * violation (or an overflow in a generated column) for the statement as a
 * whole.  blame_record finds which record's row fails it, by asking each
 * row the same question the server asked: the CHECK constraint's
 * expression (when it is made of immutable operations on columns the rows
 * carry), the unique index's "Key (..)=(..)" description, the foreign
 * key's columns as its RI trigger prints them, the generation expressions.
 *
 * Why it is safe: it runs in the error's aftermath, before the abort, and
 * only reads -- the relcache, the syscache, output functions and immutable
 * checks, in a memory context of its own; anything going wrong here (an
 * error, a cancel) gives up, and the original error is reported unchanged.
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

/* ----------------------------------------------------------------
 * naming the record behind a constraint error
 * ---------------------------------------------------------------- */

/*
 * Does the target row (a composite of the target's row type) fail the CHECK
 * constraint?  Only asked of constraints made of immutable operations on
 * the columns the rows carry (state: the prepared check, or NULL when the
 * constraint is not one of those); NULL counts as passing, as for the
 * executor.
 */
static ExprState *
prepare_check(SeqTable *st, Relation rel, const char *conname, EState *estate)
{
	TupleConstr *constr = RelationGetDescr(rel)->constr;

	for (int i = 0; constr && i < constr->num_check; i++)
	{
		Node	   *e;
		Bitmapset  *atts = NULL;
		int			a = -1;

		if (strcmp(constr->check[i].ccname, conname) != 0)
			continue;
		e = stringToNode(constr->check[i].ccbin);
		if (contain_mutable_functions(e))
			return NULL;
		pull_varattnos(e, 1, &atts);
		while ((a = bms_next_member(atts, a)) >= 0)
		{
			AttrNumber	att = a + FirstLowInvalidHeapAttributeNumber;

			if (att <= 0 || att > st->natts || !target_col_written(&st->cols[att - 1]))
				return NULL;	/* a column our rows do not carry */
		}
		return ExecPrepareCheck(list_make1(e), estate);
	}
	return NULL;
}

static HeapTupleData *
row_tuple(Relation rel, Datum row, HeapTupleData *tup)
{
	HeapTupleHeader th = DatumGetHeapTupleHeader(row);

	tup->t_len = HeapTupleHeaderGetDatumLength(th);
	ItemPointerSetInvalid(&tup->t_self);
	tup->t_tableOid = RelationGetRelid(rel);
	tup->t_data = th;
	return tup;
}

static bool
row_fails_check(Relation rel, ExprState *check, Datum row, EState *estate, TupleTableSlot *slot)
{
	ExprContext *econtext = GetPerTupleExprContext(estate);
	HeapTupleData tup;
	bool		ok;

	ExecStoreHeapTuple(row_tuple(rel, row, &tup), slot, false);
	econtext->ecxt_scantuple = slot;
	ok = ExecCheck(check, econtext);
	ExecClearTuple(slot);
	ResetPerTupleExprContext(estate);
	return !ok;
}

/*
 * Does the row carry the key a unique violation's DETAIL names?  The
 * server builds "Key (cols)=(values) already exists." with
 * BuildIndexValueDescription; so do we, for the index named in the error.
 */
static bool
row_matches_key(Relation rel, Relation irel, const char *detail, Datum row)
{
	HeapTupleData tup;
	Datum		values[INDEX_MAX_KEYS];
	bool		isnull[INDEX_MAX_KEYS];
	int			nkeys = irel->rd_index->indnkeyatts;
	char	   *desc;

	row_tuple(rel, row, &tup);
	for (int k = 0; k < nkeys; k++)
	{
		AttrNumber	att = irel->rd_index->indkey.values[k];

		if (att <= 0 || att > RelationGetDescr(rel)->natts)
			return false;		/* an expression index: not ours to guess */
		values[k] = heap_getattr(&tup, att, RelationGetDescr(rel), &isnull[k]);
	}
	desc = BuildIndexValueDescription(irel, values, isnull);
	return desc != NULL && strstr(detail, desc) != NULL;
}

/*
 * Does the row carry the key a foreign key violation's DETAIL names?  The
 * server's RI trigger writes "Key (a, b)=(1, 2) is not present in ...", the
 * column names as they are and the values through their output functions.
 */
static bool
row_matches_fkey(Relation rel, AttrNumber *conkey, int nconkey, const char *detail, Datum row)
{
	HeapTupleData tup;
	StringInfoData names,
				vals;

	row_tuple(rel, row, &tup);
	initStringInfo(&names);
	initStringInfo(&vals);
	for (int i = 0; i < nconkey; i++)
	{
		Form_pg_attribute a = TupleDescAttr(RelationGetDescr(rel), conkey[i] - 1);
		bool		isnull;
		Datum		d = heap_getattr(&tup, conkey[i], RelationGetDescr(rel), &isnull);
		Oid			out;
		bool		varlena;

		appendStringInfo(&names, "%s%s", i ? ", " : "", NameStr(a->attname));
		if (isnull)
			appendStringInfo(&vals, "%snull", i ? ", " : "");
		else
		{
			getTypeOutputInfo(a->atttypid, &out, &varlena);
			appendStringInfo(&vals, "%s%s", i ? ", " : "", OidOutputFunctionCall(out, d));
		}
	}
	return strstr(detail, psprintf("Key (%s)=(%s) ", names.data, vals.data)) != NULL;
}

/* The columns of a foreign key constraint; false if it is not one of rel's */
static bool
fkey_columns(Relation rel, Oid conoid, AttrNumber *conkey, int *nconkey)
{
	HeapTuple	ctup = SearchSysCache1(CONSTROID, ObjectIdGetDatum(conoid));
	Datum		d;
	bool		isnull;
	Datum	   *elems;
	int			n;

	*nconkey = 0;
	if (!HeapTupleIsValid(ctup))
		return false;
	d = SysCacheGetAttr(CONSTROID, ctup, Anum_pg_constraint_conkey, &isnull);
	if (!isnull)
	{
		deconstruct_array(DatumGetArrayTypeP(d), INT2OID, 2, true, TYPALIGN_SHORT, &elems, NULL, &n);
		for (int i = 0; i < n && i < INDEX_MAX_KEYS; i++)
		{
			AttrNumber	att = DatumGetInt16(elems[i]);

			if (att <= 0 || att > RelationGetDescr(rel)->natts)
			{
				ReleaseSysCache(ctup);
				return false;
			}
			conkey[(*nconkey)++] = att;
		}
	}
	ReleaseSysCache(ctup);
	return *nconkey > 0;
}

/*
 * A set-based write statement failed: if it is a CHECK, unique or foreign
 * key violation on the target, find the record whose row fails it.  Runs in
 * the error's aftermath (before the abort), so it only reads: the relcache,
 * the syscache, output functions and immutable checks; anything going wrong
 * here (an error, a cancel) gives up and the original error is reported.
 * Two records sharing a value of another unique index: the second one (the
 * first was written).
 */
static int
failing_record(Batch *b, ErrorData *edata, Datum *rows, int *msgidx, int n)
{
	SeqTable   *st = b->st;
	Relation	rel;
	int			found = 0;
	int			nmatch = 0;
	MemoryContext rowcxt;
	MemoryContext old;

	if (edata->constraint_name == NULL || edata->table_name == NULL ||
		edata->schema_name == NULL ||
		(edata->sqlerrcode != ERRCODE_CHECK_VIOLATION &&
		 edata->sqlerrcode != ERRCODE_UNIQUE_VIOLATION &&
		 edata->sqlerrcode != ERRCODE_FOREIGN_KEY_VIOLATION))
		return 0;
	rel = RelationIdGetRelation(st->relid);
	if (rel == NULL)
		return 0;
	if (strcmp(edata->table_name, RelationGetRelationName(rel)) != 0 ||
		strcmp(edata->schema_name, get_namespace_name(RelationGetNamespace(rel))) != 0)
	{
		RelationClose(rel);
		return 0;
	}
	rowcxt = AllocSetContextCreate(CurrentMemoryContext, "pg_sequenced failing row",
								   ALLOCSET_DEFAULT_SIZES);
	if (edata->sqlerrcode == ERRCODE_CHECK_VIOLATION)
	{
		EState	   *estate = CreateExecutorState();
		ExprState  *check = prepare_check(st, rel, edata->constraint_name, estate);
		TupleTableSlot *slot = MakeSingleTupleTableSlot(RelationGetDescr(rel), &TTSOpsHeapTuple);

		for (int i = 0; i < n && check != NULL && found == 0; i++)
		{
			CHECK_FOR_INTERRUPTS();
			old = MemoryContextSwitchTo(rowcxt);
			if (row_fails_check(rel, check, rows[i], estate, slot))
				found = b->msgs[msgidx[i]].ord;
			MemoryContextSwitchTo(old);
			MemoryContextReset(rowcxt);
		}
		ExecDropSingleTupleTableSlot(slot);
		FreeExecutorState(estate);
	}
	else if (edata->sqlerrcode == ERRCODE_FOREIGN_KEY_VIOLATION && edata->detail != NULL)
	{
		Oid			conoid = get_relation_constraint_oid(st->relid, edata->constraint_name, true);
		AttrNumber	conkey[INDEX_MAX_KEYS];
		int			nconkey;

		if (OidIsValid(conoid) && fkey_columns(rel, conoid, conkey, &nconkey))
		{
			for (int i = 0; i < n && found == 0; i++)
			{
				CHECK_FOR_INTERRUPTS();
				old = MemoryContextSwitchTo(rowcxt);
				if (row_matches_fkey(rel, conkey, nconkey, edata->detail, rows[i]))
					found = b->msgs[msgidx[i]].ord;
				MemoryContextSwitchTo(old);
				MemoryContextReset(rowcxt);
			}
		}
	}
	else if (edata->detail != NULL)
	{
		Oid			indexid = get_relname_relid(edata->constraint_name, RelationGetNamespace(rel));
		Relation	irel = OidIsValid(indexid) ? index_open(indexid, AccessShareLock) : NULL;

		if (irel != NULL && irel->rd_index->indrelid == st->relid)
		{
			for (int i = 0; i < n && nmatch < 2; i++)
			{
				CHECK_FOR_INTERRUPTS();
				old = MemoryContextSwitchTo(rowcxt);
				if (row_matches_key(rel, irel, edata->detail, rows[i]))
				{
					found = b->msgs[msgidx[i]].ord;
					nmatch++;
				}
				MemoryContextSwitchTo(old);
				MemoryContextReset(rowcxt);
			}
		}
		if (irel != NULL)
			index_close(irel, AccessShareLock);
	}
	MemoryContextDelete(rowcxt);
	RelationClose(rel);
	return found;
}

/* Does evaluating the expression raise an error of this SQLSTATE? */
static bool
expr_raises(ExprState *state, ExprContext *econtext, int sqlerrcode)
{
	MemoryContext cxt = CurrentMemoryContext;
	volatile bool raised = false;

	PG_TRY();
	{
		bool		isnull;

		(void) ExecEvalExprSwitchContext(state, econtext, &isnull);
	}
	PG_CATCH();
	{
		ErrorData  *e;

		MemoryContextSwitchTo(cxt);
		e = CopyErrorData();
		FlushErrorState();
		raised = e->sqlerrcode == sqlerrcode;
		FreeErrorData(e);
	}
	PG_END_TRY();
	return raised;
}

/*
 * A data exception (an overflow, say) in a write statement of a table with
 * stored generated columns: the first row whose generation expressions
 * raise the same error.  Generated columns are computed from the row's own
 * columns by immutable expressions, so evaluating them again is safe.
 */
static int
failing_generated(Batch *b, ErrorData *edata, Datum *rows, int *msgidx, int n)
{
	Relation	rel = RelationIdGetRelation(b->st->relid);
	TupleDesc	desc;
	int			found = 0;

	if (rel == NULL)
		return 0;
	desc = RelationGetDescr(rel);
	if (desc->constr != NULL && desc->constr->has_generated_stored)
	{
		EState	   *estate = CreateExecutorState();
		ExprContext *econtext = GetPerTupleExprContext(estate);
		ExprState **exprs = palloc0(sizeof(ExprState *) * desc->natts);
		TupleTableSlot *slot = MakeSingleTupleTableSlot(desc, &TTSOpsHeapTuple);

		for (int a = 0; a < desc->natts; a++)
		{
			if (TupleDescAttr(desc, a)->attgenerated == ATTRIBUTE_GENERATED_STORED)
			{
				Node	   *e = build_column_default(rel, a + 1);

				if (e != NULL)
					exprs[a] = ExecPrepareExpr(expression_planner((Expr *) e), estate);
			}
		}
		for (int i = 0; i < n && found == 0; i++)
		{
			HeapTupleData tup;

			CHECK_FOR_INTERRUPTS();
			ExecStoreHeapTuple(row_tuple(rel, rows[i], &tup), slot, false);
			econtext->ecxt_scantuple = slot;
			for (int a = 0; a < desc->natts && found == 0; a++)
				if (exprs[a] != NULL && expr_raises(exprs[a], econtext, edata->sqlerrcode))
					found = b->msgs[msgidx[i]].ord;
			ExecClearTuple(slot);
			ResetPerTupleExprContext(estate);
		}
		ExecDropSingleTupleTableSlot(slot);
		FreeExecutorState(estate);
	}
	RelationClose(rel);
	return found;
}

/*
 * Which record's row (rows[i], of message msgidx[i]) breaks the constraint
 * that the statement over these rows failed with (edata)?  0: none could be
 * told, or the error is not one this looks into.  Never raises: anything
 * going wrong here leaves the original error to be reported as it is.
 */
int
blame_record(Batch *b, ErrorData *edata, Datum *rows, int *msgidx, int n)
{
	MemoryContext cxt = CurrentMemoryContext;
	volatile int ord = 0;

	PG_TRY();
	{
		ord = failing_record(b, edata, rows, msgidx, n);
		if (ord == 0 && ERRCODE_TO_CATEGORY(edata->sqlerrcode) == ERRCODE_DATA_EXCEPTION)
			ord = failing_generated(b, edata, rows, msgidx, n);
	}
	PG_CATCH();
	{
		/* could not tell: the original error it is */
		MemoryContextSwitchTo(cxt);
		FlushErrorState();
		ord = 0;
	}
	PG_END_TRY();
	return ord;
}
