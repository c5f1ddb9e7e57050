/*-------------------------------------------------------------------------
 *
 * staging.c
 *		sequenced_apply_staging: a trigger that applies the rows inserted
 *		into a staging (inbox) table to a registered target.
 *
 *	CREATE TRIGGER apply AFTER INSERT ON inbox REFERENCING NEW TABLE AS new_rows
 *	  FOR EACH STATEMENT EXECUTE FUNCTION sequenced_apply_staging('target' [, 'keep']);
 *
 * The rows of one INSERT or COPY are one call's messages, in order, under
 * every rule of sequenced_upsert.  They are read from the transition table
 * and converted straight from the staging tuples (no jsonb on the way):
 * a staging column of the target column's type is copied, another type
 * goes through its output and the target type's input function.  As a
 * row-level BEFORE INSERT trigger, each row is applied on its own and not
 * stored.
 *
 * Staging columns: some or all of the target's data columns, the target's
 * sequence column (required), and optionally _sdc_deleted boolean (true:
 * the row is a delete).  A staging column the target lacks is an error,
 * raised when the trigger first fires.
 *
 * By default the applied rows are then deleted from the staging table (as
 * the inserting role, which needs DELETE on it); 'keep' leaves them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "catalog/objectaddress.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/regproc.h"
#include "utils/rel.h"
#include "utils/tuplestore.h"
#include "utils/varlena.h"

#include "utils/timestamp.h"

#include "utils/jsonb.h"

#include "pg_sequenced.h"

PG_FUNCTION_INFO_V1(sequenced_apply_staging);

typedef enum StagingRole
{
	SROLE_DATA,					/* a target column */
	SROLE_SEQUENCE,
	SROLE_DELETED,
	SROLE_IGNORE,				/* dropped, or not a column (unknown_properties => 'ignore') */
	SROLE_EXTRA					/* not a column: into _sdc_extra ('column') */
} StagingRole;

typedef struct StagingColumn
{
	StagingRole role;
	SeqColumn  *target;			/* SROLE_DATA */
	bool		same_type;		/* copy the Datum as it is */
	FmgrInfo	outproc;		/* else: output function of the staging type */
	char	   *name;			/* SROLE_EXTRA: the property's name, */
	FmgrInfo	tojsonb;		/* ... and to_jsonb() for its type */
	int16		typlen;
	bool		typbyval;
	Oid			typid;
} StagingColumn;

typedef struct StagingMap
{
	int			natts;
	StagingColumn *cols;
} StagingMap;

static void
protocol_error(const char *msg)
{
	ereport(ERROR,
			(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
			 errmsg("sequenced_apply_staging: %s", msg)));
}

/*
 * The target named by the first trigger argument.  An unqualified name is
 * looked up in the staging table's schema first, then in search_path.
 */
static Oid
resolve_target(const char *name, Relation staging)
{
	List	   *names = stringToQualifiedNameList(name);

	if (list_length(names) == 1)
	{
		Oid			relid = get_relname_relid(strVal(linitial(names)),
											  RelationGetNamespace(staging));

		/*
		 * Only a table of the staging table's owner: in a schema where
		 * others may create tables, another role's table of that name must
		 * not catch the rows (and run its triggers as the inserting role).
		 */
		if (OidIsValid(relid) && rights_rel_owner(relid) == staging->rd_rel->relowner)
			return relid;
	}
	return RangeVarGetRelid(makeRangeVarFromNameList(names), NoLock, false);
}

