/*-------------------------------------------------------------------------
 *
 * import.c
 *		sequenced_import: the body of a hosted import API's batch request,
 *		and what every import body does to its table.
 *
 *	{"table_name": "customers", "key_names": ["id"],
 *	 "schema": {"properties": {"id": {"type": "integer"}, ...}},
 *	 "messages": [{"action": "upsert", "sequence": 1, "data": {...}}, ...]}
 *
 * Steps, all in the caller's transaction (a failed batch leaves no table
 * or column behind):
 *	1. validate the whole body in one pass, before anything is changed:
 *	   the body's keys, the schema's types, and every record against the
 *	   schema (JSON type, date-time strings, keys present and not null,
 *	   sequence an integer within bigint);
 *	2. create the table when it is missing (key columns NOT NULL, a primary
 *	   key on key_names, no key: append-only) and register it; add the
 *	   properties an existing table lacks as nullable columns; refuse a
 *	   property whose type conflicts with its column, or key_names that
 *	   differ from a registered table's key (import_prepare, which the push
 *	   body of importpush.c uses too);
 *	3. apply the messages exactly as sequenced_upsert(target, messages).
 *
 * Names are taken literally and always quoted: "sales.customers" is table
 * customers in schema sales; a name without a dot is looked up in
 * search_path and created in the first schema of it.
 *
 * Entry points: sequenced_import(batch jsonb), and sequenced_import_json
 * (batch json), which differs only in the order of the columns it creates:
 * the schema's properties as the json text wrote them (importjson.c), where
 * jsonb has sorted them (there, key columns come first).  A JSON array is
 * the push body instead (importpush.c).  The json form has a name of its
 * own: an overload sequenced_import(json) would make every call with an
 * untyped literal or NULL ambiguous (42725).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "catalog/namespace.h"
#include "common/hashfn.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "funcapi.h"
#include "nodes/makefuncs.h"
#include "parser/parse_coerce.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/inval.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/numeric.h"
#include "utils/syscache.h"

#include "pg_sequenced.h"
#include "import.h"

PG_FUNCTION_INFO_V1(sequenced_import);
PG_FUNCTION_INFO_V1(sequenced_import_json);

static const char *
import_type_name(PropType t)
{
	switch (t)
	{
		case PT_INTEGER:
			return "integer";
		case PT_NUMBER:
			return "number";
		case PT_STRING:
			return "string";
		case PT_DATETIME:
			return "date-time string";
		case PT_BOOLEAN:
			return "boolean";
		case PT_OBJECT:
			return "object";
		case PT_ARRAY:
			return "array";
		case PT_NULL:
			return "null";
	}
	return "?";
}

static const char *
prop_sql_type(PropType t)
{
	switch (t)
	{
		case PT_INTEGER:
			return "bigint";
		case PT_NUMBER:
			return "numeric";
		case PT_STRING:
			return "text";
		case PT_DATETIME:
			return "timestamp with time zone";
		case PT_BOOLEAN:
			return "boolean";
		case PT_OBJECT:
		case PT_ARRAY:
			return "jsonb";
		case PT_NULL:
			break;
	}
	return "text";
}

static void
body_error(const char *msg, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("%s", msg),
			 detail ? errdetail("%s", detail) : 0));
}

/* "a string", "an object", ...; "nothing" for a missing value */
const char *
import_jtype(JsonbValue *v)
{
	return v == NULL ? "nothing" : input_json_type_name(v);
}

char *
import_jstring(JsonbValue *v)
{
	return pnstrdup(v->val.string.val, v->val.string.len);
}

bool
import_is_object(JsonbValue *v)
{
	return v && v->type == jbvBinary && JsonContainerIsObject(v->val.binary.data);
}

bool
import_is_array(JsonbValue *v)
{
	return v && v->type == jbvBinary && JsonContainerIsArray(v->val.binary.data);
}

