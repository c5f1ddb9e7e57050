/*-------------------------------------------------------------------------
 *
 * convert.c
 *		One JSON value into the value of a column: what a record's property
 *		becomes in the row (SPEC section 2, "Records to columns").
 *
 * json/jsonb columns take any JSON value as it is; a JSON array fills an
 * array column element by element (as an array literal, each element as
 * the element type's input would read it, JSON ones as JSON text); JSON
 * null is NULL; integral JSON numbers for smallint/integer/bigint columns
 * are read from jsonb's numeric form directly; everything else goes
 * through the column type's input function, as its text (an object or
 * array into a text column: its JSON text), so that the value and its
 * errors are the type's own.  Called under the record context of its
 * record and column (record_context.c), as the caller (rights.c).
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

/* JSON text of any JSON value */
static char *
json_text(JsonbValue *v)
{
	if (v->type == jbvBinary)
		return JsonbToCString(NULL, v->val.binary.data, v->val.binary.len);
	else
	{
		Jsonb	   *jb = JsonbValueToJsonb(v);

		return JsonbToCString(NULL, &jb->root, VARSIZE(jb));
	}
}

/* The text a scalar hands to a type's input function */
char *
convert_scalar_text(JsonbValue *v)
{
	switch (v->type)
	{
		case jbvString:
			return pnstrdup(v->val.string.val, v->val.string.len);
		case jbvNumeric:
			return DatumGetCString(DirectFunctionCall1(numeric_out,
													   NumericGetDatum(v->val.numeric)));
		case jbvBool:
			return pstrdup(v->val.boolean ? "true" : "false");
		default:
			/* objects and arrays become their JSON text */
			return json_text(v);
	}
}

/*
 * The text of one element of a JSON array bound for an array column: as
 * for a column of the element type, a json/jsonb element is the JSON value
 * itself (a string stays a string), anything else the scalar's text.
 */
static char *
element_text(SeqColumn *col, JsonbValue *e)
{
	return col->elemjson ? json_text(e) : convert_scalar_text(e);
}

/* A JSON array as an array literal: {1,2}, {{1,2},{3,4}}, {"a b",NULL} */
static void
append_array_literal(StringInfo s, SeqColumn *col, JsonbContainer *arr)
{
	int			n = JsonContainerSize(arr);

	appendStringInfoChar(s, '{');
	for (int i = 0; i < n; i++)
	{
		JsonbValue *e = getIthJsonbValueFromContainer(arr, i);

		if (i > 0)
			appendStringInfoChar(s, ',');
		if (e->type == jbvNull)
			appendStringInfoString(s, "NULL");
		else if (e->type == jbvBinary && JsonContainerIsArray(e->val.binary.data))
			append_array_literal(s, col, e->val.binary.data);
		else
		{
			char	   *t = element_text(col, e);

			appendStringInfoChar(s, '"');
			for (; *t; t++)
			{
				if (*t == '"' || *t == '\\')
					appendStringInfoChar(s, '\\');
				appendStringInfoChar(s, *t);
			}
			appendStringInfoChar(s, '"');
		}
	}
	appendStringInfoChar(s, '}');
}

static bool
has_nested_array(JsonbContainer *arr)
{
	int			n = JsonContainerSize(arr);

	for (int i = 0; i < n; i++)
	{
		JsonbValue *e = getIthJsonbValueFromContainer(arr, i);

		if (e->type == jbvBinary && JsonContainerIsArray(e->val.binary.data))
			return true;
	}
	return false;
}

static Datum
convert_array(SeqTable *st, SeqColumn *col, JsonbValue *v)
{
	JsonbContainer *arr = v->val.binary.data;
	int			n = JsonContainerSize(arr);
	Datum	   *elems;
	bool	   *nulls;
	int			dims[1];
	int			lbs[1] = {1};

	/* nested arrays: a multidimensional array; array_in checks the shape */
	if (has_nested_array(arr))
	{
		StringInfoData lit;

		initStringInfo(&lit);
		append_array_literal(&lit, col, arr);
		return InputFunctionCall(&col->inproc, lit.data, col->ioparam, col->typmod);
	}
	if (n == 0)
		return PointerGetDatum(construct_empty_array(col->elemtype));
	elems = palloc(sizeof(Datum) * n);
	nulls = palloc(sizeof(bool) * n);
	for (int i = 0; i < n; i++)
	{
		JsonbValue *e = getIthJsonbValueFromContainer(arr, i);

		if (e->type == jbvNull)
		{
			elems[i] = (Datum) 0;
			nulls[i] = true;
		}
		else
		{
			elems[i] = InputFunctionCall(&col->eleminproc, element_text(col, e),
										 col->elemioparam, col->typmod);
			nulls[i] = false;
		}
	}
	dims[0] = n;
	return PointerGetDatum(construct_md_array(elems, nulls, 1, dims, lbs, col->elemtype,
											  col->elemlen, col->elembyval, col->elemalign));
}

