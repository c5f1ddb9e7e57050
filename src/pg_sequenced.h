/*-------------------------------------------------------------------------
 *
 * pg_sequenced.h
 *		Types shared by the modules of pg_sequenced.
 *
 * A call to one of the apply functions turns its input (jsonb, or the rows
 * of a staging table) into a Batch of Messages, each holding the target
 * table's columns as Datums already converted by the column types' input
 * functions.  dedup.c sorts the batch by key, then sequence, and picks the
 * winner per key; apply.c writes the winners; catalog.c owns the per-table
 * cache (SeqTable) and the internal tables.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_SEQUENCED_H
#define PG_SEQUENCED_H

#include "postgres.h"

#include "access/attnum.h"
#include "access/genam.h"
#include "access/skey.h"
#include "storage/itemptr.h"
#include "storage/block.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "jsonvalue.h"
#include "utils/snapshot.h"
#include "access/transam.h"
#include "fmgr.h"
#include "nodes/pg_list.h"
#include "storage/lockdefs.h"
#include "utils/jsonb.h"
#include "utils/rel.h"
#include "utils/sortsupport.h"
#include "access/tableam.h"
#include "nodes/execnodes.h"
#include "utils/array.h"

#define SEQ_DEFAULT_SEQUENCE_COLUMN "_sdc_sequence"
#define SEQ_DELETED_AT_COLUMN "_sdc_deleted_at"
#define SEQ_STAGING_DELETED_COLUMN "_sdc_deleted"

typedef enum OnEqual
{
	ON_EQUAL_KEEP,
	ON_EQUAL_REPLACE,
	ON_EQUAL_ERROR
} OnEqual;

typedef enum ColKind
{
	COLKIND_PLAIN,				/* converted by the type's input function */
	COLKIND_JSON,				/* json: any JSON value, as JSON text */
	COLKIND_JSONB,				/* jsonb: any JSON value, as itself */
	COLKIND_ARRAY				/* JSON arrays go element by element */
} ColKind;

/* Why a column cannot be set from data (0: it can) */
typedef enum ColGuard
{
	COLGUARD_NONE = 0,
	COLGUARD_SEQUENCE,
	COLGUARD_DELETED_AT,
	COLGUARD_GENERATED,
	COLGUARD_IDENTITY,
	COLGUARD_EXTRA				/* _sdc_extra under unknown_properties => 'column' */
} ColGuard;

typedef enum UnknownProps
{
	UNKNOWN_ERROR,
	UNKNOWN_IGNORE,
	UNKNOWN_COLUMN				/* into _sdc_extra */
} UnknownProps;

#define SEQ_EXTRA_COLUMN "_sdc_extra"

typedef struct SeqColumn
{
	char	   *name;			/* attribute name */
	int			namelen;
	AttrNumber	attnum;
	Oid			typid;			/* declared type (may be a domain) */
	int32		typmod;
	Oid			basetypid;		/* domain's base type */
	Oid			collation;
	int16		typlen;
	bool		typbyval;
	ColKind		kind;
	ColGuard	guard;
	bool		dropped;
	bool		notnull;
	bool		has_default;	/* a DEFAULT or identity generates a value */
	bool		identity;		/* an identity column (any kind) */
	bool		generated;		/* a generated (stored) column */
	int			keyno;			/* -1, or position in the key */
	FmgrInfo	inproc;			/* input function of typid */
	Oid			ioparam;
	/* arrays: element conversion */
	Oid			elemtype;
	int16		elemlen;
	bool		elembyval;
	char		elemalign;
	bool		elemjson;		/* elements are json/jsonb: a JSON value each, strings included */
	FmgrInfo	eleminproc;
	Oid			elemioparam;
	void	   *domain_extra;	/* domain_check cache */
} SeqColumn;

/* the search_path every statement of the functions runs with */
#define SEQ_PINNED_PATH "pg_catalog, pg_temp"