static PropType
parse_type_word(const char *prop, const char *word, bool datetime)
{
	if (strcmp(word, "integer") == 0)
		return PT_INTEGER;
	if (strcmp(word, "number") == 0)
		return PT_NUMBER;
	if (strcmp(word, "string") == 0)
		return datetime ? PT_DATETIME : PT_STRING;
	if (strcmp(word, "boolean") == 0)
		return PT_BOOLEAN;
	if (strcmp(word, "object") == 0)
		return PT_OBJECT;
	if (strcmp(word, "array") == 0)
		return PT_ARRAY;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("schema property \"%s\" has unsupported type \"%s\"", prop, word),
			 errhint("Supported types: integer, number, string (with format date-time), boolean, object, array, and lists of one of them with \"null\".")));
	return PT_STRING;
}

/*
 * Names are taken literally: one PostgreSQL would truncate or refuse is an
 * error of the batch, before anything is created.
 */
static void
import_check_name(const char *what, const char *name)
{
	if (name[0] == '\0' || strlen(name) >= NAMEDATALEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s name \"%s\" is not a valid identifier", what, name),
				 errdetail("Names must be 1 to %d bytes long.", NAMEDATALEN - 1)));
}

/* "schema": {"properties": {...}} -> Prop[] */
static Prop *
parse_schema(JsonbValue *schema, int *nprops)
{
	JsonbValue	buf,
				pbuf;
	JsonbValue *props;
	JsonbIterator *it;
	JsonbValue	k,
				v;
	JsonbIteratorToken tok;
	Prop	   *result;
	int			n = 0;

	if (!import_is_object(schema))
		body_error("the batch has no \"schema\" object", NULL);
	props = getKeyJsonValueFromContainer(schema->val.binary.data, "properties", 10, &buf);
	if (!import_is_object(props))
		body_error("the batch's schema has no \"properties\" object", NULL);
	result = palloc0(sizeof(Prop) * Max(JsonContainerSize(props->val.binary.data), 1));
	it = JsonbIteratorInit(props->val.binary.data);
	tok = JsonbIteratorNext(&it, &k, true);
	while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
	{
		Prop	   *p;
		JsonbValue *type,
				   *format;
		JsonbValue	fbuf;
		bool		datetime;
		char	   *word = NULL;

		if (tok != WJB_KEY)
			continue;
		tok = JsonbIteratorNext(&it, &v, true);
		p = &result[n++];
		p->name = import_jstring(&k);
		import_check_name("schema property", p->name);
		if (!import_is_object(&v))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("schema property \"%s\" is not an object", p->name)));
		format = getKeyJsonValueFromContainer(v.val.binary.data, "format", 6, &fbuf);
		datetime = format && format->type == jbvString &&
			format->val.string.len == 9 && memcmp(format->val.string.val, "date-time", 9) == 0;
		type = getKeyJsonValueFromContainer(v.val.binary.data, "type", 4, &pbuf);
		if (type && type->type == jbvString)
			word = import_jstring(type);
		else if (import_is_array(type))
		{
			int			cnt = JsonContainerSize(type->val.binary.data);

			for (int i = 0; i < cnt; i++)
			{
				JsonbValue *e = getIthJsonbValueFromContainer(type->val.binary.data, i);

				if (e->type != jbvString)
					continue;
				if (e->val.string.len == 4 && memcmp(e->val.string.val, "null", 4) == 0)
					p->nullable = true;
				else if (word == NULL)
					word = import_jstring(e);
				else
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("schema property \"%s\" has more than one type besides \"null\"", p->name)));
			}
		}
		if (word == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("schema property \"%s\" has no type", p->name)));
		p->type = parse_type_word(p->name, word, datetime);
	}
	*nprops = n;
	return result;
}

static Prop *
find_prop(Prop *props, int n, const char *name, int len)
{
	for (int i = 0; i < n; i++)
		if ((int) strlen(props[i].name) == len && memcmp(props[i].name, name, len) == 0)
			return &props[i];
	return NULL;
}

/* field4 of the lock tag on a table name being created (SQL advisory locks use 1 and 2) */
#define SEQ_IMPORT_LOCK_FIELD4 0x5351

static bool
digits(const char **p, int n)
{
	for (int i = 0; i < n; i++, (*p)++)
		if (**p < '0' || **p > '9')
			return false;
	return true;
}

