/*-------------------------------------------------------------------------
 *
 * receive.c
 *		sequenced_receive: a consumer's next deliveries (SPEC section 8).
 *
 * A receive hands out, in ascending position, up to max_rows changes the
 * consumer has not acknowledged, each key at most once in flight, with the
 * key's current state as the feed shows it (changes.c's reader, as the
 * caller: privileges and row-level security apply).  It works in passes;
 * with wait_for, a pass that found nothing is followed by another after a
 * wait on the backend's latch (a short timeout, so a change committed by
 * another backend is seen within it), until the time is up.
 *
 * A pass, inside the consumer's critical section (delivery.c):
 *	1. due deliveries first: keys whose rows all became receivable again
 *	   (expired, nacked and past retry_after, or a change that came in while
 *	   the key was in flight), each judged as the feed would judge its
 *	   newest change (changes_resolve): still current and shown, it is
 *	   handed out again; no longer current, it waits for the newer change
 *	   (visible_at 'infinity') that the feed will bring; hidden by row
 *	   security, it is passed over as the feed passes over it;
 *	2. then the feed after the consumer's head: a change whose key has no
 *	   delivery in flight is handed out (a row in flight, ack_id new);
 *	   one whose key is in flight or waiting for a retry is recorded to
 *	   come after (a row receivable at once, which step 1 finds when the
 *	   key is free); one already recorded is passed;
 *	3. the head moves on over what was recorded, acked_through over what
 *	   was acknowledged, and acknowledged rows below it go -- by the one
 *	   receive that takes the consumer's row without waiting.
 *
 * Why two receives never hand out the same key: they claim keys one after
 * the other in the critical section, and each sees the rows the earlier
 * ones wrote, committed or not (the dirty snapshot of delivery_probe); a
 * key with a row in flight, or with a row another transaction in progress
 * holds, is not handed out.  Why no change is lost: the head passes a
 * change only when its key's row records it and that row is this
 * transaction's own or committed -- never over a row of a transaction in
 * progress, which may yet roll back (its keys then are receivable again,
 * and the head has not passed them).  Positions below the feed's watermark
 * belong to transactions that ended (positions.c), so everything the head
 * passes stays passed.
 *
 * Why writers never wait: the feed's reads take no lock a writer waits on,
 * and everything a receive locks is the consumer's own (its rows, its
 * critical section, each taken without waiting or for a moment).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "pg_sequenced.h"

PG_FUNCTION_INFO_V1(sequenced_receive);

/* how long a waiting receive sleeps between looks, at most (ms) */
#define SEQ_RECEIVE_POLL_MS 50

/* One delivery handed out: a row of the result */
typedef struct Delivered
{
	int64		ack_id;
	int64		pos;
	int64		seq;
	bool		seqnull;
	Datum		key;			/* jsonb, or 0 */
	bool		deleted;
	Datum		record;			/* jsonb, or 0 */
	int32		deliveries;
} Delivered;

/* A key due again, as step 1 found it */
typedef struct DueKey
{
	Datum		ident;
	DeliveryRow newest;			/* its newest row not acknowledged */
	DeliveryRow *others;		/* ... and the others */
	int			nothers;
	int32		deliveries;		/* the most any of them has */
	bool		resolved;		/* the feed judged its newest change ... */
	FeedItem	item;			/* ... so */
} DueKey;

typedef struct Receive
{
	CallSession *s;
	SeqTable   *st;
	const char *name;
	ConsumerRow c;				/* as read at the start of the pass */
	DeliveryStore *ds;
	bool		hidden_rls;
	TimestampTz now;
	TimestampTz expires;		/* what visible_at a delivery gets */
	int			budget;			/* deliveries this pass may still hand out */
	int64		first_blocked;	/* the first change a foreign row holds (0: none) */
	MemoryContext outcxt;		/* the result's rows */
	Delivered  *out;
	int			nout;
	int			capout;
	DueKey	   *due;			/* step 1 */
	int			ndue;
	int		   *entryof;		/* keyed: the due key of each log entry read */
	/* step 2's deliveries of keys that had no row: see check_head */
	ItemPointerData *fresh_tid;
	int		   *fresh_out;		/* ... their place in out[] */
	int			nfresh;
	int			capfresh;
} Receive;

