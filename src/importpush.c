/*-------------------------------------------------------------------------
 *
 * importpush.c
 *		The push body of sequenced_import: a JSON array of records, as the
 *		hosted import API's push endpoint (/v2/import/push) takes them.
 *
 *	[{"client_id": 7723, "table_name": "customers", "sequence": 1565880017,
 *	  "action": "upsert", "key_names": ["id"], "data": {"id": 4, ...}},
 *	 {"client_id": 7723, "table_name": "orders", ...}, ...]
 *
 * As that API defines the body: 1 to 20,000 records, each with every one of
 * these fields; one client_id in all of them (it is checked and otherwise
 * unused: the database's own roles decide who writes what); records of
 * several tables in one body; a table's primary key named by key_names in
 * each record, its properties present and not null in data; no schema: a
 * column is typed by its values' JSON types (integer bigint, other numbers
 * numeric, string text -- a date-time string too --, boolean, object and
 * array jsonb, as SPEC section 5 types a schema's).  Beyond that API,
 * "action" may be "delete", as in a batch's messages.
 *
 * Steps, all in the caller's transaction:
 *	1. validate every record, before anything is changed (the record's
 *	   fields, key_names the same for all records of a table, keys present
 *	   and not null), look its table's name up, and note per table the
 *	   properties in the order they were first written (json: as the text
 *	   wrote them; jsonb: key columns first) and their values' types;
 *	2. per table, in the order of the tables (schema oid, then name:
 *	   two bodies naming the same tables in other orders then take their
 *	   locks in one order, and never deadlock): import_prepare (create
 *	   the table and register it, add missing columns, check a registered
 *	   table's key); an existing column is used as it is, its type's input
 *	   function converting the value as for sequenced_upsert; a new column
 *	   whose values have two types no one column takes (a string and a
 *	   number: the hosted API would split it into two) is refused, 42804;
 *	   a property that is null in every record and has no column gets none;
 *	3. per table, its records applied as one call of sequenced_upsert(target,
 *	   messages), each message numbered by its record's position in the
 *	   array, so that errors and the output name that position;
 *	4. one output row per record, in array order.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "pg_sequenced.h"
#include "import.h"

typedef struct PushRecord
{
	int			group;
	MsgAction	action;
	int64		seq;
	JsonbValue	data;			/* (binary: in the body) */
} PushRecord;

/* The records of one table */
typedef struct PushGroup
{
	int			first_ord;		/* its first record */
	ImportTable t;
	List	   *keynames;		/* as its first record names them */
	Prop	   *props;
	int			nprops;
	int			maxprops;
	HTAB	   *byname;			/* property name -> index in props */
	int			nrecs;
	bool		deletes;
} PushGroup;

typedef struct PropEntry
{
	char		name[NAMEDATALEN];
	int			idx;
} PropEntry;

/* A table name as records write it, and its group */
typedef struct NameEntry
{
	char	   *table_name;
	int			group;
} NameEntry;

typedef struct PushResult
{
	Jsonb	   *key;
	int64		seq;
	Outcome		outcome;
} PushResult;

static void
record_error(int ord, const char *msg, JsonbValue *found)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("record %d: %s, found %s", ord, msg, import_jtype(found))));
}

static void
missing_field(int ord, const char *field, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("record %d has no \"%s\"", ord, field),
			 errdetail("%s", detail)));
}

static JsonbValue *
field(JsonbContainer *rec, const char *name, JsonbValue *buf)
{
	JsonbValue *v = getKeyJsonValueFromContainer(rec, name, strlen(name), buf);

	return (v == NULL || v->type == jbvNull) ? NULL : v;
}

static int64
int8_of(JsonbValue *v)
{
	return DatumGetInt64(DirectFunctionCall1(numeric_int8, NumericGetDatum(v->val.numeric)));
}