typedef struct SeqKey
{
	AttrNumber	attnum;
	Oid			cmptype;		/* the opclass' input type */
	Oid			eqopr;			/* btree equality operator */
	char	   *eqopr_sql;		/* OPERATOR("schema".=) */
	FmgrInfo	eqproc;			/* ... its function, for index scan keys */
	Oid			opfamily;		/* the unique index' operator family */
	SortSupportData ssup;		/* ordering of that opfamily, with the
								 * index' collation */
	FmgrInfo	tojsonb;		/* to_jsonb() set up for the column type */
} SeqKey;

/*
 * The cached description of one registered table.  Built on first use in a
 * backend, dropped on a relcache invalidation of the target or of its state
 * table (registration, ALTER TABLE, DROP).  Lives in its own memory context,
 * together with its saved SPI plans.
 */
typedef struct SeqTable
{
	Oid			relid;
	Oid			staterelid;		/* the key state (keystate.c) */
	Oid			stateindexid;	/* ... its unique key index */
	Oid			logrelid;		/* the change log (changelog.c) */
	Oid			logindexid;		/* ... its index on "last" */
	Oid			historyrelid;	/* <table>_history, or InvalidOid */
	Oid			keyindexid;		/* the target's unique index over the key */
	Oid			reltype;		/* the target's row type */
	Oid			relarraytype;	/* ... and its array type */
	Oid			statetype;
	Oid			statearraytype;
	bool		valid;
	int			refcount;		/* calls using this entry right now */
	MemoryContext mcxt;

	char	   *relname;		/* for messages: "name" */
	char	   *nspname;		/* for error fields: the schema's name */
	char	   *tablename;		/* ... and the table's */
	char	   *qualname;		/* quoted, schema-qualified */
	char	   *state_qualname;

	int			natts;
	SeqColumn  *cols;			/* natts entries, by attnum - 1 */
	int		   *byname;			/* attnum-1 sorted by (namelen, name) */
	int			nbyname;

	int			nkeys;			/* 0: append-only */
	SeqKey	   *keys;
	char	  **key_names;
	SeqKey	   *ikeys;			/* the key index's columns, in its order ... */
	int			ikeyof[INDEX_MAX_KEYS];	/* ... each key column number k */
	bool		sparse;			/* key state rows only where a row cannot say */

	AttrNumber	seqatt;
	bool		seq_ts;			/* the sequence column is timestamptz (else bigint) */
	UnknownProps unknown;		/* unknown_properties */
	AttrNumber	extraatt;		/* _sdc_extra (unknown_properties => 'column'), or 0 */
	bool		omitted_keep;	/* omitted => 'keep': an update keeps what it omits */
	AttrNumber	delatt;			/* _sdc_deleted_at, or 0 */
	OnEqual		on_equal;
	bool		soft_deletes;
	bool		per_table;
	bool		skip_unchanged; /* unchanged => 'skip' */
	bool		history;		/* history => true */
	Oid			histindexid;	/* history.c: its index, */
	AttrNumber *histatt;		/* ... the history column of each column (by attnum - 1; 0: none) */
	AttrNumber	hist_from;		/* ... and its own three */
	AttrNumber	hist_to;
	AttrNumber	hist_deleted;

	/* SPI plans, prepared lazily (see apply.c), for this state table size */
	BlockNumber planned_blocks;
	SPIPlanPtr	plan_update;
	SPIPlanPtr	plan_insert;
	SPIPlanPtr	plan_delete;
	SPIPlanPtr	plan_softdelete;
	SPIPlanPtr	plan_fixup_read;
	SPIPlanPtr	plan_fixup_state;
	SPIPlanPtr	plan_unchanged_rows;
	SPIPlanPtr	plan_unchanged_state;
	SPIPlanPtr	plan_append;
	SPIPlanPtr	plan_append_state;
} SeqTable;

typedef enum MsgAction
{
	MSG_UPSERT,
	MSG_DELETE
} MsgAction;