static int
num(const char *p, int n)
{
	int			v = 0;

	for (int i = 0; i < n; i++)
		v = v * 10 + (p[i] - '0');
	return v;
}

/*
 * RFC 3339 date-time: 2019-11-26T22:29:16.123Z, with a T or a space, and a
 * date, time and offset that exist, from year 1 (timestamptz input would
 * reject the rest later, with its own SQLSTATE instead of a validation
 * error).
 */
static bool
valid_datetime(const char *s)
{
	const char *p = s;
	static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int			year,
				month,
				day;

	if (!digits(&p, 4) || *p++ != '-' || !digits(&p, 2) || *p++ != '-' || !digits(&p, 2))
		return false;
	year = num(s, 4);
	month = num(s + 5, 2);
	day = num(s + 8, 2);
	if (year < 1 || month < 1 || month > 12 || day < 1 || day > mdays[month - 1])
		return false;
	if (month == 2 && day == 29 && !((year % 4 == 0 && year % 100 != 0) || year % 400 == 0))
		return false;
	if (*p != 'T' && *p != 't' && *p != ' ')
		return false;
	p++;
	if (!digits(&p, 2) || *p++ != ':' || !digits(&p, 2) || *p++ != ':' || !digits(&p, 2))
		return false;
	if (num(s + 11, 2) > 23 || num(s + 14, 2) > 59 || num(s + 17, 2) > 60)
		return false;
	if (*p == '.')
	{
		p++;
		if (*p < '0' || *p > '9')
			return false;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (*p == 'Z' || *p == 'z')
		p++;
	else if (*p == '+' || *p == '-')
	{
		p++;
		if (!digits(&p, 2) || *p++ != ':' || !digits(&p, 2))
			return false;
		/* timestamptz takes offsets up to 15:59 */
		if (num(p - 5, 2) > 15 || num(p - 2, 2) > 59)
			return false;
	}
	else
		return false;
	return *p == '\0';
}

/*
 * A JSON number that is an integer within bigint.  zero_fraction: 2.0 (as
 * written, jsonb keeps it) counts too; so it does for a sequence, as for
 * sequenced_upsert's, but not for an integer property, whose bigint column
 * takes a value by bigint's input function, which refuses "2.0".
 */
bool
import_integral_bigint(JsonbValue *v, bool zero_fraction)
{
	char	   *s = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
	char	   *p = s;
	int			ndigits = 0;
	char	   *start;

	if (*p == '-')
		p++;
	while (*p == '0' && p[1] >= '0' && p[1] <= '9')
		p++;
	start = p;
	while (*p >= '0' && *p <= '9')
		p++, ndigits++;
	if (*p == '.')
	{
		if (!zero_fraction)
			return false;
		*p = '\0';
		for (p++; *p == '0'; p++)
			;
		if (*p != '\0')
			return false;
	}
	else if (*p != '\0')
		return false;
	if (ndigits < 19)
		return true;
	if (ndigits > 19)
		return false;
	return strncmp(start, s[0] == '-' ? "9223372036854775808" : "9223372036854775807", 19) <= 0;
}

static const char *
import_article(PropType t)
{
	return (t == PT_INTEGER || t == PT_OBJECT || t == PT_ARRAY) ? "an " : t == PT_NULL ? "" : "a ";
}

static void
value_error(int ord, Prop *p, JsonbValue *v)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("message %d: property \"%s\" must be %s%s, found %s",
					ord, p->name, import_article(p->type),
					import_type_name(p->type), import_jtype(v)),
			 p->type == PT_INTEGER && v->type == jbvNumeric ?
			 errdetail("It must be an integer within the range of bigint.") : 0));
}