static StagingMap *
build_map(SeqTable *st, Relation staging)
{
	TupleDesc	desc = RelationGetDescr(staging);
	StagingMap *map = palloc0(sizeof(StagingMap));
	bool		has_seq = false;

	map->natts = desc->natts;
	map->cols = palloc0(sizeof(StagingColumn) * desc->natts);
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		StagingColumn *sc = &map->cols[i];
		const char *name = NameStr(att->attname);

		sc->typid = att->atttypid;
		sc->typlen = att->attlen;
		sc->typbyval = att->attbyval;
		if (att->attisdropped)
		{
			sc->role = SROLE_IGNORE;
			continue;
		}
		if (strcmp(name, SEQ_STAGING_DELETED_COLUMN) == 0)
		{
			if (att->atttypid != BOOLOID)
				ereport(ERROR,
						(errcode(ERRCODE_DATATYPE_MISMATCH),
						 errmsg("column \"%s\" of staging table \"%s\" must be boolean",
								name, RelationGetRelationName(staging)),
						 record_errrelcol(RelationGetRelid(staging), name)));
			sc->role = SROLE_DELETED;
			continue;
		}
		sc->target = input_lookup_column(st, name, strlen(name));
		/* a column the target lacks, as a record's unknown property */
		if (sc->target == NULL && st->unknown == UNKNOWN_IGNORE)
		{
			sc->role = SROLE_IGNORE;
			continue;
		}
		if (sc->target == NULL && st->unknown == UNKNOWN_COLUMN)
		{
			sc->role = SROLE_EXTRA;
			sc->name = pstrdup(name);
			catalog_setup_tojsonb(&sc->tojsonb, att->atttypid, CurrentMemoryContext);
			continue;
		}
		if (sc->target == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of staging table \"%s\" is not a column of table %s",
							name, RelationGetRelationName(staging), st->relname),
					 errhint("A staging table has some or all of the target's data columns, its sequence column, and optionally _sdc_deleted boolean."),
					 record_errrelcol(RelationGetRelid(staging), name)));
		if (sc->target->attnum == st->seqatt)
		{
			sc->role = SROLE_SEQUENCE;
			has_seq = true;
		}
		else if (sc->target->guard != COLGUARD_NONE)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of staging table \"%s\" cannot be applied to table %s",
							name, RelationGetRelationName(staging), st->relname),
					 errdetail("%s", input_guard_reason(sc->target->guard)),
					 record_errrelcol(RelationGetRelid(staging), name)));
		else
			sc->role = SROLE_DATA;

		sc->same_type = att->atttypid == sc->target->typid &&
			(sc->target->typmod < 0 || att->atttypmod == sc->target->typmod);
		if (!sc->same_type || sc->role == SROLE_SEQUENCE)
		{
			Oid			outfunc;
			bool		isvarlena;

			getTypeOutputInfo(att->atttypid, &outfunc, &isvarlena);
			fmgr_info(outfunc, &sc->outproc);
		}
	}
	if (!has_seq)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("staging table \"%s\" has no column \"%s\"",
						RelationGetRelationName(staging),
						st->cols[st->seqatt - 1].name),
				 errhint("A staging table must carry the sequence column of table %s.", st->relname),
				 record_errrel(RelationGetRelid(staging))));
	return map;
}

static int64
staging_sequence(SeqTable *st, StagingColumn *sc, Datum d)
{
	/*
	 * A table ordered by a timestamptz column takes timestamps (a
	 * timestamptz staging column, or text read as one); a bigint-ordered
	 * one takes integers.  (The two are the same int64 inside.)
	 */
	if (st->seq_ts)
	{
		if (sc->typid == TIMESTAMPTZOID)
			return DatumGetInt64(d);
		if (sc->typid == INT8OID || sc->typid == INT4OID || sc->typid == INT2OID ||
			sc->typid == NUMERICOID)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("the sequence column of the staging table is a number, but table %s orders by a timestamptz column",
							st->relname),
					 errhint("Make the staging table's sequence column timestamptz (or text holding timestamps).")));
		return DatumGetInt64(DirectFunctionCall3(timestamptz_in,
												 CStringGetDatum(OutputFunctionCall(&sc->outproc, d)),
												 ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)));
	}
	if (sc->typid == TIMESTAMPTZOID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("the sequence column of the staging table is a timestamptz, but table %s orders by a bigint column",
						st->relname)));
	switch (sc->typid)
	{
		case INT8OID:
			return DatumGetInt64(d);
		case INT4OID:
			return DatumGetInt32(d);
		case INT2OID:
			return DatumGetInt16(d);
		default:
			{
				char	   *s = OutputFunctionCall(&sc->outproc, d);

				return DatumGetInt64(DirectFunctionCall1(int8in, CStringGetDatum(s)));
			}
	}
}