/* key_names as a list of names, each once */
static List *
read_keynames(int ord, JsonbValue *keys)
{
	List	   *names = NIL;
	int			n;

	if (keys == NULL)
		missing_field(ord, "key_names",
					  "Every record of a push body names the primary key of its table: an array of 1 or more property names.");
	if (!import_is_array(keys))
		record_error(ord, "\"key_names\" must be an array of strings", keys);
	n = JsonContainerSize(keys->val.binary.data);
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("record %d: \"key_names\" is empty", ord),
				 errdetail("A push body's tables have a primary key; records of a table without one go in a batch body.")));
	for (int i = 0; i < n; i++)
	{
		JsonbValue *e = getIthJsonbValueFromContainer(keys->val.binary.data, i);
		char	   *name;
		ListCell   *lc;

		if (e->type != jbvString)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("record %d: \"key_names\" must be an array of strings, found an element that is %s",
							ord, import_jtype(e))));
		name = import_jstring(e);
		foreach(lc, names)
			if (strcmp(lfirst(lc), name) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("record %d: \"key_names\" names \"%s\" twice", ord, name)));
		names = lappend(names, name);
	}
	return names;
}

static bool
same_keys(List *a, List *b)
{
	ListCell   *la;

	if (list_length(a) != list_length(b))
		return false;
	foreach(la, a)
	{
		bool		hit = false;
		ListCell   *lb;

		foreach(lb, b)
			if (strcmp(lfirst(la), lfirst(lb)) == 0)
				hit = true;
		if (!hit)
			return false;
	}
	return true;
}

static char *
keys_text(List *keys)
{
	StringInfoData s;
	ListCell   *lc;

	initStringInfo(&s);
	foreach(lc, keys)
		appendStringInfo(&s, "%s%s", foreach_current_index(lc) ? ", " : "", (char *) lfirst(lc));
	return s.data;
}

/* The group's property of this name, added (untyped) when new */
static Prop *
group_prop(PushGroup *g, int ord, const char *name, int len)
{
	PropEntry  *e;
	char		key[NAMEDATALEN];
	bool		found;

	if (len == 0 || len >= NAMEDATALEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("record %d: property name \"%s\" is not a valid identifier",
						ord, input_clip(name, len)),
				 errdetail("Names must be 1 to %d bytes long.", NAMEDATALEN - 1)));
	memset(key, 0, sizeof(key));
	memcpy(key, name, len);
	e = hash_search(g->byname, key, HASH_ENTER, &found);
	if (!found)
	{
		Prop	   *p;
		ListCell   *lc;

		if (g->nprops == g->maxprops)
		{
			g->maxprops *= 2;
			g->props = repalloc(g->props, sizeof(Prop) * g->maxprops);
		}
		e->idx = g->nprops++;
		p = &g->props[e->idx];
		memset(p, 0, sizeof(Prop));
		p->name = pstrdup(key);
		p->type = PT_NULL;
		foreach(lc, g->keynames)
			if (strcmp(lfirst(lc), p->name) == 0)
				p->is_key = true;
	}
	return &g->props[e->idx];
}

/* A value's type, as a new column would take it */
static PropType
value_type(JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			return PT_NULL;
		case jbvString:
			return PT_STRING;
		case jbvBool:
			return PT_BOOLEAN;
		case jbvNumeric:
			return import_integral_bigint(v, false) ? PT_INTEGER : PT_NUMBER;
		case jbvBinary:
			return JsonContainerIsArray(v->val.binary.data) ? PT_ARRAY : PT_OBJECT;
		default:
			return PT_STRING;
	}
}

/*
 * One more value of p: integers and other numbers share numeric; any other
 * two types share no column, which import_prepare refuses if it has to
 * make one.
 */
static void
merge_type(Prop *p, PropType t, int ord)
{
	if (t == PT_NULL)
	{
		p->nullable = true;
		return;
	}
	if (p->mixed_ord > 0 || p->type == t || (p->type == PT_NUMBER && t == PT_INTEGER))
		return;
	if (p->type == PT_NULL || (p->type == PT_INTEGER && t == PT_NUMBER))
	{
		p->type = t;
		p->type_ord = ord;
		return;
	}
	p->mixed_type = t;
	p->mixed_ord = ord;
}