static void
check_value(int ord, Prop *p, JsonbValue *v)
{
	if (v->type == jbvNull)
	{
		if (p->is_key)
			ereport(ERROR,
					(errcode(ERRCODE_NOT_NULL_VIOLATION),
					 errmsg("message %d has no value for key property \"%s\"", ord, p->name)));
		if (!p->nullable)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("message %d: property \"%s\" must be %s%s, found null",
							ord, p->name, import_article(p->type), import_type_name(p->type)),
					 errhint("Declare the type as [\"null\", \"%s\"] to allow nulls.",
							 p->type == PT_DATETIME ? "string" : import_type_name(p->type))));
		return;
	}
	switch (p->type)
	{
		case PT_INTEGER:
			if (v->type != jbvNumeric || !import_integral_bigint(v, false))
				value_error(ord, p, v);
			break;
		case PT_NUMBER:
			if (v->type != jbvNumeric)
				value_error(ord, p, v);
			break;
		case PT_STRING:
			if (v->type != jbvString)
				value_error(ord, p, v);
			break;
		case PT_DATETIME:
			if (v->type != jbvString)
				value_error(ord, p, v);
			if (!valid_datetime(import_jstring(v)))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("message %d: property \"%s\" must be a date-time string, found \"%s\"",
								ord, p->name, input_clip(import_jstring(v), strlen(import_jstring(v)))),
						 errhint("Use RFC 3339, like 2019-11-26T22:29:16Z.")));
			break;
		case PT_BOOLEAN:
			if (v->type != jbvBool)
				value_error(ord, p, v);
			break;
		case PT_OBJECT:
			if (!import_is_object(v))
				value_error(ord, p, v);
			break;
		case PT_ARRAY:
			if (!import_is_array(v))
				value_error(ord, p, v);
			break;
		case PT_NULL:			/* (not a schema's type) */
			break;
	}
}

/* Step 1 for the messages: every record against the schema */
static void
validate_messages(JsonbValue *messages, Prop *props, int nprops)
{
	int			n;

	if (!import_is_array(messages))
		body_error("the batch has no \"messages\" array", NULL);
	n = JsonContainerSize(messages->val.binary.data);
	if (n < 1 || n > IMPORT_MAX_MESSAGES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the batch has %d messages", n),
				 errdetail("A batch has 1 to %d messages.", IMPORT_MAX_MESSAGES)));
	for (int i = 0; i < n; i++)
	{
		JsonbValue *m = getIthJsonbValueFromContainer(messages->val.binary.data, i);
		JsonbValue	dbuf,
					sbuf;
		JsonbValue *data,
				   *seq;
		JsonbIterator *it;
		JsonbValue	k,
					v;
		JsonbIteratorToken tok;
		int			ord = i + 1;

		if (!import_is_object(m))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("message %d is not a JSON object", ord)));
		seq = getKeyJsonValueFromContainer(m->val.binary.data, "sequence", 8, &sbuf);
		if (seq == NULL || seq->type != jbvNumeric || !import_integral_bigint(seq, true))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("message %d: \"sequence\" must be an integer within the range of bigint, found %s",
							ord, import_jtype(seq))));
		data = getKeyJsonValueFromContainer(m->val.binary.data, "data", 4, &dbuf);
		if (!import_is_object(data))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("message %d: \"data\" must be an object, found %s", ord, import_jtype(data))));
		for (int p = 0; p < nprops; p++)
		{
			if (!props[p].is_key)
				continue;
			if (getKeyJsonValueFromContainer(data->val.binary.data, props[p].name,
											 strlen(props[p].name), &v) == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_NOT_NULL_VIOLATION),
						 errmsg("message %d has no value for key property \"%s\"", ord, props[p].name)));
		}
		it = JsonbIteratorInit(data->val.binary.data);
		tok = JsonbIteratorNext(&it, &k, true);
		while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
		{
			Prop	   *p;

			if (tok != WJB_KEY)
				continue;
			tok = JsonbIteratorNext(&it, &v, true);
			p = find_prop(props, nprops, k.val.string.val, k.val.string.len);
			if (p == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("message %d: property \"%s\" is not in the schema",
								ord, import_jstring(&k))));
			check_value(ord, p, &v);
		}
	}
}