/* One staging row -> one message of the batch */
static void
add_row(Batch *b, StagingMap *map, Datum *values, bool *nulls)
{
	Message    *m = input_add_message(b);
	JsonbParseState *extra = NULL;

	m->action = MSG_UPSERT;
	record_context_at(m->ord, NULL);
	for (int i = 0; i < map->natts; i++)
	{
		StagingColumn *sc = &map->cols[i];

		switch (sc->role)
		{
			case SROLE_IGNORE:
				break;
			case SROLE_EXTRA:
				{
					/* the value as to_jsonb() gives it (as the caller: rights.c) */
					JsonbValue	k;
					JsonbValue	v;
					Jsonb	   *jb;

					if (extra == NULL)
						(void) pushJsonbValue(&extra, WJB_BEGIN_OBJECT, NULL);
					k.type = jbvString;
					k.val.string.val = sc->name;
					k.val.string.len = strlen(sc->name);
					(void) pushJsonbValue(&extra, WJB_KEY, &k);
					if (nulls[i])
						v.type = jbvNull;
					else
					{
						jb = DatumGetJsonbP(FunctionCall1(&sc->tojsonb, values[i]));
						v.type = jbvBinary;
						v.val.binary.data = &jb->root;
						v.val.binary.len = VARSIZE(jb) - VARHDRSZ;
					}
					(void) pushJsonbValue(&extra, WJB_VALUE, &v);
				}
				break;
			case SROLE_DELETED:
				if (!nulls[i] && DatumGetBool(values[i]))
					m->action = MSG_DELETE;
				break;
			case SROLE_SEQUENCE:
				record_context_at(m->ord, sc->target->name);
				if (nulls[i])
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("record %d has no sequence", m->ord),
							 errdetail("Column \"%s\" is null.", sc->target->name)));
				m->seq = staging_sequence(b->st, sc, values[i]);
				break;
			case SROLE_DATA:
				{
					int			a = sc->target->attnum - 1;

					MSG_PRESENT(m, b->st->natts)[a] = true;
					MSG_ISNULL(m, b->st->natts)[a] = nulls[i];
					if (nulls[i])
						break;
					record_context_at(m->ord, sc->target->name);
					if (sc->same_type)
						m->values[a] = datumCopy(values[i], sc->typbyval, sc->typlen);
					else
						m->values[a] = InputFunctionCall(&sc->target->inproc,
														 OutputFunctionCall(&sc->outproc, values[i]),
														 sc->target->ioparam, sc->target->typmod);
				}
				break;
		}
	}
	if (extra != NULL)
	{
		int			a = b->st->extraatt - 1;

		m->values[a] = JsonbPGetDatum(JsonbValueToJsonb(pushJsonbValue(&extra, WJB_END_OBJECT, NULL)));
		MSG_ISNULL(m, b->st->natts)[a] = false;
		MSG_PRESENT(m, b->st->natts)[a] = true;
	}
	record_context_at(m->ord, NULL);
	input_finish_message(b, m);
}

/*
 * Remove the rows this statement inserted into the staging table: those of
 * this (sub)transaction with the statement's command id.  The inserting role
 * needs DELETE on the staging table; the DELETE itself runs as the table's
 * owner, since finding the rows by xmin and cmin would otherwise also need
 * SELECT.
 */
static void
consume_staging(Relation staging, CommandId cid, uint64 nrows)
{
	Oid			argtypes[2] = {XIDOID, CIDOID};
	Datum		args[2] = {TransactionIdGetDatum(GetCurrentTransactionId()),
	CommandIdGetDatum(cid)};
	char	   *sql;
	Oid			save_userid;
	int			save_sec;

	if (pg_class_aclcheck(RelationGetRelid(staging), GetUserId(), ACL_DELETE) != ACLCHECK_OK)
		aclcheck_error(ACLCHECK_NO_PRIV, get_relkind_objtype(staging->rd_rel->relkind),
					   RelationGetRelationName(staging));
	sql = psprintf("DELETE FROM %s%s WHERE xmin OPERATOR(pg_catalog.=) $1 AND cmin OPERATOR(pg_catalog.=) $2",
				   staging->rd_rel->relkind == RELKIND_PARTITIONED_TABLE ? "" : "ONLY ",
				   catalog_qualified_name(RelationGetRelid(staging)));
	rights_pin_path();
	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(staging->rd_rel->relowner,
						   save_sec | SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
	if (SPI_execute_with_args(sql, 2, argtypes, args, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "failed to remove applied rows from the staging table");
	SetUserIdAndSecContext(save_userid, save_sec);
	/*
	 * More rows than were applied would be rows the statement did not insert
	 * (rows it updated too, in a data-modifying WITH): never delete those.
	 */
	if (SPI_processed > nrows)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the statement changed " UINT64_FORMAT " rows of staging table \"%s\", not only the " UINT64_FORMAT " it inserted",
						(uint64) SPI_processed, RelationGetRelationName(staging), nrows),
				 errhint("Insert into a staging table in a statement of its own, or use the trigger's 'keep' option."),
				 record_errrel(RelationGetRelid(staging))));
	if (SPI_processed != nrows)
		ereport(WARNING,
				(errmsg("removed " UINT64_FORMAT " of the " UINT64_FORMAT " applied rows from staging table \"%s\"",
						(uint64) SPI_processed, nrows, RelationGetRelationName(staging)),
				 errdetail("Another trigger on the staging table ran statements before this one.")));
}