static PushGroup *
new_group(int ord, List *keynames, bool keys_first)
{
	PushGroup  *g = palloc0(sizeof(PushGroup));
	HASHCTL		ctl;

	g->first_ord = ord;
	g->keynames = keynames;
	g->maxprops = 16;
	g->props = palloc(sizeof(Prop) * g->maxprops);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = NAMEDATALEN;
	ctl.entrysize = sizeof(PropEntry);
	ctl.hcxt = CurrentMemoryContext;
	g->byname = hash_create("pg_sequenced push properties", 64, &ctl,
							HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	if (keys_first)
	{
		ListCell   *lc;

		foreach(lc, keynames)
			(void) group_prop(g, ord, lfirst(lc), strlen(lfirst(lc)));
	}
	return g;
}

/*
 * Step 1 for one record: its fields, its table's group, its properties.
 */
static void
read_record(int ord, JsonbValue *e, List *written, PushRecord *r,
			List **groups, List **names, int64 *client_id, bool keys_first)
{
	JsonbContainer *rec;
	JsonbValue	buf;
	JsonbValue *v;
	char	   *table_name;
	List	   *keynames;
	PushGroup  *g = NULL;
	ListCell   *lc;
	JsonbIterator *it;
	JsonbValue	k,
				val;
	JsonbIteratorToken tok;

	if (!import_is_object(e))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("record %d is not a JSON object", ord),
				 errdetail("It is %s.", import_jtype(e))));
	rec = e->val.binary.data;

	/* client_id: the same in every record */
	v = field(rec, "client_id", &buf);
	if (v == NULL)
		missing_field(ord, "client_id", "Every record of a push body carries its sender's client_id, the same in all of them.");
	if (v->type != jbvNumeric || !import_integral_bigint(v, true))
		record_error(ord, "\"client_id\" must be an integer", v);
	if (ord == 1)
		*client_id = int8_of(v);
	else if (int8_of(v) != *client_id)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("record %d has client_id " INT64_FORMAT ", but record 1 has " INT64_FORMAT,
						ord, int8_of(v), *client_id),
				 errdetail("All records of a push body have the same client_id.")));

	v = field(rec, "table_name", &buf);
	if (v == NULL || v->type != jbvString || v->val.string.len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("record %d has no \"table_name\"", ord),
				 v ? errdetail("\"table_name\" is %s.", v->type == jbvString ? "empty" : import_jtype(v)) : 0));
	table_name = import_jstring(v);

	v = field(rec, "sequence", &buf);
	if (v == NULL)
		missing_field(ord, "sequence", "Every record needs \"sequence\": an integer.");
	if (v->type != jbvNumeric || !import_integral_bigint(v, true))
		record_error(ord, "\"sequence\" must be an integer within the range of bigint", v);
	r->seq = int8_of(v);

	v = field(rec, "action", &buf);
	if (v == NULL)
		missing_field(ord, "action", "The action is \"upsert\" or \"delete\".");
	if (v->type != jbvString)
		record_error(ord, "\"action\" must be \"upsert\" or \"delete\"", v);
	if (v->val.string.len == 6 && memcmp(v->val.string.val, "upsert", 6) == 0)
		r->action = MSG_UPSERT;
	else if (v->val.string.len == 6 && memcmp(v->val.string.val, "delete", 6) == 0)
		r->action = MSG_DELETE;
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("record %d has unknown action \"%s\"", ord,
						input_clip(v->val.string.val, v->val.string.len)),
				 errhint("The action is \"upsert\" or \"delete\".")));

	keynames = read_keynames(ord, field(rec, "key_names", &buf));

	v = field(rec, "data", &buf);
	if (!import_is_object(v))
		record_error(ord, "\"data\" must be an object", v);
	r->data = *v;

	/* the table: its name looked up once, with the caller's search_path */
	r->group = -1;
	foreach(lc, *names)
	{
		NameEntry  *ne = lfirst(lc);

		if (strcmp(ne->table_name, table_name) == 0)
			r->group = ne->group;
	}
	if (r->group < 0)
	{
		ImportTable t;
		NameEntry  *ne = palloc(sizeof(NameEntry));

		import_resolve(table_name, &t);
		/* another spelling of a table already named ("imp.t" and "t") */
		foreach(lc, *groups)
		{
			PushGroup  *o = lfirst(lc);

			if (o->t.nspid == t.nspid && strcmp(o->t.relname, t.relname) == 0)
				r->group = foreach_current_index(lc);
		}
		if (r->group < 0)
		{
			g = new_group(ord, keynames, keys_first);
			g->t = t;
			*groups = lappend(*groups, g);
			r->group = list_length(*groups) - 1;
		}
		ne->table_name = table_name;
		ne->group = r->group;
		*names = lappend(*names, ne);
	}
	g = list_nth(*groups, r->group);
	g->nrecs++;
	if (r->action == MSG_DELETE)
		g->deletes = true;

	if (!same_keys(keynames, g->keynames))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("record %d: key_names differ from those of record %d for table \"%s\"",
						ord, g->first_ord, g->t.relname),
				 errdetail("Record %d names (%s); record %d names (%s).",
						   ord, keys_text(keynames), g->first_ord, keys_text(g->keynames)),
				 errhint("All records of one table name the same key.")));

	/* key properties present and not null, as the API requires */
	foreach(lc, keynames)
	{
		const char *name = lfirst(lc);

		v = getKeyJsonValueFromContainer(r->data.val.binary.data, name, strlen(name), &buf);
		if (v == NULL || v->type == jbvNull)
			ereport(ERROR,
					(errcode(ERRCODE_NOT_NULL_VIOLATION),
					 errmsg("record %d has no value for key property \"%s\"", ord, name)));
	}

	/* the properties: first in the order the text wrote them, then typed */
	foreach(lc, written)
		(void) group_prop(g, ord, lfirst(lc), strlen(lfirst(lc)));
	it = JsonbIteratorInit(r->data.val.binary.data);
	tok = JsonbIteratorNext(&it, &k, true);
	while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
	{
		if (tok != WJB_KEY)
			continue;
		tok = JsonbIteratorNext(&it, &val, true);
		merge_type(group_prop(g, ord, k.val.string.val, k.val.string.len), value_type(&val), ord);
	}
}

