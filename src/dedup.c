/*-------------------------------------------------------------------------
 *
 * dedup.c
 *		Batch dedup through a sorted array: by key, then sequence, then
 *		position.
 *
 * Sorting the messages of a call by key (with the ordering of the key's
 * unique index), then by sequence descending, then by input position (first
 * wins under on_equal 'keep' and 'error', last wins under 'replace') puts
 * each key's winner first in its run of equal keys.  The same order is the
 * order in which apply.c takes the per-key locks, so every call locks keys
 * in one global order and overlapping calls cannot deadlock.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/memutils.h"
#include "utils/sortsupport.h"

#include "pg_sequenced.h"

int
dedup_compare_keys(SeqTable *st, Datum *a, Datum *b)
{
	for (int k = 0; k < st->nkeys; k++)
	{
		int			i = st->keys[k].attnum - 1;
		int			cmp = ApplySortComparator(a[i], false, b[i], false, &st->keys[k].ssup);

		if (cmp != 0)
			return cmp;
	}
	return 0;
}

static int
compare_messages(const void *pa, const void *pb, void *arg)
{
	Batch	   *b = (Batch *) arg;
	Message    *ma = &b->msgs[*(const int *) pa];
	Message    *mb = &b->msgs[*(const int *) pb];
	int			cmp = dedup_compare_keys(b->st, ma->values, mb->values);

	if (cmp != 0)
		return cmp;
	if (ma->seq != mb->seq)
		return ma->seq > mb->seq ? -1 : 1;
	if (b->st->on_equal == ON_EQUAL_REPLACE)
		return ma->ord > mb->ord ? -1 : (ma->ord < mb->ord ? 1 : 0);
	return ma->ord < mb->ord ? -1 : (ma->ord > mb->ord ? 1 : 0);
}

/*
 * Single-column keys (the common case) sort a compact array instead of
 * chasing every comparison through the message array.
 */
typedef struct SortItem
{
	Datum		key;
	int64		seq;
	int32		ord;
	int32		idx;
} SortItem;

/* After the key: sequence descending, then position (first or last wins) */
static inline int
compare_tail(const SortItem *a, const SortItem *b, bool replace)
{
	if (a->seq != b->seq)
		return a->seq > b->seq ? -1 : 1;
	if (replace)
		return a->ord > b->ord ? -1 : (a->ord < b->ord ? 1 : 0);
	return a->ord < b->ord ? -1 : (a->ord > b->ord ? 1 : 0);
}

static int
compare_items(const void *pa, const void *pb, void *arg)
{
	const SortItem *a = pa;
	const SortItem *b = pb;
	Batch	   *batch = (Batch *) arg;
	int			cmp = ApplySortComparator(a->key, false, b->key, false, &batch->st->keys[0].ssup);

	if (cmp != 0)
		return cmp;
	return compare_tail(a, b, batch->st->on_equal == ON_EQUAL_REPLACE);
}

/*
 * Keys whose ordering is plain signed integer comparison (int4, int8 and the
 * types sharing their comparators) are held as int64 and sorted with the
 * comparison inlined: no call through the sort support per comparison.
 * *replace: the table's on_equal is 'replace'.
 */
static inline int
compare_int_items(const SortItem *a, const SortItem *b, const bool *replace)
{
	int64		x = DatumGetInt64(a->key);
	int64		y = DatumGetInt64(b->key);

	if (x != y)
		return x < y ? -1 : 1;
	return compare_tail(a, b, *replace);
}

#define ST_SORT sort_int_items
#define ST_ELEMENT_TYPE SortItem
#define ST_COMPARE(a, b, arg) compare_int_items(a, b, arg)
#define ST_COMPARE_ARG_TYPE const bool
#define ST_SCOPE static
#define ST_DEFINE
#include "lib/sort_template.h"

/*
 * Fill b->order with the message indexes in (key, sequence desc, position)
 * order.  Does not look at outcomes.
 */