/* May an existing column of this type take values of this schema type? */
static bool
compatible(Oid typid, PropType t)
{
	Oid			base = getBaseType(typid);

	switch (t)
	{
		case PT_INTEGER:
			return base == INT8OID || base == INT4OID || base == INT2OID || base == NUMERICOID;
		case PT_NUMBER:
			return base == NUMERICOID || base == FLOAT8OID || base == FLOAT4OID;
		case PT_STRING:
			return TypeCategory(base) == TYPCATEGORY_STRING;
		case PT_DATETIME:
			return base == TIMESTAMPTZOID || base == TIMESTAMPOID;
		case PT_BOOLEAN:
			return base == BOOLOID;
		case PT_OBJECT:
		case PT_ARRAY:
			return base == JSONBOID || base == JSONOID;
		case PT_NULL:
			return true;
	}
	return false;
}

static void
spi_run(const char *sql)
{
	if (SPI_execute(sql, false, 0) < 0)
		elog(ERROR, "statement failed: %s", sql);
}

/*
 * A table name as a body writes it, looked up with the caller's
 * search_path (before any statement pins it): "schema.table", or a name
 * looked up in search_path and, when missing, to be created in the first
 * schema of it.
 */
void
import_resolve(const char *table_name, ImportTable *t)
{
	const char *dot = strchr(table_name, '.');
	char	   *nspname;

	if (dot && strchr(dot + 1, '.') == NULL && dot != table_name && dot[1] != '\0')
	{
		nspname = pnstrdup(table_name, dot - table_name);
		t->relname = pstrdup(dot + 1);
		import_check_name("schema", nspname);
		import_check_name("table", t->relname);
		t->nspid = get_namespace_oid(nspname, false);
		/* as a qualified name in a query: the schema needs USAGE */
		if (pg_namespace_aclcheck(t->nspid, GetUserId(), ACL_USAGE) != ACLCHECK_OK)
			aclcheck_error(ACLCHECK_NO_PRIV, OBJECT_SCHEMA, nspname);
		t->relid = get_relname_relid(t->relname, t->nspid);
	}
	else
	{
		t->relname = pstrdup(table_name);
		import_check_name("table", t->relname);
		t->relid = RelnameGetRelid(t->relname);
		t->nspid = OidIsValid(t->relid) ? get_rel_namespace(t->relid) :
			RangeVarGetCreationNamespace(makeRangeVar(NULL, t->relname, -1));
	}
	import_check_name("table", t->relname);
	t->qualname = quote_qualified_identifier(get_namespace_name(t->nspid), t->relname);
}

/*
 * A push body's property seen only as null names no column yet: no type to
 * give one.  A property of two types no one column takes neither.
 */
static bool
makes_column(Prop *p, Oid relid, const char *relname)
{
	if (p->mixed_ord > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("property \"%s\" of table \"%s\" is %s%s in record %d but %s%s in record %d",
						p->name, relname, import_article(p->type), import_type_name(p->type),
						p->type_ord, import_article(p->mixed_type), import_type_name(p->mixed_type),
						p->mixed_ord),
				 errdetail("The table has no column \"%s\"; a column made from the values takes one type.",
						   p->name),
				 errhint("Columns are never changed or split by an import."),
				 OidIsValid(relid) ? record_errrel(relid) : 0));
	if (p->type == PT_NULL)
	{
		p->skip = true;
		return false;
	}
	return true;
}

/*
 * Step 2 of every import body: make the table ready for the records of
 * props, and return it.  Creates it when it is missing (key columns first
 * when keys_first, else in props' order; key columns NOT NULL, a primary
 * key on keynames, no key: append-only) and registers it; adds the columns
 * an existing table lacks; registers an existing table that is not yet.
 * declared: the types are a schema's, and an existing column must take
 * its property's type; otherwise (a push body) existing columns are used
 * as they are, values converted by their types' input functions as always.
 * keys_of names the key_names in an error ("the batch", "record 3").
 */