typedef enum Outcome
{
	OUT_NONE = 0,
	OUT_INSERTED,
	OUT_UPDATED,
	OUT_DELETED,
	OUT_STALE,
	OUT_SUPERSEDED,
	OUT_UNCHANGED				/* unchanged => 'skip': the stored values again */
} Outcome;
#define OUT_LAST OUT_UNCHANGED

typedef struct Message
{
	int32		ord;			/* 1-based input position */
	uint8		action;			/* MsgAction */
	uint8		outcome;		/* Outcome */
	bool		fresh;			/* its key had no state row before this call */
	bool		found;			/* the probe saw a state row for the key ... */
	bool		exact;			/* ... and tid is that row version itself (not an
								 * index entry, which may point at the root of
								 * an update chain) ... */
	bool		wins;			/* ... and the message beats its sequence */
	int64		seq;
	int64		pos;			/* change position, once a candidate */
	int64		oldpos;			/* the key state's position before this call
								 * (0: none), for an unchanged message; for a
								 * message a newer row written around the
								 * functions made stale (target.c, fixup):
								 * that row's sequence, which its change logs */
	ItemPointerData tid;		/* ... here */
	Datum	   *values;			/* natts values, then natts isnull flags and
								 * natts present flags (set by the record):
								 * see MSG_ISNULL and MSG_PRESENT */
	JsonbContainer *record;		/* a lazy batch's record, whose values other
								 * than the key are not kept yet (see input.c) */
} Message;

/* A million messages are kept at once: 56 bytes each, no more pointers */
#define MSG_ISNULL(m, natts)	((bool *) ((m)->values + (natts)))
#define MSG_PRESENT(m, natts)	(MSG_ISNULL(m, natts) + (natts))

/*
 * The relation whose lock every call that hands out positions of a table
 * holds (positions.c): its change log, or an append-only table's state.
 */
#define SEQ_POSREL(st)	(OidIsValid((st)->logrelid) ? (st)->logrelid : (st)->staterelid)

/* Records' first properties whose columns are remembered (input.c) */
#define SEQ_PROPHINTS 32

typedef struct Batch
{
	SeqTable   *st;
	int			nmsgs;
	int			maxmsgs;
	Message    *msgs;
	int		   *order;			/* indexes into msgs, sorted by dedup_sort */
	bool	   *samekey;		/* order[i] has order[i - 1]'s key, or NULL:
								 * compare them (several key columns) */
	int		   *grp_first;		/* with history: by a winner's message index, */
	int		   *grp_len;		/* its key's run in order[] */
	MemoryContext mcxt;			/* everything of the batch lives here */
	MemoryContext scratch;		/* per message: what converting it leaves */
	bool		sql_ready;		/* apply_sql_ready() ran for this call */
	bool		direct;			/* upserts written straight into the target */
	bool		stale_unversioned;	/* a stale message writes no history
									 * version (sequenced_delete_missing) */
	char	   *caller_path;	/* values are converted under this search_path */
	bool		lazy;			/* keep only the keys until input_materialize */
	MemoryContext valuecxt;		/* where input_materialize puts values */
	char	   *slab;			/* where the next message's values go */
	Size		slab_left;
	/* column (+1; 0: none yet) of the i-th property of the last record */
	int16		prophint[SEQ_PROPHINTS];
} Batch;

/* Calls with at least this many records convert them lazily (input.c) */
#define SEQ_LAZY_MESSAGES 20000
/* Candidates are locked and written this many at a time (apply.c) */
#define SEQ_WRITE_CHUNK 10000

/* rights.c */
typedef enum RightsNeed
{
	RIGHTS_READ,				/* SELECT on the table, or on a column */
	RIGHTS_WRITE,				/* SELECT, INSERT and UPDATE */
	RIGHTS_DELETE,				/* DELETE */
	RIGHTS_DELETE_MISSING,		/* SELECT, and DELETE or UPDATE (rescan.c) */
	RIGHTS_OWNER				/* to be its owner */
} RightsNeed;