void
dedup_sort(Batch *b)
{
	b->order = MemoryContextAllocHuge(b->mcxt, sizeof(int) * Max(b->nmsgs, 1));
	b->samekey = NULL;
	if (b->st->nkeys == 1 && b->nmsgs > 1)
	{
		SortItem   *items = MemoryContextAllocHuge(b->mcxt, sizeof(SortItem) * b->nmsgs);
		int			att = b->st->keys[0].attnum - 1;
		SortSupport ssup = &b->st->keys[0].ssup;
		bool		replace = b->st->on_equal == ON_EQUAL_REPLACE;
		bool		int32key = ssup->comparator == ssup_datum_int32_cmp && !ssup->ssup_reverse;
		bool		int64key = ssup->comparator == ssup_datum_signed_cmp && !ssup->ssup_reverse;

		for (int i = 0; i < b->nmsgs; i++)
		{
			Datum		key = b->msgs[i].values[att];

			items[i].key = int32key ? Int64GetDatum((int64) DatumGetInt32(key)) : key;
			items[i].seq = b->msgs[i].seq;
			items[i].ord = b->msgs[i].ord;
			items[i].idx = i;
		}
		if (int32key || int64key)
			sort_int_items(items, b->nmsgs, &replace);
		else
			qsort_arg(items, b->nmsgs, sizeof(SortItem), compare_items, b);

		/*
		 * Where each key's run starts, read off the sorted items in one
		 * sequential pass: the caller's grouping then need not reach into
		 * the messages, in random order, to compare their keys.
		 */
		b->samekey = MemoryContextAllocHuge(b->mcxt, sizeof(bool) * b->nmsgs);
		b->samekey[0] = false;
		for (int i = 0; i < b->nmsgs; i++)
		{
			b->order[i] = items[i].idx;
			if (i > 0)
				b->samekey[i] = (int32key || int64key) ?
					items[i].key == items[i - 1].key :
					ApplySortComparator(items[i - 1].key, false, items[i].key, false, ssup) == 0;
		}
		pfree(items);
		return;
	}
	for (int i = 0; i < b->nmsgs; i++)
		b->order[i] = i;
	if (b->st->nkeys > 0 && b->nmsgs > 1)
		qsort_arg(b->order, b->nmsgs, sizeof(int), compare_messages, b);
}

/*
 * The winner of each key: sort the batch (dedup_sort), then in each run of
 * equal keys the first message wins and the others are superseded; under
 * on_equal 'error', two messages of one key sharing the highest sequence
 * fail the call (21000).  Under ordering 'per_table', a winner not above the
 * table's max_sequence as the call began (have_max, startmax) is stale.
 * The remaining winners, in key order, go to cand[]; returns how many.
 */
int
dedup_winners(Batch *b, int *cand, bool have_max, int64 startmax)
{
	SeqTable   *st = b->st;
	int			ncand = 0;

	dedup_sort(b);
	if (st->history)
	{
		b->grp_first = MemoryContextAllocHuge(b->mcxt, sizeof(int) * b->nmsgs);
		b->grp_len = MemoryContextAllocHuge(b->mcxt, sizeof(int) * b->nmsgs);
	}
	for (int i = 0; i < b->nmsgs;)
	{
		Message    *w = &b->msgs[b->order[i]];
		int			j = i + 1;

		while (j < b->nmsgs &&
			   (b->samekey != NULL ? b->samekey[j] :
				dedup_compare_keys(st, w->values, b->msgs[b->order[j]].values) == 0))
			j++;
		if (st->on_equal == ON_EQUAL_ERROR && j > i + 1 &&
			b->msgs[b->order[i + 1]].seq == w->seq)
		{
			Message    *o = &b->msgs[b->order[i + 1]];

			ereport(ERROR,
					(errcode(ERRCODE_CARDINALITY_VIOLATION),
					 errmsg("records %d and %d have the same sequence " INT64_FORMAT " for key %s",
							Min(w->ord, o->ord), Max(w->ord, o->ord), w->seq, input_key_text(st, w)),
					 errdetail("Table %s is registered with on_equal => 'error'.", st->relname),
					 record_errtable(st)));
		}
		for (int k = i + 1; k < j; k++)
			b->msgs[b->order[k]].outcome = OUT_SUPERSEDED;
		if (st->history)
		{
			b->grp_first[b->order[i]] = i;
			b->grp_len[b->order[i]] = j - i;
		}
		if (st->per_table && have_max && w->seq <= startmax)
		{
			w->outcome = OUT_STALE;
			/* with history a stale message is a version too: its key is locked for it */
			if (st->history)
				cand[ncand++] = b->order[i];
		}
		else
			cand[ncand++] = b->order[i];
		i = j;
	}
	return ncand;
}