/* A record's data as a Jsonb of its own, without the properties skipped */
static Jsonb *
record_data(PushGroup *g, JsonbValue *data, bool strip)
{
	JsonbParseState *ps = NULL;
	JsonbIterator *it;
	JsonbValue	k,
				val;
	JsonbIteratorToken tok;

	if (!strip)
		return JsonbValueToJsonb(data);
	(void) pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
	it = JsonbIteratorInit(data->val.binary.data);
	tok = JsonbIteratorNext(&it, &k, true);
	while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
	{
		PropEntry  *e;
		char		key[NAMEDATALEN];

		if (tok != WJB_KEY)
			continue;
		tok = JsonbIteratorNext(&it, &val, true);
		memset(key, 0, sizeof(key));
		memcpy(key, k.val.string.val, k.val.string.len);	/* (checked: short) */
		e = hash_search(g->byname, key, HASH_FIND, NULL);
		if (e != NULL && g->props[e->idx].skip)
			continue;
		(void) pushJsonbValue(&ps, WJB_KEY, &k);
		(void) pushJsonbValue(&ps, WJB_VALUE, &val);
	}
	return JsonbValueToJsonb(pushJsonbValue(&ps, WJB_END_OBJECT, NULL));
}

/*
 * Steps 2 and 3 for one table: its records, numbered by their positions in
 * the body, applied as one call.  A message's number is what
 * input_add_message makes it, the batch's count of messages: set to the
 * record's position less one before each record, then the messages moved
 * together (in the same order) before they are applied.
 */