/* catalog.c */
typedef struct ConfigRow
{
	bool		found;
	List	   *key_columns;	/* of char * */
	char	   *sequence_column;
	char	   *on_equal;
	char	   *deletes;
	char	   *ordering;
	Oid			state_rel;
	Oid			log_rel;		/* InvalidOid for an append-only table */
	char	   *unchanged;
	bool		history;
	Oid			history_rel;	/* InvalidOid until history is first on */
	char	   *unknown_properties;
	char	   *omitted;
} ConfigRow;
extern SeqTable *catalog_open(Oid relid);
extern void catalog_close(SeqTable *st);
extern Oid	catalog_owner(void);
extern bool catalog_sparse(char relkind, bool skip_unchanged, bool history);
extern char *catalog_qualified_name(Oid relid);
extern Relation catalog_open_target(Oid relid, LOCKMODE lockmode, RightsNeed need);
extern Relation catalog_open_table(Oid relid, LOCKMODE lockmode, RightsNeed need);
extern ConfigRow catalog_read_config(Oid relid);
extern void catalog_not_registered(Oid relid) pg_attribute_noreturn();
extern List *catalog_text_array_to_list(ArrayType *arr);
extern void catalog_key_index_column(Oid indexoid, AttrNumber attnum, Oid *opclass, Oid *collation);
extern char *catalog_qualified_operator(Oid opno);
extern Oid	catalog_find_key_index(Relation rel, int nkeys, const AttrNumber *attnums, bool *deferrable);
extern void catalog_setup_tojsonb(FmgrInfo *finfo, Oid typid, MemoryContext mcxt);
extern void catalog_check_plans(SeqTable *st);
extern uint64 catalog_generation(void);
extern bool catalog_is_registered(Oid relid);
extern void catalog_free_plans(SeqTable *st);

/* rights.c */
typedef struct OwnerSwitch
{
	Oid			owner;
	Oid			save_userid;
	int			save_sec;
	int			save_nest;
} OwnerSwitch;
extern void rights_precheck(Oid relid, RightsNeed need);
extern void rights_begin_internal(Oid *save_userid, int *save_sec);
extern void rights_end_internal(Oid save_userid, int save_sec);
extern void rights_begin_owner(Oid relid, OwnerSwitch *sw);
extern void rights_end_owner(OwnerSwitch *sw);
extern Oid	rights_rel_owner(Oid relid);
extern void rights_check_write(SeqTable *st, bool need_delete);
extern void rights_check_delete(SeqTable *st);
extern void rights_check_read(SeqTable *st);
extern void rights_pin_path(void);
extern void rights_guc_planner(void);
extern int	rights_lockdown_path(void);
extern int	rights_lockdown(void);

/* citus.c */
extern void citus_refuse(Oid relid, const char *what);

/* record_context.c */
typedef struct RecordContext
{
	ErrorContextCallback cb;
	int			ord;			/* what the enclosing stretch had at hand */
	const char *column;
	SeqTable   *table;
	struct RecordContext *outer;
} RecordContext;
extern void record_context_push(RecordContext *rc, SeqTable *st);
extern void record_context_at(int ord, const char *column);
extern void record_context_pop(RecordContext *rc);
typedef struct RecordAt
{
	int			ord;
	const char *column;
} RecordAt;
extern RecordAt record_context_now(void);
extern void record_context_back(RecordAt at);
extern int	record_errtable(SeqTable *st);
extern int	record_errcolumn(SeqTable *st, const char *column);
extern int	record_errrel(Oid relid);
extern int	record_errrelcol(Oid relid, const char *column);

/* positions.c */
typedef struct Watermark
{
	FullTransactionId next;		/* the next id to be assigned, as it was read */
	int			held_by_pid;	/* the backend holding the feed back, or 0 */
	TransactionId held_by_xid;	/* ... or the prepared transaction */
} Watermark;
extern int64 positions_offset(void);
extern void positions_reset_offset(void);
extern void positions_lock(Oid staterelid);
extern int64 positions_next(Oid staterelid);
extern int64 positions_watermark(Oid staterelid, Snapshot snap, Watermark *wm);