static Delivered *
add_output(Receive *r, FeedItem *item, int64 ack_id, int32 deliveries)
{
	MemoryContext old = MemoryContextSwitchTo(r->outcxt);
	Delivered  *d;

	if (r->nout == r->capout)
	{
		r->capout = Max(16, r->capout * 2);
		r->out = r->out ? repalloc_huge(r->out, sizeof(Delivered) * r->capout) :
			palloc(sizeof(Delivered) * r->capout);
	}
	d = &r->out[r->nout++];
	d->ack_id = ack_id;
	d->pos = item->pos;
	d->seq = item->seq;
	d->seqnull = item->seqnull;
	d->key = item->key != (Datum) 0 ? PointerGetDatum(DatumGetJsonbPCopy(item->key)) : (Datum) 0;
	d->deleted = item->deleted;
	d->record = item->record != (Datum) 0 ? PointerGetDatum(DatumGetJsonbPCopy(item->record)) : (Datum) 0;
	d->deliveries = deliveries;
	MemoryContextSwitchTo(old);
	r->budget--;
	return d;
}

/* A row that keeps its key from being handed out: in flight, or nacked for later */
static bool
row_busy(Receive *r, DeliveryRow *row)
{
	return !row->acked && row->visible_at > r->now && row->visible_at != SEQ_AWAITING;
}

/* ----------------------------------------------------------------
 * step 1: deliveries due again
 * ---------------------------------------------------------------- */

static int
cmp_due(const void *a, const void *b)
{
	int64		x = ((const DueKey *) a)->newest.pos;
	int64		y = ((const DueKey *) b)->newest.pos;

	return x < y ? -1 : x > y ? 1 : 0;
}

/*
 * The feed's judgement of a due key's newest change: keyed, by the index
 * of its log entry (entries are read in due[]'s order, those the log still
 * has); append-only, by position (due[] is in position order).
 */
static bool
due_item(void *arg, FeedItem *item)
{
	Receive    *r = (Receive *) arg;
	DueKey	   *k;

	if (r->st->nkeys > 0)
		k = &r->due[r->entryof[item->index]];
	else
	{
		DueKey		probe;

		probe.newest.pos = item->pos;
		k = bsearch(&probe, r->due, r->ndue, sizeof(DueKey), cmp_due);
		if (k == NULL)
			return false;
	}
	k->resolved = true;
	k->item = *item;
	if (item->key != (Datum) 0)
		k->item.key = PointerGetDatum(DatumGetJsonbPCopy(item->key));
	if (item->record != (Datum) 0)
		k->item.record = PointerGetDatum(DatumGetJsonbPCopy(item->record));
	return false;
}

static void
collect_due(Receive *r)
{
	Oid			types[4] = {INT8OID, TIMESTAMPTZOID, INT8OID, INT8OID};
	Datum		values[4];
	int64		n;
	Datum	   *idents;

	values[0] = Int64GetDatum(r->c.incarnation);
	values[1] = TimestampTzGetDatum(r->now);
	values[2] = Int64GetDatum((int64) r->budget + 16);
	values[3] = Int64GetDatum(r->c.acked_through);

	/*
	 * (keys with a row in flight or nacked for later are not due, whatever
	 * their other rows; every row not acknowledged lies above acked_through,
	 * so the index is read from there)
	 */
	(void) delivery_exec(CSTMT_DUE,
						 "SELECT d.ident, pg_catalog.min(d.pos) AS first FROM _sequenced.deliveries d "
						 "WHERE d.incarnation OPERATOR(pg_catalog.=) $1 AND NOT d.acked "
						 "AND d.pos OPERATOR(pg_catalog.>) $4 "
						 "AND d.visible_at OPERATOR(pg_catalog.<=) $2 "
						 "AND NOT EXISTS (SELECT 1 FROM _sequenced.deliveries f "
						 "WHERE f.incarnation OPERATOR(pg_catalog.=) $1 "
						 "AND f.ident OPERATOR(pg_catalog.=) d.ident AND f.pos OPERATOR(pg_catalog.>) $4 "
						 "AND NOT f.acked "
						 "AND f.visible_at OPERATOR(pg_catalog.>) $2 "
						 "AND f.visible_at OPERATOR(pg_catalog.<) 'infinity'::pg_catalog.timestamptz) "
						 "GROUP BY d.ident ORDER BY first LIMIT $3",
						 4, types, values, NULL, &n);
	idents = palloc(sizeof(Datum) * Max(n, 1));
	for (int64 i = 0; i < n; i++)
	{
		bool		isnull;

		idents[i] = PointerGetDatum(DatumGetJsonbPCopy(SPI_getbinval(SPI_tuptable->vals[i],
																	  SPI_tuptable->tupdesc, 1, &isnull)));
	}
	SPI_freetuptable(SPI_tuptable);

	r->due = palloc0(sizeof(DueKey) * Max(n, 1));
	r->ndue = 0;
	for (int64 i = 0; i < n && r->ndue < r->budget; i++)
	{
		DeliveryRow *rows;
		int			nrows = delivery_probe(r->ds, r->c.incarnation, idents[i], &rows);
		DueKey	   *k = &r->due[r->ndue];
		int			newest = -1;
		bool		skip = false;

		for (int j = 0; j < nrows; j++)
		{
			if (rows[j].foreign || row_busy(r, &rows[j]))
				skip = true;
			else if (!rows[j].acked && (newest < 0 || rows[j].pos > rows[newest].pos))
				newest = j;
		}
		if (skip || newest < 0 || rows[newest].visible_at == SEQ_AWAITING)
			continue;
		k->ident = idents[i];
		k->newest = rows[newest];
		k->newest.ident = idents[i];
		k->others = palloc(sizeof(DeliveryRow) * nrows);
		for (int j = 0; j < nrows; j++)
		{
			if (rows[j].acked)
				continue;
			k->deliveries = Max(k->deliveries, rows[j].deliveries);
			if (j != newest)
			{
				k->others[k->nothers] = rows[j];
				k->others[k->nothers++].ident = idents[i];
			}
		}
		r->ndue++;
	}
}