Oid
import_prepare(ImportTable *t, Prop *props, int nprops, List *keynames,
			   bool keys_first, bool declared, const char *keys_of)
{
	Oid			relid = t->relid;
	const char *relname = t->relname;
	ListCell   *lc;
	int			guclevel;
	bool		added;
	StringInfoData sql;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	guclevel = rights_lockdown();
	initStringInfo(&sql);

	/*
	 * 2. the table.  Two imports may find it missing at once: the first to
	 * lock its name creates it, the other waits for that transaction and
	 * then finds it (or, after a rollback, creates it).  A lock tag of our
	 * own (advisory, with a field4 no SQL advisory lock uses), held to the
	 * end of the transaction as the new table's catalog rows are.
	 */
	if (!OidIsValid(relid))
	{
		LOCKTAG		tag;

		SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, t->nspid,
							 hash_bytes((const unsigned char *) relname, strlen(relname)),
							 SEQ_IMPORT_LOCK_FIELD4);
		(void) LockAcquire(&tag, ExclusiveLock, false, false);
		AcceptInvalidationMessages();
		relid = get_relname_relid(relname, t->nspid);
	}
	/*
	 * Before any column is added to it, and without a lock, so that the lock
	 * ALTER TABLE takes is the first one taken (see below).
	 */
	if (OidIsValid(relid))
		citus_refuse(relid, "table");
	if (!OidIsValid(relid))
	{
		const char *sep = "";

		appendStringInfo(&sql, "CREATE TABLE %s (", t->qualname);
		for (int pass = keys_first ? 0 : 1; pass < 2; pass++)	/* key columns first? */
			for (int i = 0; i < nprops; i++)
				if (!keys_first || props[i].is_key == (pass == 0))
				{
					if (!makes_column(&props[i], InvalidOid, relname))
						continue;
					appendStringInfo(&sql, "%s%s %s%s", sep, quote_identifier(props[i].name),
									 prop_sql_type(props[i].type), props[i].is_key ? " NOT NULL" : "");
					sep = ", ";
				}
		if (keynames != NIL)
		{
			appendStringInfo(&sql, "%sPRIMARY KEY (", sep);
			foreach(lc, keynames)
				appendStringInfo(&sql, "%s%s", foreach_current_index(lc) ? ", " : "",
								 quote_identifier(lfirst(lc)));
			appendStringInfoChar(&sql, ')');
		}
		appendStringInfoChar(&sql, ')');
		spi_run(sql.data);
		relid = get_relname_relid(relname, t->nspid);
	}
	else
	{
		/*
		 * Columns to add: decided under the lock ALTER TABLE takes anyway,
		 * taken first, so that of two imports adding a column the second
		 * finds the first's new column instead of adding it again.  (The
		 * very lock ALTER TABLE asks for: a transaction that already holds
		 * a lock on the table goes ahead of a waiting one, as it would for
		 * ALTER TABLE, instead of deadlocking with it.)  Imports that add
		 * nothing take no such lock.
		 */
		for (int i = 0; i < nprops; i++)
			if (get_attnum(relid, props[i].name) == InvalidAttrNumber &&
				makes_column(&props[i], relid, relname))
			{
				/* (ALTER TABLE's own check, before its lock: see rights.c) */
				rights_precheck(relid, RIGHTS_OWNER);
				LockRelationOid(relid, AccessExclusiveLock);
				break;
			}
		added = false;
		for (int i = 0; i < nprops; i++)
		{
			AttrNumber	att = get_attnum(relid, props[i].name);

			props[i].skip = false;
			if (att == InvalidAttrNumber)
			{
				if (!makes_column(&props[i], relid, relname))
					continue;
				resetStringInfo(&sql);
				appendStringInfo(&sql, "ALTER TABLE %s ADD COLUMN %s %s", t->qualname,
								 quote_identifier(props[i].name), prop_sql_type(props[i].type));
				spi_run(sql.data);
				added = true;
			}
			else if (declared)
			{
				Oid			typid = get_atttype(relid, att);

				if (!compatible(typid, props[i].type))
					ereport(ERROR,
							(errcode(ERRCODE_DATATYPE_MISMATCH),
							 errmsg("property \"%s\" of table \"%s\" is %s in the schema, but the column is %s",
									props[i].name, relname, import_type_name(props[i].type),
									format_type_be(typid)),
							 errdetail("Column \"%s\" of table \"%s\" has type %s; the batch's schema says %s (%s).",
									   props[i].name, relname, format_type_be(typid),
									   import_type_name(props[i].type), prop_sql_type(props[i].type)),
							 errhint("Columns are never changed or split by an import."),
							 record_errrelcol(relid, props[i].name)));
			}
		}
		if (added)
		{
			/* (a table with history: its history takes them all at once) */
			CommandCounterIncrement();
			history_add_columns(relid);
		}
	}

	/*
	 * registered?  With the same key?  (Read with a fresh snapshot: after
	 * waiting on the locks above, a registration the other import just
	 * committed must be seen, not registered over.)
	 */
	{
		Oid			argtypes[1] = {OIDOID};
		Datum		args[1] = {ObjectIdGetDatum(relid)};
		Oid			save_userid;
		int			save_sec;
		List	   *registered = NIL;
		bool		found = false;

		rights_begin_internal(&save_userid, &save_sec);
		if (SPI_execute_with_args("SELECT pg_catalog.unnest(key_columns) FROM _sequenced.config "
								  "WHERE relid OPERATOR(pg_catalog.=) $1::pg_catalog.oid::pg_catalog.regclass "
								  "UNION ALL SELECT NULL FROM _sequenced.config "
								  "WHERE relid OPERATOR(pg_catalog.=) $1::pg_catalog.oid::pg_catalog.regclass",
								  1, argtypes, args, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "failed to read _sequenced.config");
		rights_end_internal(save_userid, save_sec);
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			char	   *k = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1);

			found = true;
			if (k)
				registered = lappend(registered, k);
		}
		if (found)
		{
			bool		same = list_length(registered) == list_length(keynames);

			foreach(lc, keynames)
			{
				bool		hit = false;
				ListCell   *lr;

				foreach(lr, registered)
					if (strcmp(lfirst(lr), lfirst(lc)) == 0)
						hit = true;
				if (!hit)
					same = false;
			}
			if (!same)
			{
				StringInfoData have;

				initStringInfo(&have);
				foreach(lc, registered)
					appendStringInfo(&have, "%s%s", foreach_current_index(lc) ? ", " : "", (char *) lfirst(lc));
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("key_names of %s differ from the key of table \"%s\"", keys_of, relname),
						 errdetail("The table is registered with key (%s).", have.data),
						 record_errrel(relid)));
			}
		}
		else
		{
			RegisterOptions opt = {false, keynames, SEQ_DEFAULT_SEQUENCE_COLUMN, "keep", "hard", "per_key", "write", false,
			"error", "default"};

			registry_register(relid, &opt);
		}
	}
	CommandCounterIncrement();

	AtEOXact_GUC(true, guclevel);
	SPI_finish();
	t->relid = relid;
	return relid;
}

