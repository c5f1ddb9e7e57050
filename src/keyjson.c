/*-------------------------------------------------------------------------
 *
 * keyjson.c
 *		Keys as JSON: the "key" of every output row and of the feed, and the
 *		key named in error messages.
 *
 * A key is encoded as to_jsonb() would encode the key columns' values
 * (common types directly, everything else through to_jsonb itself, as the
 * caller: a type's cast to json is the type owner's code, and must never
 * run as the extension's owner -- rights.c), in the key index's column
 * order, so that one key always reads the same whichever path wrote it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

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

/*
 * One key value as a JsonbValue, encoded as to_jsonb() would encode it:
 * common types directly, everything else through to_jsonb itself.
 */
static void
key_value(SeqTable *st, SeqKey *key, Datum d, JsonbValue *out)
{
	SeqColumn  *col = &st->cols[key->attnum - 1];
	Jsonb	   *jb;

	switch (col->typid)
	{
		case INT2OID:
			out->type = jbvNumeric;
			out->val.numeric = int64_to_numeric(DatumGetInt16(d));
			return;
		case INT4OID:
			out->type = jbvNumeric;
			out->val.numeric = int64_to_numeric(DatumGetInt32(d));
			return;
		case INT8OID:
			out->type = jbvNumeric;
			out->val.numeric = int64_to_numeric(DatumGetInt64(d));
			return;
		case NUMERICOID:
			out->type = jbvNumeric;
			out->val.numeric = DatumGetNumeric(d);
			if (!numeric_is_nan(out->val.numeric) && !numeric_is_inf(out->val.numeric))
				return;
			break;
		case BOOLOID:
			out->type = jbvBool;
			out->val.boolean = DatumGetBool(d);
			return;
		case TEXTOID:
		case VARCHAROID:
			{
				text	   *t = DatumGetTextPP(d);

				out->type = jbvString;
				out->val.string.val = VARDATA_ANY(t);
				out->val.string.len = VARSIZE_ANY_EXHDR(t);
				return;
			}
		default:
			break;
	}
	jb = DatumGetJsonbP(FunctionCall1Coll(&key->tojsonb, InvalidOid, d));
	if (JB_ROOT_IS_SCALAR(jb))
		JsonbExtractScalar(&jb->root, out);
	else
	{
		out->type = jbvBinary;
		out->val.binary.data = &jb->root;
		out->val.binary.len = VARSIZE(jb) - VARHDRSZ;
	}
}

/*
 * {"key": scalar} in jsonb's binary form, built directly: the common key of
 * one column costs a fraction of JsonbValueToJsonb's general walk (a 1 kB
 * buffer, a JEntry pass per level), and every output row has one.  The
 * layout is the one that walk writes: the object header, the key's JEntry
 * (an end offset, as for every JB_OFFSET_STRIDE-th child), the value's
 * JEntry (a length), the key's bytes, then the value -- a numeric padded to
 * a 4-byte boundary from the start of the datum.  NULL: not a scalar this
 * handles.
 */
static Jsonb *
one_pair_jsonb(const char *key, uint32 keylen, JsonbValue *v)
{
	uint32		pad = 0;
	uint32		vlen = 0;
	JEntry		ventry;
	Size		size;
	Jsonb	   *res;
	char	   *p;

	switch (v->type)
	{
		case jbvString:
			vlen = v->val.string.len;
			ventry = JENTRY_ISSTRING | vlen;
			break;
		case jbvNumeric:
			if (numeric_is_nan(v->val.numeric))
				return NULL;	/* jsonb writes it as a string */
			pad = INTALIGN(VARHDRSZ + sizeof(uint32) + 2 * sizeof(JEntry) + keylen) -
				(VARHDRSZ + sizeof(uint32) + 2 * sizeof(JEntry) + keylen);
			vlen = VARSIZE_ANY(v->val.numeric);
			ventry = JENTRY_ISNUMERIC | (pad + vlen);
			break;
		case jbvBool:
			ventry = v->val.boolean ? JENTRY_ISBOOL_TRUE : JENTRY_ISBOOL_FALSE;
			break;
		default:
			return NULL;
	}
	size = VARHDRSZ + sizeof(uint32) + 2 * sizeof(JEntry) + keylen + pad + vlen;
	if (size > JENTRY_OFFLENMASK)
		return NULL;			/* the general walk says what is too large */
	res = palloc(size);
	SET_VARSIZE(res, size);
	res->root.header = 1 | JB_FOBJECT;
	res->root.children[0] = JENTRY_ISSTRING | JENTRY_HAS_OFF | keylen;
	res->root.children[1] = ventry;
	p = (char *) &res->root.children[2];
	memcpy(p, key, keylen);
	p += keylen;
	if (pad > 0)
		memset(p, 0, pad);
	p += pad;
	if (v->type == jbvString)
		memcpy(p, v->val.string.val, vlen);
	else if (v->type == jbvNumeric)
		memcpy(p, v->val.numeric, vlen);
	return res;
}

/* The message's key as JSON text, for messages */
char *
input_key_text(SeqTable *st, Message *m)
{
	Jsonb	   *jb = input_key_jsonb(st, m);

	return JsonbToCString(NULL, &jb->root, VARSIZE(jb));
}

/* The message's key as a JSON object, encoded as to_jsonb() would. */
Jsonb *
input_key_jsonb(SeqTable *st, Message *m)
{
	Datum		keyvals[INDEX_MAX_KEYS];

	for (int k = 0; k < st->nkeys; k++)
		keyvals[k] = m->values[st->keys[k].attnum - 1];
	return input_keyvals_jsonb(st, keyvals);
}

/*
 * A key (keyvals[k]: the value of key column k) as a JSON object, encoded as
 * to_jsonb() would.  Runs as the current user: a cast to json of the key's
 * type is the type owner's code, so it must never run here with more rights
 * than the caller's (see catalog.c, "Rights").
 */
Jsonb *
input_keyvals_jsonb(SeqTable *st, Datum *keyvals)
{
	JsonbParseState *ps = NULL;
	JsonbValue *res;

	if (st->nkeys == 1)
	{
		/* one pair needs no sorting of keys: straight to the binary form */
		JsonbPair	pair;
		JsonbValue	obj;

		pair.key.type = jbvString;
		pair.key.val.string.val = st->key_names[0];
		pair.key.val.string.len = strlen(st->key_names[0]);
		pair.order = 0;
		key_value(st, &st->keys[0], keyvals[0], &pair.value);
		if (pair.value.type != jbvBinary)	/* (a container is unpacked below) */
		{
			Jsonb	   *jb = one_pair_jsonb(pair.key.val.string.val, pair.key.val.string.len,
											&pair.value);

			if (jb != NULL)
				return jb;

			obj.type = jbvObject;
			obj.val.object.nPairs = 1;
			obj.val.object.pairs = &pair;
			return JsonbValueToJsonb(&obj);
		}
	}

	pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
	for (int k = 0; k < st->nkeys; k++)
	{
		SeqKey	   *key = &st->keys[k];
		JsonbValue	kv;
		JsonbValue	vv;

		kv.type = jbvString;
		kv.val.string.val = st->key_names[k];
		kv.val.string.len = strlen(st->key_names[k]);
		pushJsonbValue(&ps, WJB_KEY, &kv);
		key_value(st, key, keyvals[k], &vv);
		pushJsonbValue(&ps, WJB_VALUE, &vv);
	}
	res = pushJsonbValue(&ps, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(res);
}
