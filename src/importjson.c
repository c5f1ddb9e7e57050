/*-------------------------------------------------------------------------
 *
 * importjson.c
 *		sequenced_import_json's one extra: the properties in the order the
 *		source wrote them.
 *
 * jsonb keeps an object's keys sorted (shorter first, then bytewise), so a
 * table created from a jsonb body has its columns in that order, which is
 * no one's.  The json text still has the source's order: one pass of
 * PostgreSQL's JSON parser over it notes the property names of
 *	- a batch body (an object): root."schema"."properties";
 *	- a push body (an array): each element's "data";
 * then the text becomes jsonb as ever, and import.c and importpush.c use
 * the names only to order the columns they create.  Nothing else of the
 * text is kept: values, duplicates and validation are jsonb's, as for
 * sequenced_import(jsonb).
 *
 * A key written twice in one object counts where it first appears; of an
 * object written twice under one key (two "schema"s, two "data"s), the last
 * counts, as jsonb keeps the last value.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"

#include "common/jsonapi.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/jsonfuncs.h"

#include "pg_sequenced.h"
#include "import.h"

/*
 * Where the parser is.  Depths are the lexer's: the root's members are at
 * level 1, their members at 2, and the names wanted at 3.
 */
typedef struct OrderScan
{
	JsonLexContext *lex;
	ImportOrder *out;
	bool		at_schema;		/* batch: in the value of root."schema" */
	bool		at_props;		/* ... and in that of its "properties" */
	bool		at_data;		/* push: in the value of an element's "data" */
	List	   *cur;			/* the names being collected */
} OrderScan;

static List *
add_name(List *names, char *name)
{
	ListCell   *lc;

	/* (a body of many thousand properties is long work: it can be cancelled) */
	CHECK_FOR_INTERRUPTS();
	foreach(lc, names)
		if (strcmp(lfirst(lc), name) == 0)
			return names;
	return lappend(names, name);
}

static void
scan_root(void *state, bool array)
{
	OrderScan  *sc = state;

	if (sc->lex->lex_level == 0)
		sc->out->array = array;
}

static void
scan_object_start(void *state)
{
	scan_root(state, false);
}

static void
scan_array_start(void *state)
{
	scan_root(state, true);
}

/* A push body's next element: a list of names of its own */
static void
scan_element_start(void *state, bool isnull)
{
	OrderScan  *sc = state;

	(void) isnull;
	if (sc->lex->lex_level != 1)
		return;
	sc->at_data = false;
	sc->out->elems = lappend(sc->out->elems, NIL);
}

static void
scan_field_start(void *state, char *fname, bool isnull)
{
	OrderScan  *sc = state;
	ImportOrder *out = sc->out;
	int			level = sc->lex->lex_level;

	(void) isnull;
	if (level == 1 && !out->array)
	{
		sc->at_schema = strcmp(fname, "schema") == 0;
		sc->at_props = false;
		if (sc->at_schema)
			out->names = NIL;	/* (the last "schema" counts) */
	}
	else if (level == 2 && !out->array)
	{
		sc->at_props = sc->at_schema && strcmp(fname, "properties") == 0;
		if (sc->at_props)
			out->names = NIL;
	}
	else if (level == 2 && out->array)
	{
		sc->at_data = strcmp(fname, "data") == 0;
		if (sc->at_data)
			llast(out->elems) = NIL;
	}
	else if (level == 3 && !out->array && sc->at_props)
		out->names = add_name(out->names, fname);
	else if (level == 3 && out->array && sc->at_data)
		llast(out->elems) = add_name(llast(out->elems), fname);
}

/*
 * The body as jsonb, and in *order the names as the text wrote them.
 */
Jsonb *
import_json_read(text *json, ImportOrder *order)
{
	OrderScan	sc;
	JsonSemAction sem;

	memset(order, 0, sizeof(ImportOrder));
	memset(&sc, 0, sizeof(sc));
	memset(&sem, 0, sizeof(sem));
	sc.lex = makeJsonLexContext(json, true);	/* (field names de-escaped) */
	sc.out = order;
	sem.semstate = &sc;
	sem.object_start = scan_object_start;
	sem.array_start = scan_array_start;
	sem.array_element_start = scan_element_start;
	sem.object_field_start = scan_field_start;
	pg_parse_json_or_ereport(sc.lex, &sem);

	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
											  CStringGetDatum(text_to_cstring(json))));
}