/* Lock every row of a due key not yet acknowledged; false if one is held */
static bool
lock_due(Receive *r, DueKey *k)
{
	if (!delivery_lock(r->ds, &k->newest.tid))
		return false;
	for (int j = 0; j < k->nothers; j++)
		if (!delivery_lock(r->ds, &k->others[j].tid))
			return false;
	return true;
}

static void
deliver_due(Receive *r)
{
	if (r->ndue == 0)
		return;
	qsort(r->due, r->ndue, sizeof(DueKey), cmp_due);
	/* the feed's judgement of each key's newest change */
	if (r->st->nkeys > 0)
	{
		LogEntry   *entries = palloc(sizeof(LogEntry) * r->ndue);
		int			m = 0;

		r->entryof = palloc(sizeof(int) * r->ndue);
		for (int i = 0; i < r->ndue; i++)
		{
			LogEntry   *e;
			bool		more;
			int64		pos = r->due[i].newest.pos;

			/* (an entry the log no longer has is no longer current) */
			if (changelog_read(r->st, pos - 1, pos + 1, 1, GetActiveSnapshot(), &e, &more) == 1)
			{
				entries[m] = e[0];
				r->entryof[m++] = i;
			}
		}
		changes_resolve(r->st, entries, m, r->hidden_rls, due_item, r);
	}
	else
	{
		int64	   *positions = palloc(sizeof(int64) * r->ndue);

		for (int i = 0; i < r->ndue; i++)
			positions[i] = r->due[i].newest.pos;
		changes_resolve_appends(r->st, positions, r->ndue, r->hidden_rls, due_item, r);
	}

	for (int i = 0; i < r->ndue; i++)
	{
		DueKey	   *k = &r->due[i];

		if (!lock_due(r, k))
			continue;			/* someone holds a row: another time */
		if (k->resolved && k->item.shown)
		{
			/* handed out again, with its current state */
			for (int j = 0; j < k->nothers; j++)
				delivery_delete(r->ds, &k->others[j].tid);
			k->newest.ack_id = consumer_next_id(true);
			k->newest.visible_at = r->expires;
			k->newest.deliveries = k->deliveries + 1;
			delivery_update(r->ds, r->c.incarnation, &k->newest);
			(void) add_output(r, &k->item, k->newest.ack_id, k->newest.deliveries);
		}
		else if ((k->resolved && (k->item.current || !k->item.visible)) || r->st->nkeys == 0)
		{
			/*
			 * hidden by row-level security (or gone): passed over, as the
			 * feed does -- also when the key changed since, if its row is
			 * one the caller may not see: the feed shows the caller none of
			 * its changes until one it may see, which step 2 hands out (so
			 * nothing waits here for a change the feed never brings)
			 */
			delivery_delete(r->ds, &k->newest.tid);
			for (int j = 0; j < k->nothers; j++)
				delivery_delete(r->ds, &k->others[j].tid);
		}
		else
		{
			/*
			 * The key changed again, after the head: the feed brings that
			 * change, which step 2 hands out.  Until then its rows wait
			 * (an ack_id handed out stays good).
			 */
			k->newest.visible_at = SEQ_AWAITING;
			delivery_update(r->ds, r->c.incarnation, &k->newest);
			for (int j = 0; j < k->nothers; j++)
			{
				k->others[j].visible_at = SEQ_AWAITING;
				delivery_update(r->ds, r->c.incarnation, &k->others[j]);
			}
		}
	}
}

