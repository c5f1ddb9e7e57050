/*-------------------------------------------------------------------------
 *
 * import.h
 *		What the three files of sequenced_import share (SPEC section 5).
 *
 * Who owns what:
 *	import.c	 the entry points sequenced_import(jsonb) and
 *				 sequenced_import_json(json); the batch body
 *				 {"table_name", "key_names", "schema", "messages"}; and what
 *				 both bodies do to a table: resolve its name, create it or
 *				 add the columns it lacks, register it (import_prepare);
 *	importpush.c the push body: a JSON array of records
 *				 {"client_id", "table_name", "sequence", "action",
 *				 "key_names", "data"} for one table or several, each table's
 *				 columns typed from its values;
 *	importjson.c the json entry point's one extra: the order in which the
 *				 source wrote the properties (jsonb sorts keys), read from
 *				 the json text, so that created columns follow it.
 *
 * Only these files include this header.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_SEQUENCED_IMPORT_H
#define PG_SEQUENCED_IMPORT_H

#include "fmgr.h"
#include "nodes/pg_list.h"
#include "utils/jsonb.h"

/* records of one body, batch or push */
#define IMPORT_MAX_MESSAGES 20000

typedef enum PropType
{
	PT_INTEGER,
	PT_NUMBER,
	PT_STRING,
	PT_DATETIME,
	PT_BOOLEAN,
	PT_OBJECT,
	PT_ARRAY,
	PT_NULL						/* push body: no value but null seen yet */
} PropType;

typedef struct Prop
{
	char	   *name;
	PropType	type;
	bool		nullable;
	bool		is_key;
	/* push body only: types are read from the values */
	int			type_ord;		/* the record whose value gave the type */
	int			mixed_ord;		/* the first record whose value has another
								 * type no one column takes (0: none) */
	PropType	mixed_type;		/* ... that type */
	bool		skip;			/* import_prepare made no column for it (only
								 * nulls, and the table has no such column) */
} Prop;

/* A table a body names, as its name was looked up */
typedef struct ImportTable
{
	char	   *relname;
	Oid			nspid;
	Oid			relid;			/* InvalidOid: missing when looked up */
	char	   *qualname;
} ImportTable;

/*
 * The order in which a json body wrote its properties: of the schema's
 * "properties" (batch body), or of each element's "data" (push body).
 * First appearance counts; of a key written twice, the last value counts,
 * as in jsonb.
 */
typedef struct ImportOrder
{
	bool		array;			/* the body is an array */
	List	   *names;			/* batch body: property names (char *) */
	List	   *elems;			/* push body: per element, a List of names */
} ImportOrder;

/* import.c */
extern const char *import_jtype(JsonbValue *v);
extern char *import_jstring(JsonbValue *v);
extern bool import_is_object(JsonbValue *v);
extern bool import_is_array(JsonbValue *v);
extern bool import_integral_bigint(JsonbValue *v, bool zero_fraction);
extern void import_resolve(const char *table_name, ImportTable *t);
extern Oid	import_prepare(ImportTable *t, Prop *props, int nprops, List *keynames,
						   bool keys_first, bool declared, const char *keys_of);

/* importpush.c */
extern void import_push(FunctionCallInfo fcinfo, Jsonb *body, ImportOrder *order);

/* importjson.c */
extern Jsonb *import_json_read(text *json, ImportOrder *order);

#endif							/* PG_SEQUENCED_IMPORT_H */
