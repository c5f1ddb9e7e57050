/*-------------------------------------------------------------------------
 *
 * jsonvalue.h
 *		JSON values read as pg_sequenced reads them: a message's sequence,
 *		a scalar's text, an integral number, how a value is named and
 *		quoted in an error.
 *
 * Shared by the apply path (input.c, convert.c, whose definitions these
 * are) and the proxy's split (proxy.c), which checks a batch on a server
 * that has no pg_sequenced catalog and so includes this header alone --
 * one reading, so that the proxy refuses exactly what a shard would, in
 * the same words.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_SEQUENCED_JSONVALUE_H
#define PG_SEQUENCED_JSONVALUE_H

#include "utils/jsonb.h"
#include "utils/numeric.h"

extern char *convert_scalar_text(JsonbValue *v);
extern bool convert_numeric_to_int64(Numeric num, int64 *out);
extern const char *input_json_type_name(JsonbValue *v);
extern char *input_clip(const char *s, int len);
extern int64 input_message_sequence(int ord, JsonbValue *v, bool seq_ts, const char *relname);

#endif							/* PG_SEQUENCED_JSONVALUE_H */