/* ----------------------------------------------------------------
 * step 2: the feed after the head
 * ---------------------------------------------------------------- */

static void
blocked(Receive *r, int64 pos)
{
	if (r->first_blocked == 0 || pos < r->first_blocked)
		r->first_blocked = pos;
}

static bool
scan_item(void *arg, FeedItem *item)
{
	Receive    *r = (Receive *) arg;
	Datum		ident;
	DeliveryRow *rows;
	int			nrows;
	bool		busy = false;
	bool		unacked = false;
	int32		deliveries = 0;
	DeliveryRow row = {0};

	if (!item->shown)
		return false;			/* passed over, as the feed does */
	ident = r->st->nkeys > 0 ? item->key : consumer_pos_ident(item->pos);
	nrows = delivery_probe(r->ds, r->c.incarnation, ident, &rows);

	/* recorded already (by a receive whose head did not move on) */
	for (int j = 0; j < nrows; j++)
		if (rows[j].pos >= item->pos)
		{
			if (rows[j].foreign)
				blocked(r, item->pos);
			return false;
		}
	for (int j = 0; j < nrows; j++)
	{
		if (rows[j].foreign)
		{
			/* a transaction in progress holds the key: not now, and not passed */
			blocked(r, item->pos);
			return false;
		}
		if (row_busy(r, &rows[j]))
			busy = true;
		if (!rows[j].acked)
			deliveries = Max(deliveries, rows[j].deliveries);
	}

	row.ident = ident;
	row.pos = item->pos;
	row.seq = item->eseq;
	row.seqnull = r->st->nkeys == 0;
	row.acked = false;
	if (busy)
	{
		/* in flight, or nacked for later: this change comes after (step 1) */
		row.ack_id = 0;
		row.deliveries = 0;
		row.visible_at = r->now;
		if (!delivery_insert(r->ds, r->c.incarnation, &row))
			blocked(r, item->pos);	/* recorded meanwhile (delivery_insert) */
		return false;
	}

	/* the rows it had (expired, nacked, waiting) give way to this delivery */
	for (int j = 0; j < nrows; j++)
		if (!rows[j].acked && !delivery_lock(r->ds, &rows[j].tid))
		{
			blocked(r, item->pos);
			return false;
		}
	row.ack_id = consumer_next_id(true);
	row.deliveries = deliveries + 1;
	row.visible_at = r->expires;
	if (!delivery_insert(r->ds, r->c.incarnation, &row))
	{
		blocked(r, item->pos);	/* recorded meanwhile (delivery_insert) */
		return false;
	}
	for (int j = 0; j < nrows; j++)
		if (!rows[j].acked)
		{
			delivery_delete(r->ds, &rows[j].tid);
			unacked = true;
		}
	(void) add_output(r, item, row.ack_id, row.deliveries);
	if (!unacked)
	{
		/* (remembered for check_head) */
		MemoryContext old = MemoryContextSwitchTo(r->outcxt);

		if (r->nfresh == r->capfresh)
		{
			r->capfresh = Max(64, r->capfresh * 2);
			r->fresh_tid = r->fresh_tid ? repalloc(r->fresh_tid, sizeof(ItemPointerData) * r->capfresh) :
				palloc(sizeof(ItemPointerData) * r->capfresh);
			r->fresh_out = r->fresh_out ? repalloc(r->fresh_out, sizeof(int) * r->capfresh) :
				palloc(sizeof(int) * r->capfresh);
		}
		r->fresh_tid[r->nfresh] = *delivery_last_tid(r->ds);
		r->fresh_out[r->nfresh++] = r->nout - 1;
		MemoryContextSwitchTo(old);
	}
	return true;
}

/*
 * A receive reads the head once, at its start, and another's transaction
 * may commit while it scans: one that moved the head on and dropped the
 * acknowledged rows below it (advance).  A change at or below that head
 * whose key this receive found without a row may have been one of those,
 * delivered and acknowledged already: such deliveries are taken back.
 * (Every probe came before this look at the head: a commit after it was
 * still in progress at each probe, whose rows were then foreign.)  A key
 * that had rows not acknowledged kept them (acknowledged rows above such
 * a row are never dropped), so it is no such case.
 *
 * Returns whether the head had moved on: the caller then reads on from
 * there (r->c is the consumer as it is now), so that a receive that lost
 * its deliveries to a head that moved under it still hands out what lies
 * beyond.  (advance() drops acknowledged rows only up to the acked_through
 * it found, one step behind, so this is rare: it takes two receives
 * committing while this one scans.)
 */