static void
apply_group(PushGroup *g, int gi, PushRecord *recs, int n, PushResult *results,
			bool keys_first)
{
	MemoryContext callercxt = CurrentMemoryContext;
	Jsonb	  **datas = palloc(sizeof(Jsonb *) * g->nrecs);
	bool		strip = false;
	CallSession s;
	Batch	   *b;
	int			j;
	Oid			relid;

	relid = import_prepare(&g->t, g->props, g->nprops, g->keynames, keys_first, false,
						   psprintf("record %d", g->first_ord));
	for (int i = 0; i < g->nprops; i++)
		strip |= g->props[i].skip;
	/* in the caller's memory: the call's is SPI's */
	j = 0;
	for (int i = 0; i < n; i++)
		if (recs[i].group == gi)
			datas[j++] = record_data(g, &recs[i].data, strip);

	call_begin_write(&s, relid, g->deletes);
	if (s.st->seq_ts)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("record %d has a sequence that is not a timestamp", g->first_ord),
				 errdetail("Table %s orders by a timestamptz column; the sequences of a push body are integers, whose units would be a guess.",
						   s.st->relname),
				 record_errtable(s.st)));
	b = call_new_batch(&s, n);
	{
		int			level = call_caller_path_begin(b);

		j = 0;
		for (int i = 0; i < n; i++)
			if (recs[i].group == gi)
			{
				b->nmsgs = i;	/* this message is number i + 1 */
				input_parse_data(b, datas[j++], recs[i].seq, recs[i].action);
			}
		call_caller_path_end(level);
	}
	j = 0;
	for (int i = 0; i < n; i++)
		if (recs[i].group == gi)
		{
			if (i != j)
				b->msgs[j] = b->msgs[i];
			j++;
		}
	b->nmsgs = j;

	call_apply(&s, b);

	for (int i = 0; i < b->nmsgs; i++)
	{
		Message    *m = &b->msgs[i];
		PushResult *r = &results[m->ord - 1];
		MemoryContext old = MemoryContextSwitchTo(callercxt);

		r->key = b->st->nkeys > 0 ? input_key_jsonb(b->st, m) : NULL;
		MemoryContextSwitchTo(old);
		r->seq = m->seq;
		r->outcome = (Outcome) m->outcome;
		if (r->outcome < OUT_INSERTED || r->outcome > OUT_LAST)
			elog(ERROR, "failed to decide the outcome of record %d", m->ord);
	}
	call_end(&s);
}

/* Tables by schema (its oid), then name */
static int
group_cmp(const void *a, const void *b, void *arg)
{
	PushGroup  *ga = list_nth((List *) arg, *(const int *) a);
	PushGroup  *gb = list_nth((List *) arg, *(const int *) b);

	if (ga->t.nspid != gb->t.nspid)
		return ga->t.nspid < gb->t.nspid ? -1 : 1;
	return strcmp(ga->t.relname, gb->t.relname);
}

void
import_push(FunctionCallInfo fcinfo, Jsonb *body, ImportOrder *order)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			n = JB_ROOT_COUNT(body);
	bool		keys_first = order == NULL;
	PushRecord *recs;
	PushResult *results;
	List	   *groups = NIL;
	List	   *names = NIL;
	int64		client_id = 0;
	int			ngroups;
	int		   *sorted;
	Datum		outcomes[OUT_LAST + 1];

	if (n > IMPORT_MAX_MESSAGES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the push body has %d records", n),
				 errdetail("A push body has 1 to %d records.", IMPORT_MAX_MESSAGES)));
	recs = palloc0(sizeof(PushRecord) * n);
	results = palloc0(sizeof(PushResult) * n);

	/* 1. every record */
	for (int i = 0; i < n; i++)
	{
		JsonbValue *e = getIthJsonbValueFromContainer(&body->root, i);
		List	   *written = NIL;

		if (order != NULL && i < list_length(order->elems))
			written = list_nth(order->elems, i);
		read_record(i + 1, e, written, &recs[i], &groups, &names, &client_id, keys_first);
	}

	/*
	 * 2 and 3, table by table, in the order of their names: two bodies
	 * naming the same tables in other orders lock them, and their keys, in
	 * the same order, so that they never deadlock.
	 */
	ngroups = list_length(groups);
	sorted = palloc(sizeof(int) * ngroups);
	for (int gi = 0; gi < ngroups; gi++)
		sorted[gi] = gi;
	qsort_arg(sorted, ngroups, sizeof(int), group_cmp, groups);
	for (int i = 0; i < ngroups; i++)
		apply_group(list_nth(groups, sorted[i]), sorted[i], recs, n, results, keys_first);

	/* 4. the output, in the body's order */
	for (int o = OUT_INSERTED; o <= OUT_LAST; o++)
		outcomes[o] = CStringGetTextDatum(call_outcome_name((Outcome) o));
	for (int i = 0; i < n; i++)
	{
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};

		values[0] = Int32GetDatum(i + 1);
		if (results[i].key != NULL)
			values[1] = JsonbPGetDatum(results[i].key);
		else
			nulls[1] = true;
		values[2] = Int64GetDatum(results[i].seq);
		values[3] = outcomes[results[i].outcome];
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
}