/*
 * A JSON number that is an integer (scale 0) within bigint, read without
 * printing it first.  False for anything else (a fraction, "1.0", out of
 * range, a form not handled here): those take the text path, whose errors
 * are the type's own.
 *
 * This reads numeric's short form directly: a uint16 header (sign, display
 * scale, weight) and base-10000 digits.  That is numeric's on-disk format,
 * fixed since PostgreSQL 9.1 (pg_upgrade keeps numeric data as it is), and
 * what jsonb stores for every number; the long form and the special values
 * go the text way.
 */
#define SEQ_NUMERIC_SIGN_MASK		0xC000
#define SEQ_NUMERIC_SHORT			0x8000
#define SEQ_NUMERIC_SHORT_SIGN		0x2000
#define SEQ_NUMERIC_SHORT_DSCALE	0x1F80
#define SEQ_NUMERIC_SHORT_WSIGN		0x0040
#define SEQ_NUMERIC_SHORT_WEIGHT	0x003F

bool
convert_numeric_to_int64(Numeric num, int64 *out)
{
	const char *data = VARDATA_ANY(num);
	int			len = VARSIZE_ANY_EXHDR(num);
	uint16		header;
	int			weight;
	int			ndigits;
	const int16 *digits;
	uint64		acc = 0;

	if (len < (int) sizeof(uint16))
		return false;
	memcpy(&header, data, sizeof(uint16));
	if ((header & SEQ_NUMERIC_SIGN_MASK) != SEQ_NUMERIC_SHORT ||
		(header & SEQ_NUMERIC_SHORT_DSCALE) != 0)
		return false;
	weight = (header & SEQ_NUMERIC_SHORT_WSIGN) ? -1 : (header & SEQ_NUMERIC_SHORT_WEIGHT);
	ndigits = (len - sizeof(uint16)) / sizeof(int16);
	digits = (const int16 *) (data + sizeof(uint16));
	if (ndigits > weight + 1 || weight > 4)
		return false;			/* a fraction, or beyond bigint anyway */
	for (int i = 0; i <= weight; i++)
	{
		int16		d;

		if (i < ndigits)
			memcpy(&d, &digits[i], sizeof(int16));
		else
			d = 0;
		if (d < 0 || d >= 10000 || acc > (PG_UINT64_MAX - d) / 10000)
			return false;
		acc = acc * 10000 + d;
	}
	if (header & SEQ_NUMERIC_SHORT_SIGN)
	{
		if (acc > (uint64) PG_INT64_MAX + 1)
			return false;
		*out = (int64) (0 - acc);
	}
	else
	{
		if (acc > (uint64) PG_INT64_MAX)
			return false;
		*out = (int64) acc;
	}
	return true;
}

/* Convert one JSON value for a column, in the record context of its record and column. */
void
convert_json_value(SeqTable *st, SeqColumn *col, JsonbValue *v, Datum *out, bool *isnull)
{
	Datum		d;

	if (v->type == jbvNull)
	{
		*out = (Datum) 0;
		*isnull = true;
		return;
	}
	*isnull = false;
	switch (col->kind)
	{
		case COLKIND_JSONB:
			d = JsonbPGetDatum(JsonbValueToJsonb(v));
			if (col->typid != col->basetypid)
				domain_check(d, false, col->typid, &col->domain_extra, st->mcxt);
			*out = d;
			return;
		case COLKIND_JSON:
			*out = InputFunctionCall(&col->inproc, json_text(v), col->ioparam, col->typmod);
			return;
		case COLKIND_ARRAY:
			if (v->type == jbvBinary && JsonContainerIsArray(v->val.binary.data))
			{
				d = convert_array(st, col, v);
				if (col->typid != col->basetypid)
					domain_check(d, false, col->typid, &col->domain_extra, st->mcxt);
				*out = d;
				return;
			}
			break;
		case COLKIND_PLAIN:
			if (col->typid == BOOLOID && v->type == jbvBool)
			{
				*out = BoolGetDatum(v->val.boolean);	/* as boolin("true") */
				return;
			}
			if (col->typid == TEXTOID && v->type == jbvString)
			{
				*out = PointerGetDatum(cstring_to_text_with_len(v->val.string.val,
																v->val.string.len));
				return;
			}
			if (v->type == jbvNumeric &&
				(col->typid == INT4OID || col->typid == INT8OID || col->typid == INT2OID))
			{
				/* the common integer columns: no detour through text */
				int64		i;

				if (convert_numeric_to_int64(v->val.numeric, &i))
				{
					if (col->typid == INT8OID)
					{
						*out = Int64GetDatum(i);
						return;
					}
					if (col->typid == INT4OID && i >= PG_INT32_MIN && i <= PG_INT32_MAX)
					{
						*out = Int32GetDatum((int32) i);
						return;
					}
					if (col->typid == INT2OID && i >= PG_INT16_MIN && i <= PG_INT16_MAX)
					{
						*out = Int16GetDatum((int16) i);
						return;
					}
				}
			}
			break;
	}
	*out = InputFunctionCall(&col->inproc, convert_scalar_text(v), col->ioparam, col->typmod);
}