Datum
sequenced_apply_staging(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Trigger    *trigger;
	Relation	staging;
	bool		keep = false;
	bool		row_level;
	Oid			relid;
	CallSession s;
	StagingMap *map;
	Batch	   *b;
	RecordContext errcb;
	CommandId	cid;
	TupleDesc	desc;
	Datum	   *values;
	bool	   *nulls;

	if (!CALLED_AS_TRIGGER(fcinfo))
		protocol_error("not called by the trigger manager");
	trigger = trigdata->tg_trigger;
	staging = trigdata->tg_relation;
	if (!TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
		protocol_error("must be fired by INSERT");
	row_level = TRIGGER_FIRED_FOR_ROW(trigdata->tg_event);
	if (row_level && !TRIGGER_FIRED_BEFORE(trigdata->tg_event))
		protocol_error("a row-level trigger must be BEFORE INSERT");
	if (!row_level && !TRIGGER_FIRED_AFTER(trigdata->tg_event))
		protocol_error("a statement-level trigger must be AFTER INSERT");
	if (!row_level && trigdata->tg_newtable == NULL)
		protocol_error("a statement-level trigger needs REFERENCING NEW TABLE AS <name>");
	if (trigger->tgnargs < 1 || trigger->tgnargs > 2)
		protocol_error("takes the target table and optionally 'keep'");
	if (trigger->tgnargs == 2)
	{
		if (strcmp(trigger->tgargs[1], "keep") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
					 errmsg("sequenced_apply_staging: unknown option \"%s\"", trigger->tgargs[1]),
					 errhint("The second argument can only be 'keep'.")));
		keep = true;
	}

	citus_refuse(RelationGetRelid(staging), "staging table");
	/* the INSERT's own command id: its rows carry it as cmin */
	cid = GetCurrentCommandId(false);
	relid = resolve_target(trigger->tgargs[0], staging);
	call_begin_write(&s, relid, false);
	map = build_map(s.st, staging);
	desc = RelationGetDescr(staging);
	values = palloc(sizeof(Datum) * desc->natts);
	nulls = palloc(sizeof(bool) * desc->natts);

	b = call_new_batch(&s, row_level ? 1 : 1024);
	record_context_push(&errcb, b->st);
	{
		MemoryContext old = MemoryContextSwitchTo(b->mcxt);
		int			level = call_caller_path_begin(b);

		if (row_level)
		{
			heap_deform_tuple(trigdata->tg_trigtuple, desc, values, nulls);
			add_row(b, map, values, nulls);
		}
		else
		{
			Tuplestorestate *ts = trigdata->tg_newtable;
			TupleTableSlot *slot = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
			/* our own read pointer: other readers select theirs before reading */
			int			ptr = tuplestore_alloc_read_pointer(ts, EXEC_FLAG_REWIND);

			tuplestore_select_read_pointer(ts, ptr);
			tuplestore_rescan(ts);
			while (tuplestore_gettupleslot(ts, true, false, slot))
			{
				slot_getallattrs(slot);
				add_row(b, map, slot->tts_values, slot->tts_isnull);
			}
			ExecDropSingleTupleTableSlot(slot);
		}
		call_caller_path_end(level);
		MemoryContextSwitchTo(old);
	}
	record_context_pop(&errcb);

	call_apply(&s, b);
	if (!row_level && !keep)
		consume_staging(staging, cid, b->nmsgs);
	call_end(&s);

	/* row level: applied, and stored only as an audit log ('keep') */
	if (row_level && keep)
		return PointerGetDatum(trigdata->tg_trigtuple);
	return PointerGetDatum(NULL);
}
