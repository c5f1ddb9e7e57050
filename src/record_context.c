/*-------------------------------------------------------------------------
 *
 * record_context.c
 *		The record context of errors: which record (and column) an error
 *		raised while a call handles its messages is about.
 *
 * One API, used the same way by every file: record_context_push(cb, st)
 * at the start of a stretch of work on records, record_context_at(ord,
 * column) as it moves to a record or a column (0: none), and
 * record_context_pop(cb) at its end.  An error raised meanwhile -- by a
 * type's input function, a DEFAULT, a constraint, or pg_sequenced itself --
 * gets the CONTEXT line "record N, column "c"" and, when it has none yet,
 * the error fields of the table and column (schema, table, column), as
 * PostgreSQL's own constraint errors carry them, so that clients read them
 * from the error object.  Errors of pg_sequenced itself that concern a
 * table or column set the same fields through record_errtable and
 * record_errcolumn.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/elog.h"

#include "catalog/pg_type.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "pg_sequenced.h"

/* where we are, for the error context */
static int	err_ord = 0;
static const char *err_column = NULL;
static SeqTable *err_table = NULL;
static RecordContext *err_current = NULL;	/* the innermost stretch */

/*
 * The CONTEXT line, and the error's table fields when it has none of its
 * own.  An integrity constraint violation (class 23) names its table (and
 * constraint, column or domain) itself, and a field is set once only: those
 * are left as they are, and pg_sequenced's own errors of that class set
 * their fields themselves (record_errcolumn).
 */
static void
record_context_callback(void *arg)
{
	if (err_ord <= 0 || arg != (void *) err_current)
		return;					/* (an outer stretch: the inner one speaks) */
	if (err_column)
		errcontext("record %d, column \"%s\"", err_ord, err_column);
	else
		errcontext("record %d", err_ord);
	if (err_table != NULL &&
		ERRCODE_TO_CATEGORY(geterrcode()) != ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION)
	{
		(void) record_errtable(err_table);
		if (err_column)
			(void) err_generic_string(PG_DIAG_COLUMN_NAME, err_column);
	}
}

/*
 * Start a stretch of work on the records of a call to table st.  Stretches
 * nest (a record converted again while it is written): the inner one's end
 * gives back what the outer one had at hand, so an error after it still
 * names its record.
 */
void
record_context_push(RecordContext *rc, SeqTable *st)
{
	rc->ord = err_ord;
	rc->column = err_column;
	rc->table = err_table;
	rc->outer = err_current;
	rc->cb.callback = record_context_callback;
	rc->cb.arg = rc;
	rc->cb.previous = error_context_stack;
	error_context_stack = &rc->cb;
	err_current = rc;
	err_ord = 0;
	err_column = NULL;
	err_table = st;
}

/* The record (1-based; 0: none) and column (NULL: none) at hand */
void
record_context_at(int ord, const char *column)
{
	err_ord = ord;
	err_column = column;
}

/* What is at hand, to give back after a detour (record_context_back) */
RecordAt
record_context_now(void)
{
	RecordAt	at = {err_ord, err_column};

	return at;
}

void
record_context_back(RecordAt at)
{
	err_ord = at.ord;
	err_column = at.column;
}

void
record_context_pop(RecordContext *rc)
{
	error_context_stack = rc->cb.previous;
	err_ord = rc->ord;
	err_column = rc->column;
	err_table = rc->table;
	err_current = rc->outer;
}

/* The error fields of a table (for ereport), as errtable() sets them */
int
record_errtable(SeqTable *st)
{
	err_generic_string(PG_DIAG_SCHEMA_NAME, st->nspname);
	return err_generic_string(PG_DIAG_TABLE_NAME, st->tablename);
}

/* ... and of one of its columns, as errtablecol() */
int
record_errcolumn(SeqTable *st, const char *column)
{
	(void) record_errtable(st);
	return err_generic_string(PG_DIAG_COLUMN_NAME, column);
}

/* The same, for a table known by its oid (before its description is built) */
int
record_errrel(Oid relid)
{
	err_generic_string(PG_DIAG_SCHEMA_NAME, get_namespace_name(get_rel_namespace(relid)));
	return err_generic_string(PG_DIAG_TABLE_NAME, get_rel_name(relid));
}

int
record_errrelcol(Oid relid, const char *column)
{
	(void) record_errrel(relid);
	return err_generic_string(PG_DIAG_COLUMN_NAME, column);
}