static bool
check_head(Receive *r)
{
	ConsumerRow now;
	int			out = 0;
	int			nfresh = 0;
	int		   *newidx;

	if (r->nfresh == 0 || !consumer_read(r->name, &now) ||
		now.incarnation != r->c.incarnation || now.head <= r->c.head)
		return false;
	CommandCounterIncrement();
	newidx = palloc(sizeof(int) * Max(r->nout, 1));
	for (int i = 0; i < r->nout; i++)
		newidx[i] = 0;
	for (int i = 0; i < r->nfresh; i++)
	{
		Delivered  *d = &r->out[r->fresh_out[i]];

		if (d->pos > now.head)
			continue;
		delivery_delete(r->ds, &r->fresh_tid[i]);
		newidx[r->fresh_out[i]] = -1;
	}
	for (int i = 0; i < r->nout; i++)
		if (newidx[i] == 0)
		{
			newidx[i] = out;
			r->out[out++] = r->out[i];
		}
	/* the fresh deliveries kept stay fresh: the head may move again */
	for (int i = 0; i < r->nfresh; i++)
		if (newidx[r->fresh_out[i]] >= 0)
		{
			r->fresh_tid[nfresh] = r->fresh_tid[i];
			r->fresh_out[nfresh++] = newidx[r->fresh_out[i]];
		}
	r->nfresh = nfresh;
	r->budget += r->nout - out;
	r->nout = out;
	r->c = now;
	return true;
}

/* ----------------------------------------------------------------
 * step 3, and the pass
 * ---------------------------------------------------------------- */

/*
 * Move the head and acked_through on, and drop acknowledged rows below
 * acked_through -- if the consumer's row can be had without waiting.
 */
static void
advance(Receive *r, int64 head)
{
	Oid			types[4] = {INT8OID, INT8OID, INT8OID, INT8OID};
	Datum		values[4];
	int64		acked;
	int64		pruned;

	head = Max(head, r->c.head);
	acked = consumer_acked_through(&r->c, head);
	/* (nothing to do: no lock, no write -- a waiting receive polls) */
	if (head == r->c.head && acked == r->c.acked_through)
		return;
	if (!consumer_try_lock(&r->c))
		return;
	values[0] = Int64GetDatum(r->c.incarnation);

	/*
	 * Acknowledged rows go one step behind: up to the acked_through this
	 * receive found, not the new one.  A receive that entered the critical
	 * section after this one left it, while this transaction is still in
	 * progress, read the head this one found (or a later one), which is at
	 * or above that acked_through: it never scans positions whose rows this
	 * deletes, and does not mistake a change delivered and acknowledged
	 * between the two heads for a new one (check_head).
	 */
	pruned = r->c.pruned_through;
	if (acked > r->c.acked_through && r->c.acked_through > pruned)
	{
		/* (from where the last prune stopped: not over its dead rows) */
		values[1] = Int64GetDatum(pruned);
		values[2] = Int64GetDatum(r->c.acked_through);
		(void) delivery_exec(CSTMT_PRUNE,
							 "DELETE FROM _sequenced.deliveries WHERE incarnation OPERATOR(pg_catalog.=) $1 "
							 "AND acked AND pos OPERATOR(pg_catalog.>) $2 AND pos OPERATOR(pg_catalog.<=) $3",
							 3, types, values, NULL, NULL);
		pruned = r->c.acked_through;
	}
	if (head != r->c.head || acked != r->c.acked_through)
	{
		values[0] = Int64GetDatum(r->c.id);
		values[1] = Int64GetDatum(head);
		values[2] = Int64GetDatum(acked);
		values[3] = Int64GetDatum(pruned);
		(void) delivery_exec(CSTMT_ADVANCE,
							 "UPDATE _sequenced.consumers SET head = $2, acked_through = $3, pruned_through = $4 "
							 "WHERE id OPERATOR(pg_catalog.=) $1",
							 4, types, values, NULL, NULL);
	}
}