/* call.c */
typedef struct CallSession
{
	Relation	rel;
	SeqTable   *st;
	int			guclevel;
	char	   *caller_path;	/* search_path as the call began */
} CallSession;
extern void call_begin(CallSession *s, Oid relid, LOCKMODE lockmode, RightsNeed need);
extern void call_begin_write(CallSession *s, Oid relid, bool deletes);
extern void call_apply(CallSession *s, Batch *b);
extern void call_emit(Batch *b, FunctionCallInfo fcinfo);
extern void call_end(CallSession *s);
extern Batch *call_new_batch(CallSession *s, int expected);
extern int	call_caller_path_begin(Batch *b);
extern void call_caller_path_end(int level);
extern void call_init_srf(FunctionCallInfo fcinfo);
extern TupleDesc call_result_desc(FunctionCallInfo fcinfo);
extern const char *call_outcome_name(Outcome o);

/* convert.c */
extern void convert_json_value(SeqTable *st, SeqColumn *col, JsonbValue *v, Datum *out, bool *isnull);

/* input.c */
extern Batch *input_new_batch(SeqTable *st, int expected);
extern Message *input_add_message(Batch *b);
extern void input_parse_data(Batch *b, Jsonb *data, int64 seq, MsgAction action);
extern void input_check_seq_arg(SeqTable *st, int64 seq);
extern void input_parse_messages(Batch *b, Jsonb *messages);
extern void input_finish_message(Batch *b, Message *m);
extern void input_materialize(Batch *b, Message *m, MemoryContext cxt);
extern void input_parse_object(Batch *b, Message *m, Jsonb *obj, const char *what);
extern Jsonb *input_key_jsonb(SeqTable *st, Message *m);
extern Jsonb *input_keyvals_jsonb(SeqTable *st, Datum *keyvals);
extern char *input_key_text(SeqTable *st, Message *m);
extern SeqColumn *input_lookup_column(SeqTable *st, const char *name, int len);
extern const char *input_guard_reason(ColGuard g);

/* dedup.c */
extern void dedup_sort(Batch *b);
extern int	dedup_compare_keys(SeqTable *st, Datum *a, Datum *b);
extern int	dedup_winners(Batch *b, int *cand, bool have_max, int64 startmax);

/* apply.c */
extern void apply_batch(Batch *b);
extern void apply_sql_ready(Batch *b);


/* probe.c */
typedef struct LeafProbe LeafProbe;
typedef enum LeafResult
{
	LEAF_ABSENT,				/* no visible state row for the key */
	LEAF_FOUND,
	LEAF_UNSURE					/* ask an ordinary index scan */
} LeafResult;
extern LeafProbe *leafprobe_begin(Relation heaprel, Relation irel, SeqKey *keys, int nkeys,
								  Snapshot snapshot, AttrNumber seq_index_att, AttrNumber seq_heap_att);
extern LeafResult leafprobe_get(LeafProbe *lp, Datum *keys, TupleTableSlot *slot,
								ItemPointer tid, bool *exact, int64 *seq, bool *seqnull);
extern void leafprobe_end(LeafProbe *lp);