/*
 * Reorder the schema's properties as the json text wrote them; any the
 * text did not list (none, but jsonb decides) keep their place after them.
 */
static void
order_props(Prop *props, int nprops, List *names)
{
	Prop	   *sorted = palloc(sizeof(Prop) * Max(nprops, 1));
	bool	   *used = palloc0(sizeof(bool) * Max(nprops, 1));
	int			n = 0;
	ListCell   *lc;

	foreach(lc, names)
	{
		const char *name = lfirst(lc);

		for (int i = 0; i < nprops; i++)
			if (!used[i] && strcmp(props[i].name, name) == 0)
			{
				sorted[n++] = props[i];
				used[i] = true;
				break;
			}
	}
	for (int i = 0; i < nprops; i++)
		if (!used[i])
			sorted[n++] = props[i];
	memcpy(props, sorted, sizeof(Prop) * nprops);
}

/* The batch body: {"table_name", "key_names", "schema", "messages"} */
static void
import_batch(FunctionCallInfo fcinfo, Jsonb *body, ImportOrder *order)
{
	JsonbValue	buf1,
				buf2,
				buf3,
				buf4;
	JsonbValue *tname,
			   *keys,
			   *schema,
			   *messages;
	char	   *table_name;
	ImportTable t;
	Oid			relid;
	Prop	   *props;
	int			nprops;
	List	   *keynames = NIL;
	CallSession s;
	Batch	   *b;
	Jsonb	   *msgs;

	/* 1. the body */
	tname = getKeyJsonValueFromContainer(&body->root, "table_name", 10, &buf1);
	if (tname == NULL || tname->type != jbvString || tname->val.string.len == 0)
		body_error("the batch has no \"table_name\"",
				   tname ? psprintf("\"table_name\" is %s.", tname->type == jbvString ? "empty" : import_jtype(tname)) : NULL);
	table_name = import_jstring(tname);
	schema = getKeyJsonValueFromContainer(&body->root, "schema", 6, &buf3);
	props = parse_schema(schema, &nprops);
	if (order != NULL)
		order_props(props, nprops, order->names);
	keys = getKeyJsonValueFromContainer(&body->root, "key_names", 9, &buf2);
	if (keys && keys->type != jbvNull)
	{
		int			n;

		if (!import_is_array(keys))
			body_error("\"key_names\" must be an array of strings", NULL);
		n = JsonContainerSize(keys->val.binary.data);
		for (int i = 0; i < n; i++)
		{
			JsonbValue *e = getIthJsonbValueFromContainer(keys->val.binary.data, i);
			Prop	   *p;

			if (e->type != jbvString)
				body_error("\"key_names\" must be an array of strings", NULL);
			p = find_prop(props, nprops, e->val.string.val, e->val.string.len);
			if (p == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("key \"%s\" is not a property of the schema", import_jstring(e))));
			p->is_key = true;
			keynames = lappend(keynames, p->name);
		}
	}
	messages = getKeyJsonValueFromContainer(&body->root, "messages", 8, &buf4);
	validate_messages(messages, props, nprops);

	/* names: with the caller's search_path, before it is pinned */
	import_resolve(table_name, &t);

	/* the messages, in the caller's memory: SPI's is gone after SPI_finish */
	msgs = JsonbValueToJsonb(messages);

	/* 2. the table: jsonb's order is no one's, so key columns go first */
	relid = import_prepare(&t, props, nprops, keynames, order == NULL, true, "the batch");

	/* 3. the messages, as sequenced_upsert(target, messages) */
	call_begin_write(&s, relid, false);
	b = call_new_batch(&s, JsonContainerSize(messages->val.binary.data));
	{
		int			level = call_caller_path_begin(b);

		input_parse_messages(b, msgs);
		call_caller_path_end(level);
	}
	call_apply(&s, b);
	call_emit(b, fcinfo);
	call_end(&s);
}

