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
	if (err_ord <= 0)
		return;
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

/* Start a stretch of work on the records of a call to table st */
void
record_context_push(ErrorContextCallback *cb, SeqTable *st)
{
	cb->callback = record_context_callback;
	cb->arg = NULL;
	cb->previous = error_context_stack;
	error_context_stack = cb;
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

void
record_context_pop(ErrorContextCallback *cb)
{
	error_context_stack = cb->previous;
	err_ord = 0;
	err_column = NULL;
	err_table = NULL;
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