/* keystate.c */
typedef struct KeyFound
{
	bool		sfound;			/* a key state row ... */
	ItemPointerData stid;		/* ... this version of it */
	int64		sseq;
	bool		sseqnull;
	int64		spos;
	bool		sposnull;
	bool		sdeleted;
	bool		rfound;			/* a row of the table ... */
	ItemPointerData rtid;		/* ... this version of it */
	int64		rseq;
	bool		rseqnull;
	bool		rsoftdeleted;	/* marked deleted (_sdc_deleted_at) */
} KeyFound;
typedef struct StateProbe
{
	SeqTable   *st;
	Snapshot	snap;
	Relation	srel;
	Relation	sirel;
	TupleTableSlot *sslot;
	LeafProbe  *slp;
	IndexScanDesc sscan;
	ScanKeyData sskeys[INDEX_MAX_KEYS];
	Relation	rrel;			/* NULL: rows are not probed */
	Relation	rirel;
	TupleTableSlot *rslot;
	LeafProbe  *rlp;
	IndexScanDesc rscan;
	ScanKeyData rskeys[INDEX_MAX_KEYS];
} StateProbe;
extern void stateprobe_begin(StateProbe *p, SeqTable *st, bool rows, Snapshot snap);
extern void stateprobe_resnap(StateProbe *p, Snapshot snap);
extern void stateprobe_get(StateProbe *p, Datum *keyvals, KeyFound *kf);
extern void stateprobe_end(StateProbe *p);
extern bool keystate_stored(KeyFound *kf, int64 *stored, bool *stored_null);
extern int	keystate_probe(Batch *b, int *cand, int ncand);
extern void keystate_lock(Batch *b, int *cand, int ncand);
extern void keystate_check_equal(SeqTable *st, Message *m, int64 stored, bool stored_null);
extern bool keystate_message_wins(SeqTable *st, int64 seq, int64 stored, bool stored_null);
extern bool keystate_insert_speculative(Relation rel, ResultRelInfo *rri, EState *estate,
										TupleTableSlot *slot, CommandId cid, List *arbiters);
extern TM_Result keystate_update_row(Relation rel, ItemPointer tid, ResultRelInfo *rri, EState *estate,
									 TupleTableSlot *slot, CommandId cid, Snapshot snap);
extern void keystate_serialization_failure(void) pg_attribute_noreturn();

/* keyprobe.c */
typedef struct KeyProbe KeyProbe;
extern KeyProbe *keyprobe_begin(SeqTable *st);
extern bool keyprobe_exists(KeyProbe *kp, Datum *keyvals, Snapshot snap);
extern bool keyprobe_fetch(KeyProbe *kp, Datum *keyvals, Snapshot snap, TupleTableSlot *out);
extern void keyprobe_end(KeyProbe *kp);

/* changelog.c */
typedef struct ChangeLog ChangeLog;
typedef struct LogEntry
{
	int64		pos;
	int64		seq;
	Datum		keys[INDEX_MAX_KEYS];	/* by key column number */
} LogEntry;
extern ChangeLog *changelog_begin(SeqTable *st);
extern void changelog_add(ChangeLog *cl, int64 pos, Datum *keyvals, int64 seq);
extern void changelog_flush(ChangeLog *cl);
extern void changelog_end(ChangeLog *cl);
extern int64 changelog_compact(SeqTable *st, Snapshot snap);
extern int	changelog_read(SeqTable *st, int64 after, int64 below, int max, Snapshot snap,
						   LogEntry **out, bool *more);

/* target.c */
typedef struct DefaultState
{
	EState	   *estate;
	ExprContext *econtext;
	ExprState **exprs;			/* by attnum - 1, NULL: no default */
	bool	   *volatile_default;	/* by attnum - 1: the DEFAULT is volatile */
	bool		skip_volatile;	/* give such a column NULL, unevaluated */
	bool		ready;
} DefaultState;
extern void target_defaults_init(DefaultState *ds, SeqTable *st);
extern void target_defaults_done(DefaultState *ds);
extern void target_values(Batch *b, Message *m, TupleDesc desc, DefaultState *ds, bool keys_only,
						  Datum *values, bool *nulls);
extern bool target_direct_ok(SeqTable *st, Relation rel, bool deletes);
extern bool target_col_written(SeqColumn *c);
extern const char *target_from_clause(SeqTable *st);
extern void target_append_keymatch(StringInfo s, SeqTable *st, const char *l, const char *r);
extern void target_append_state_keymatch(StringInfo s, SeqTable *st, const char *l, const char *r);
extern void target_append_key_list(StringInfo s, SeqTable *st, const char *alias);
extern SPIPlanPtr target_prepare_plan(SPIPlanPtr *slot, const char *sql, Oid argtype);
extern Datum target_row_datum(Batch *b, Message *m, TupleDesc desc, DefaultState *ds, bool keys_only);
extern Datum target_make_array(Datum *elems, int n, Oid elemtype);
extern int	target_exec_plan(SPIPlanPtr plan, Datum arg, int expected);
extern Message *target_find_by_key(Batch *b, int *cand, int ncand, Datum *keyvals);