/*
 * Either body: an object is a batch, an array of records a push body.  An
 * empty array is neither (a push body has 1 to 20,000 records).
 */
static void
import_body(FunctionCallInfo fcinfo, Jsonb *body, ImportOrder *order)
{
	if (JB_ROOT_IS_ARRAY(body) && !JB_ROOT_IS_SCALAR(body) && JB_ROOT_COUNT(body) > 0)
		import_push(fcinfo, body, order);
	else if (!JB_ROOT_IS_OBJECT(body))
		body_error("the batch must be a JSON object", NULL);
	else
		import_batch(fcinfo, body, order);
}

Datum
sequenced_import(PG_FUNCTION_ARGS)
{
	call_init_srf(fcinfo);
	if (PG_ARGISNULL(0))
		body_error("the batch must not be null", NULL);
	import_body(fcinfo, PG_GETARG_JSONB_P(0), NULL);
	return (Datum) 0;
}

/*
 * The same, from json: the created table's columns follow the properties
 * as the text wrote them.
 */
Datum
sequenced_import_json(PG_FUNCTION_ARGS)
{
	ImportOrder order;
	Jsonb	   *body;

	call_init_srf(fcinfo);
	if (PG_ARGISNULL(0))
		body_error("the batch must not be null", NULL);
	body = import_json_read(PG_GETARG_TEXT_PP(0), &order);
	import_body(fcinfo, body, &order);
	return (Datum) 0;
}