/* One pass: how many deliveries it handed out */
static int
receive_pass(Receive *r, int64 id)
{
	int			before = r->nout;
	int64		watermark;
	int64		last;
	int64		head;
	MemoryContext passcxt = AllocSetContextCreate(CurrentMemoryContext, "pg_sequenced receive",
												  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(passcxt);

	consumer_lock_receive(&r->c, true);
	/* the consumer as it is now, in the critical section */
	if (!consumer_read(r->name, &r->c) || r->c.id != id)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("consumer \"%s\" was dropped", r->name)));
	r->now = GetCurrentTimestamp();
	r->expires = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
														 TimestampTzGetDatum(r->now), r->c.timeout));
	r->first_blocked = 0;

	watermark = changes_begin_read(r->st);
	r->ds = delivery_open();
	collect_due(r);
	deliver_due(r);
	CommandCounterIncrement();
	head = r->c.head;
	while (r->budget > 0)
	{
		(void) changes_read(r->st, r->c.head, watermark, true, r->budget, r->hidden_rls,
							scan_item, r, &last);
		head = r->first_blocked != 0 ? Min(last, r->first_blocked - 1) : last;
		if (!check_head(r))
			break;
		/* the head moved on under the scan: read on from it (r->c) */
		CHECK_FOR_INTERRUPTS();
	}
	r->nfresh = 0;
	delivery_close(r->ds);
	r->ds = NULL;
	changes_end_read();
	advance(r, head);
	consumer_lock_receive(&r->c, false);

	MemoryContextSwitchTo(old);
	MemoryContextDelete(passcxt);
	return r->nout - before;
}

static int
cmp_delivered(const void *a, const void *b)
{
	const Delivered *x = (const Delivered *) a;
	const Delivered *y = (const Delivered *) b;

	return x->pos < y->pos ? -1 : x->pos > y->pos ? 1 : 0;
}

Datum
sequenced_receive(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *name;
	int32		max_rows;
	Datum		wait_for;
	TimestampTz deadline;
	ConsumerRow c;
	CallSession s;
	Receive		r = {0};
	int			level;

	call_init_srf(fcinfo);
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("consumer must not be null")));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("max_rows must not be null")));
	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("wait_for must not be null")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	max_rows = PG_GETARG_INT32(1);
	wait_for = PG_GETARG_DATUM(2);
	if (max_rows < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_rows must be at least 1")));
	consumer_check_interval(wait_for, "wait_for");
	PreventCommandIfReadOnly("sequenced_receive()");

	/* who may use it, before its table is locked */
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	level = NewGUCNestLevel();
	if (!consumer_read(name, &c))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("consumer \"%s\" does not exist", name),
				 errhint("Create it with sequenced_consumer_create().")));
	consumer_check_rights(&c);

	call_begin(&s, c.target, AccessShareLock, RIGHTS_READ);
	rights_check_read(s.st);
	changes_settings();
	r.s = &s;
	r.st = s.st;
	r.name = name;
	r.c = c;
	r.hidden_rls = check_enable_rls(s.st->relid, InvalidOid, false) == RLS_ENABLED;
	r.outcxt = CurrentMemoryContext;
	deadline = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
													   TimestampTzGetDatum(GetCurrentTimestamp()), wait_for));
	for (;;)
	{
		long		wait_ms;
		TimestampTz now;

		r.budget = max_rows;
		if (receive_pass(&r, c.id) > 0)
			break;
		/* a snapshot of the whole transaction sees no change committed later */
		if (IsolationUsesXactSnapshot())
			break;
		now = GetCurrentTimestamp();
		if (now >= deadline)
			break;
		wait_ms = (long) Min((deadline - now + 999) / 1000, SEQ_RECEIVE_POLL_MS);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, wait_ms,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}

	/* in ascending position */
	if (r.nout > 1)
		qsort(r.out, r.nout, sizeof(Delivered), cmp_delivered);
	for (int i = 0; i < r.nout; i++)
	{
		Delivered  *d = &r.out[i];
		Datum		values[7];
		bool		nulls[7] = {false, false, false, false, false, false, false};

		values[0] = Int64GetDatum(d->ack_id);
		values[1] = Int64GetDatum(d->pos);
		values[2] = Int64GetDatum(d->seq);
		nulls[2] = d->seqnull;
		values[3] = d->key;
		nulls[3] = d->key == (Datum) 0;
		values[4] = BoolGetDatum(d->deleted);
		values[5] = d->record;
		nulls[5] = d->record == (Datum) 0;
		values[6] = Int32GetDatum(d->deliveries);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	call_end(&s);
	AtEOXact_GUC(true, level);
	SPI_finish();
	PG_RETURN_NULL();
}