/* history.c */
typedef struct HistoryWriter HistoryWriter;
extern Oid	history_register(Relation rel, int nkeys, AttrNumber *keyatts, Oid keyindex, Oid known,
							 const char *seqcol, bool soft);
extern void history_load(SeqTable *st, Relation rel);
extern void history_add_columns(Oid relid);
extern HistoryWriter *history_begin(Batch *b);
extern void history_key(HistoryWriter *hw, int first, int n, MemoryContext valuecxt);
extern void history_end(HistoryWriter *hw);

/* unchanged.c */
extern bool unchanged_same(Batch *b, Message *m, TupleDesc desc, DefaultState *ds, TupleTableSlot *stored);
extern void unchanged_statements(Batch *b, int *cand, int ncand);
extern void target_write(Batch *b, int *cand, int ncand);
extern void target_append(Batch *b, bool have_max, int64 startmax);

/* direct.c */
extern void direct_apply(Batch *b, int *cand, int ncand, ChangeLog *cl);

/* blame.c */
extern int	blame_record(Batch *b, ErrorData *edata, Datum *rows, int *msgidx, int n);

/* statetable.c */
extern void spi_exec(const char *sql, int expected);
extern void spi_execf(int expected, const char *fmt,...) pg_attribute_printf(2, 3);
extern Oid	create_state_table(Relation rel, int nkeys, AttrNumber *keyatts, Oid keyindex,
							   const char *seqcol, bool soft, bool sparse, Oid *logrel);
extern void drop_state_table(Oid staterel, Oid logrel);
extern void fill_missing_state(Relation rel, Oid staterel, int nkeys, AttrNumber *keyatts,
							   const char *seqcol, bool soft);

/* registry.c */
typedef struct RegisterOptions
{
	bool		primary_key;	/* the key is the primary key's columns ... */
	List	   *keys;			/* ... else these (of char *; NIL: append-only) */
	char	   *seqcol;
	char	   *on_equal;
	char	   *deletes;
	char	   *ordering;
	char	   *unchanged;
	bool		history;
	char	   *unknown_properties;
	char	   *omitted;
} RegisterOptions;
extern void registry_register(Oid relid, RegisterOptions *opt);

/* maxlog.c */
extern bool maxlog_read(Oid relid, int64 *max);
extern void maxlog_raise(SeqTable *st, int64 callmax);
extern void maxlog_forget(Oid relid);

/* stats.c */
extern void stats_count(Batch *b);

#include "datatype/timestamp.h"

/* changes.c: the feed's reader, shared by sequenced_changes and consumers */
typedef struct FeedItem
{
	int			index;			/* its place among the entries read or resolved */
	int64		pos;
	int64		seq;			/* the feed's seq */
	bool		seqnull;
	int64		eseq;			/* keyed: the log entry's sequence */
	Datum		key;			/* jsonb, or 0 (append-only) */
	bool		deleted;
	Datum		record;			/* jsonb, or 0 */
	bool		current;		/* its key's current state (append-only: always) */
	bool		visible;		/* a row the caller may see, or no row security */
	bool		shown;			/* what the feed returns: current and visible */
} FeedItem;
typedef bool (*FeedSink) (void *arg, FeedItem *item);	/* true: it counts */
extern void changes_settings(void);
extern int64 changes_begin_read(SeqTable *st);
extern void changes_end_read(void);
extern int64 changes_read(SeqTable *st, int64 after, int64 watermark, bool limited, int64 max_rows,
						  bool hidden_rls, FeedSink sink, void *arg, int64 *lastp);
extern void changes_resolve(SeqTable *st, LogEntry *e, int n, bool hidden_rls, FeedSink sink, void *arg);
extern void changes_resolve_appends(SeqTable *st, int64 *positions, int n, bool hidden_rls,
									FeedSink sink, void *arg);

/* delivery.c: the consumers' tables (SPEC section 8) */
extern char *text_arg(FunctionCallInfo fcinfo, int n, const char *name);

/* the longest consumer name, in bytes */
#define SEQ_CONSUMER_NAME_MAX 1000
extern int	delivery_cmp_int64(const void *a, const void *b);
extern void consumer_check_interval(Datum v, const char *name);

typedef struct ConsumerRow
{
	char	   *name;
	int64		id;				/* stable: names the consumer's receive lock */
	Oid			target;
	Oid			creator;
	char	   *start;
	Datum		timeout;		/* interval */
	int64		incarnation;	/* new at every rewind: its deliveries' tag */
	int64		head;			/* every change at or below it is recorded */
	int64		acked_through;
	int64		pruned_through; /* acknowledged rows at or below it are gone */
	ItemPointerData tid;
} ConsumerRow;
typedef struct DeliveryRow
{
	ItemPointerData tid;
	Datum		ident;			/* jsonb: the key, or an append-only position */
	int64		pos;
	int64		seq;			/* the log entry's sequence (keyed) */
	bool		seqnull;
	bool		acked;
	int64		ack_id;			/* 0: none */
	int32		deliveries;
	TimestampTz visible_at;
	bool		foreign;		/* another transaction in progress holds it */
} DeliveryRow;
typedef struct DeliveryStore DeliveryStore;
typedef enum ConsumerStmt		/* delivery_exec's plan slots */
{
	CSTMT_READ,
	CSTMT_ACKED_THROUGH,
	CSTMT_LIVE_INCARNATIONS,
	CSTMT_CREATE,
	CSTMT_DROP,
	CSTMT_REWIND,
	CSTMT_ACK,
	CSTMT_NACK,
	CSTMT_LIST,
	CSTMT_UNACKED,
	CSTMT_HOLD_HEADS,
	CSTMT_HOLD_KEYS,
	CSTMT_DUE,
	CSTMT_PRUNE,
	CSTMT_ADVANCE,
	CSTMT_COUNT					/* (how many) */
} ConsumerStmt;
#define SEQ_AWAITING DT_NOEND	/* visible_at of a delivery waiting for a newer change */
extern Datum delivery_exec(int which, const char *sql, int nargs, Oid *types, Datum *values,
						   const char *nulls, int64 *processed);
extern bool consumer_read(const char *name, ConsumerRow *c);
extern bool consumer_try_lock(ConsumerRow *c);
extern void consumer_lock_receive(ConsumerRow *c, bool on);
extern int64 consumer_next_id(bool ack);
extern int64 consumer_acked_through(ConsumerRow *c, int64 head);
extern DeliveryStore *delivery_open(void);
extern int	delivery_probe(DeliveryStore *ds, int64 incarnation, Datum ident, DeliveryRow **rows);
extern bool delivery_insert(DeliveryStore *ds, int64 incarnation, DeliveryRow *r);
extern ItemPointer delivery_last_tid(DeliveryStore *ds);
extern bool delivery_lock(DeliveryStore *ds, ItemPointer tid);
extern void delivery_update(DeliveryStore *ds, int64 incarnation, DeliveryRow *r);
extern void delivery_delete(DeliveryStore *ds, ItemPointer tid);
extern void delivery_close(DeliveryStore *ds);
extern int64 delivery_gc(void);

/* consumer.c */
typedef struct ConsumerHold ConsumerHold;
extern void consumer_check_rights(ConsumerRow *c);
extern Datum consumer_pos_ident(int64 pos);
extern ConsumerHold *consumer_hold_begin(SeqTable *st);
extern bool consumer_hold_keeps(ConsumerHold *h, int64 pos, Datum *keyvals);
extern void consumer_hold_end(ConsumerHold *h);

#endif							/* PG_SEQUENCED_H */
