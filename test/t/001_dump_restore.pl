# pg_dump / restore of a database that uses pg_sequenced.
#
# The catalog (_sequenced.config, the max_sequence log) is extension
# configuration data, the per-table state tables are ordinary tables in the
# extension's schema: all of it must come back in a new cluster, in both the
# custom (pg_restore) and the plain (psql) format, so that after a restore
#  - sequenced_tables lists the same tables with the same options and
#    max_sequence, and sequenced_max_sequence() agrees;
#  - the tables hold the same rows;
#  - tombstones still work: a late, older upsert of a deleted key is 'stale'
#    and does not bring the row back, a newer one does;
#  - max_sequence still drives per_table ordering, and the extension keeps
#    working (also for a table registered after the restore);
#  - the changes feed is the same, and a consumer that read it up to some
#    position before the dump, resuming from there after the restore, sees
#    the changes made since (section 4 of the spec: it never misses one).
#    The source has used more transaction ids than the new cluster, as any
#    cluster in use has.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

# Run SQL and return its output; unlike safe_psql, an error does not end the
# test file (it is shown, and the comparison that follows fails).
sub sql
{
	my ($node, $db, $query) = @_;
	my ($ret, $out, $err) = $node->psql($db, $query, on_error_stop => 1);
	diag("query failed on " . $node->name . "/$db:\n$query\n$err") if $ret != 0;
	return $out;
}

my $node_a = PostgreSQL::Test::Cluster->new('source');
$node_a->init;
$node_a->start;

$node_a->safe_psql('postgres', q{
CREATE EXTENSION pg_sequenced;

-- hard deletes, key from the primary key, default sequence column
CREATE TABLE public.hard_t (id int PRIMARY KEY, v text, n numeric);
SELECT sequenced_register('public.hard_t');

-- soft deletes, names that need quoting, on_equal replace
CREATE SCHEMA "Sales Data";
CREATE TABLE "Sales Data"."Soft T" (id bigint PRIMARY KEY, "Name" text, tags text[]);
SELECT sequenced_register('"Sales Data"."Soft T"', deletes => 'soft', on_equal => 'replace');

-- composite key from a unique index, an existing bigint sequence column,
-- per_table ordering, on a partitioned table
CREATE TABLE public.comp_t (region text NOT NULL, no int NOT NULL, seq bigint, doc jsonb)
  PARTITION BY LIST (region);
CREATE TABLE public.comp_t_eu PARTITION OF public.comp_t FOR VALUES IN ('eu');
CREATE TABLE public.comp_t_us PARTITION OF public.comp_t FOR VALUES IN ('us');
CREATE UNIQUE INDEX comp_t_key ON public.comp_t (region, no);
SELECT sequenced_register('public.comp_t', key_columns => '{region,no}',
                          sequence_column => 'seq', on_equal => 'error',
                          ordering => 'per_table');

-- append-only
CREATE TABLE public.log_t (msg text, at int);
SELECT sequenced_register('public.log_t', key_columns => '{}');

-- registered, never written: max_sequence stays NULL
CREATE TABLE public.empty_t (id int PRIMARY KEY, v text);
SELECT sequenced_register('public.empty_t');
});

# A cluster in use has consumed far more transaction ids than a new one: so
# does the source here (change positions are derived from them).
$node_a->safe_psql('postgres', q{
DO $$BEGIN FOR i IN 1..3000 LOOP PERFORM pg_catalog.txid_current(); COMMIT; END LOOP; END$$;
});

# Apply records: inserts, updates, stale ones, hard and soft deletes (with
# and without a row), so that there are tombstones and max_sequence is set.
my $outcomes = $node_a->safe_psql('postgres', q{
SELECT string_agg(outcome, ',' ORDER BY ord) FROM sequenced_upsert('hard_t',
  '[{"id": 1, "v": "one", "n": 1.5}, {"id": 2, "v": "two"}, {"id": 3, "v": "three"},
    {"id": 4, "v": "four"}, {"id": 5, "v": "five"}]', 100);
SELECT string_agg(outcome, ',' ORDER BY ord) FROM sequenced_upsert('hard_t',
  '[{"id": 2, "v": "two v2"}, {"id": 4, "v": "four old"}]', 200);
SELECT string_agg(outcome, ',' ORDER BY ord) FROM sequenced_delete('hard_t',
  '[{"id": 3}, {"id": 9}]', 300);
SELECT string_agg(outcome, ',' ORDER BY ord) FROM sequenced_upsert('hard_t',
  '{"id": 4, "v": "four v3"}', 250);
SELECT string_agg(outcome, ',' ORDER BY ord) FROM sequenced_upsert('"Sales Data"."Soft T"', '[
  {"sequence": 10, "data": {"id": 1, "Name": "Ann", "tags": ["a", "b"]}},
  {"sequence": 11, "data": {"id": 2, "Name": "Bob"}},
  {"sequence": 12, "data": {"id": 3, "Name": "Cid", "tags": []}}]');
SELECT string_agg(outcome, ',' ORDER BY ord) FROM sequenced_upsert('"Sales Data"."Soft T"', '[
  {"sequence": 50, "action": "delete", "data": {"id": 2}},
  {"sequence": 60, "action": "delete", "data": {"id": 7}},
  {"sequence": 40, "data": {"id": 3, "Name": "Cid v2"}}]');
SELECT string_agg(outcome, ',' ORDER BY ord) FROM sequenced_upsert('comp_t', '[
  {"sequence": 1000, "data": {"region": "eu", "no": 1, "doc": {"x": 1}}},
  {"sequence": 1001, "data": {"region": "eu", "no": 2, "doc": "two"}},
  {"sequence": 1002, "data": {"region": "us", "no": 1, "doc": null}},
  {"sequence": 1003, "data": {"region": "us", "no": 2, "doc": [1, 2]}}]');
SELECT string_agg(outcome, ',' ORDER BY ord) FROM sequenced_delete('comp_t',
  '[{"region": "eu", "no": 2}, {"region": "us", "no": 9}]', 1500);
});
is( $outcomes,
	join("\n",
		'inserted,inserted,inserted,inserted,inserted',
		'updated,updated',
		'deleted,deleted',
		'updated',
		'inserted,inserted,inserted',
		'deleted,deleted,updated',
		'inserted,inserted,inserted,inserted',
		'deleted,deleted'),
	'source: records applied');

# The append-only table on its own, so that a failure there shows as such.
is( sql($node_a, 'postgres', q{
SELECT string_agg(outcome, ',' ORDER BY ord) FROM sequenced_upsert('log_t',
  '[{"msg": "a", "at": 1}, {"msg": "b", "at": 2}, {"msg": "a", "at": 1}]', 7);
SELECT string_agg(outcome, ',' ORDER BY ord) FROM sequenced_upsert('log_t',
  '{"msg": "c", "at": 3}', 5);
}),
	"inserted,inserted,inserted\ninserted",
	'source: append-only records applied');

# What must survive: the catalog, max_sequence, and every table's rows.
my %queries = (
	catalog => q{
		SELECT relid::text, key_columns, sequence_column, on_equal, deletes,
		       ordering, max_sequence
		  FROM sequenced_tables ORDER BY relid::text COLLATE "C"},
	max_sequence => q{
		SELECT t, sequenced_max_sequence(t::regclass)
		  FROM unnest('{public.hard_t,"\"Sales Data\".\"Soft T\"",public.comp_t,public.log_t,public.empty_t}'::text[]) t
		 ORDER BY t COLLATE "C"},
	hard_t => q{SELECT id, v, n, _sdc_sequence FROM hard_t ORDER BY id},
	soft_t => q{
		SELECT id, "Name", tags, _sdc_sequence, _sdc_deleted_at IS NOT NULL
		  FROM "Sales Data"."Soft T" ORDER BY id},
	soft_t_deleted_at => q{
		SELECT id, _sdc_deleted_at FROM "Sales Data"."Soft T" ORDER BY id},
	comp_t =>
	  q{SELECT tableoid::regclass, region, no, seq, doc FROM comp_t ORDER BY region COLLATE "C", no},
	log_t => q{SELECT msg, at, _sdc_sequence FROM log_t ORDER BY msg COLLATE "C", at, _sdc_sequence},
	empty_t => q{SELECT count(*) FROM empty_t},
	# the changes feed from the start: same positions, same states
	changes => q{
		SELECT t, c.*
		  FROM unnest('{public.hard_t,"\"Sales Data\".\"Soft T\"",public.comp_t,public.log_t,public.empty_t}'::text[]) t,
		       sequenced_changes(t::regclass) c
		 ORDER BY t COLLATE "C", c.pos});

my %before;
$before{$_} = $node_a->safe_psql('postgres', $queries{$_}) for keys %queries;

# A consumer of hard_t's changes feed has read everything up to here.
my $hard_t_cursor = $node_a->safe_psql('postgres',
	q{SELECT max(pos) FROM sequenced_changes('hard_t')});
like($hard_t_cursor, qr/^\d+$/, 'source: hard_t has a changes feed');
is( $node_a->safe_psql('postgres', qq{SELECT count(*) FROM sequenced_changes('hard_t', $hard_t_cursor)}),
	'0', 'source: nothing in the feed after the last position seen');

# Sanity of the source itself, so that the comparisons below mean something.
is( $before{catalog},
	join("\n",
		'"Sales Data"."Soft T"|{id}|_sdc_sequence|replace|soft|per_key|60',
		'comp_t|{region,no}|seq|error|hard|per_table|1500',
		'empty_t|{id}|_sdc_sequence|keep|hard|per_key|',
		'hard_t|{id}|_sdc_sequence|keep|hard|per_key|300',
		'log_t|{}|_sdc_sequence|keep|hard|per_key|7'),
	'source: sequenced_tables');
is( $before{hard_t},
	join("\n",
		'1|one|1.5|100', '2|two v2||200', '4|four v3||250', '5|five||100'),
	'source: hard_t rows');
is( $before{soft_t},
	join("\n",
		'1|Ann|{a,b}|10|f', '2|Bob||50|t', '3|Cid v2||40|f'),
	'source: soft-deleted row kept and marked');
is($before{log_t}, "a|1|7\na|1|7\nb|2|7\nc|3|5", 'source: log_t rows');

# Dump in both formats.
my $tempdir = PostgreSQL::Test::Utils::tempdir;
my $dump_custom = "$tempdir/source.dump";
my $dump_plain = "$tempdir/source.sql";
$node_a->command_ok(
	[ 'pg_dump', '-Fc', '-d', $node_a->connstr('postgres'), '-f', $dump_custom ],
	'pg_dump custom format');
$node_a->command_ok(
	[ 'pg_dump', '-Fp', '-d', $node_a->connstr('postgres'), '-f', $dump_plain ],
	'pg_dump plain format');

# Restore into a new cluster.
my $node_b = PostgreSQL::Test::Cluster->new('target');
$node_b->init;
$node_b->start;

$node_b->command_ok([ 'createdb', '-h', $node_b->host, '-p', $node_b->port, 'r_custom' ],
	'createdb r_custom');
$node_b->command_ok([ 'createdb', '-h', $node_b->host, '-p', $node_b->port, 'r_plain' ],
	'createdb r_plain');

# Restores stop at the first error, and their stderr is shown on failure.
my ($stdout, $stderr);
my $ok = IPC::Run::run(
	[ 'pg_restore', '--exit-on-error', '-d', $node_b->connstr('r_custom'), $dump_custom ],
	'>', \$stdout, '2>', \$stderr);
ok($ok, 'pg_restore of the custom dump succeeds') or diag("pg_restore stderr:\n$stderr");

$ok = IPC::Run::run(
	[ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node_b->connstr('r_plain'),
	  '-f', $dump_plain ],
	'>', \$stdout, '2>', \$stderr);
ok($ok, 'psql restore of the plain dump succeeds') or diag("psql stderr:\n$stderr");

foreach my $db ('r_custom', 'r_plain')
{
	# Same catalog, max_sequence and rows.
	foreach my $q (sort keys %queries)
	{
		my ($ret, $out, $err) = $node_b->psql($db, $queries{$q});
		is($ret, 0, "$db: query '$q' runs") or diag($err);
		is($out, $before{$q}, "$db: '$q' same as in the source");
	}

	# The internal state of the catalog: one state table per registered
	# table, and it exists.
	is( sql($node_b, $db, q{
			SELECT count(*), count(DISTINCT state_rel), bool_and(to_regclass(state_rel::text) IS NOT NULL)
			  FROM _sequenced.config}),
		'5|5|t',
		"$db: every registered table has its state table");

	# Tombstones survive: late, older upserts of deleted keys are stale and
	# bring nothing back.
	is( sql($node_b, $db, q{
			SELECT string_agg(key::text || ':' || outcome, ',' ORDER BY ord)
			  FROM sequenced_upsert('hard_t', '[{"id": 3, "v": "zombie"}, {"id": 9, "v": "zombie"}]', 299)}),
		'{"id": 3}:stale,{"id": 9}:stale',
		"$db: hard_t: older upserts of deleted keys are stale");
	is(sql($node_b, $db, 'SELECT count(*) FROM hard_t WHERE id IN (3, 9)'),
		'0', "$db: hard_t: deleted rows do not come back");
	is( sql($node_b, $db, q{
			SELECT outcome FROM sequenced_upsert('hard_t', '{"id": 3, "v": "zombie"}', 300)}),
		'stale',
		"$db: hard_t: an upsert as old as the delete is stale (on_equal keep)");
	is( sql($node_b, $db, q{
			SELECT outcome FROM sequenced_upsert('hard_t', '{"id": 2, "v": "old"}', 150)}),
		'stale',
		"$db: hard_t: an older upsert of a live row is stale");

	is( sql($node_b, $db, q{
			SELECT outcome FROM sequenced_upsert('"Sales Data"."Soft T"', '{"id": 2, "Name": "zombie"}', 49)}),
		'stale',
		"$db: soft: older upsert of a soft-deleted row is stale");
	is( sql($node_b, $db, q{
			SELECT outcome FROM sequenced_upsert('"Sales Data"."Soft T"', '{"id": 7, "Name": "zombie"}', 59)}),
		'stale',
		"$db: soft: older upsert of a key deleted without a row is stale");
	is( sql($node_b, $db, q{
			SELECT id, "Name", _sdc_deleted_at IS NOT NULL FROM "Sales Data"."Soft T"
			 WHERE id IN (2, 7) ORDER BY id}),
		'2|Bob|t',
		"$db: soft: the soft-deleted row is still marked, no row for the tombstone");

	is( sql($node_b, $db, q{
			SELECT string_agg(outcome, ',' ORDER BY ord) FROM sequenced_upsert('comp_t', '[
			  {"sequence": 1400, "data": {"region": "eu", "no": 2, "doc": "zombie"}}]')}),
		'stale',
		"$db: comp_t: older upsert of a deleted composite key is stale");
	is(sql($node_b, $db, q{SELECT count(*) FROM comp_t WHERE region = 'eu' AND no = 2}),
		'0', "$db: comp_t: deleted row does not come back");

	# per_table ordering uses the restored max_sequence: a new key with a
	# sequence below it is stale.
	is( sql($node_b, $db, q{
			SELECT outcome FROM sequenced_upsert('comp_t', '{"region": "us", "no": 77}', 1499)}),
		'stale',
		"$db: comp_t: per_table ordering still sees the restored max_sequence");

	# Newer upserts work: the deleted keys come back, tombstones cleared.
	is( sql($node_b, $db, q{
			SELECT string_agg(key::text || ':' || outcome, ',' ORDER BY ord)
			  FROM sequenced_upsert('hard_t', '[{"id": 3, "v": "back"}, {"id": 9, "v": "new"}, {"id": 1, "v": "one v2"}]', 301)}),
		'{"id": 3}:inserted,{"id": 9}:inserted,{"id": 1}:updated',
		"$db: hard_t: newer upserts are applied");
	is( sql($node_b, $db, q{SELECT id, v, _sdc_sequence FROM hard_t WHERE id IN (1, 3, 9) ORDER BY id}),
		"1|one v2|301\n3|back|301\n9|new|301",
		"$db: hard_t: rows after the newer upserts");
	is( sql($node_b, $db, q{
			SELECT outcome FROM sequenced_upsert('hard_t', '{"id": 3, "v": "older again"}', 300)}),
		'stale',
		"$db: hard_t: the re-inserted row is protected by its own sequence");

	is( sql($node_b, $db, q{
			SELECT outcome FROM sequenced_upsert('"Sales Data"."Soft T"', '{"id": 2, "Name": "Bob v2"}', 70)}),
		'updated',
		"$db: soft: newer upsert of a soft-deleted row is applied");
	is( sql($node_b, $db, q{
			SELECT "Name", _sdc_sequence, _sdc_deleted_at IS NULL FROM "Sales Data"."Soft T" WHERE id = 2}),
		'Bob v2|70|t',
		"$db: soft: the newer upsert cleared _sdc_deleted_at");
	is( sql($node_b, $db, q{
			SELECT outcome FROM sequenced_upsert('"Sales Data"."Soft T"', '{"id": 7, "Name": "Gil"}', 61)}),
		'inserted',
		"$db: soft: newer upsert of a tombstoned key inserts it");

	is( sql($node_b, $db, q{
			SELECT string_agg(outcome, ',' ORDER BY ord) FROM sequenced_upsert('comp_t', '[
			  {"sequence": 1600, "data": {"region": "eu", "no": 2, "doc": "back"}},
			  {"sequence": 1600, "data": {"region": "us", "no": 3}}]')}),
		'inserted,inserted',
		"$db: comp_t: newer upserts are applied");

	# Deletes still leave working tombstones.
	is( sql($node_b, $db, q{
			SELECT outcome FROM sequenced_delete('hard_t', '{"id": 5}', 400)}),
		'deleted', "$db: hard_t: delete after restore");
	is( sql($node_b, $db, q{
			SELECT outcome FROM sequenced_upsert('hard_t', '{"id": 5, "v": "zombie"}', 350)}),
		'stale', "$db: hard_t: a new tombstone works too");

	is( sql($node_b, $db, q{
			SELECT outcome FROM sequenced_upsert('log_t', '{"msg": "d", "at": 4}', 1)}),
		'inserted', "$db: log_t: append-only still appends");
	is( sql($node_b, $db, q{
			SELECT outcome FROM sequenced_upsert('empty_t', '{"id": 1, "v": "first"}', 5)}),
		'inserted', "$db: empty_t: first record");

	# max_sequence moved on from the restored values.
	is( sql($node_b, $db, q{
			SELECT relid::text, max_sequence, sequenced_max_sequence(relid)
			  FROM sequenced_tables ORDER BY relid::text COLLATE "C"}),
		join("\n",
			'"Sales Data"."Soft T"|70|70',
			'comp_t|1600|1600',
			'empty_t|5|5',
			'hard_t|400|400',
			'log_t|7|7'),
		"$db: max_sequence after the new records");

	# The consumer that read hard_t's feed up to $hard_t_cursor on the
	# source resumes from there: it must see every change made since, i.e.
	# those made after the restore (ids 1, 3, 9 upserted at 301, 5 deleted).
	is( sql($node_b, $db, qq{
			SELECT string_agg(key::text || ':' || seq || ':' || deleted, ',' ORDER BY (key->>'id')::int)
			  FROM sequenced_changes('hard_t', $hard_t_cursor)}),
		'{"id": 1}:301:false,{"id": 3}:301:false,{"id": 5}:400:true,{"id": 9}:301:false',
		"$db: hard_t: a feed consumer resuming from its last position before the dump sees the changes made after the restore");

	is( sql($node_b, $db, q{SELECT sequenced_purge_tombstones('hard_t', 1000)}),
		'1', "$db: hard_t: purge finds the one tombstone left (id 5)");

	# A table registered after the restore (its oid may be one the source
	# used for a state table name) works alongside the restored ones.
	sql($node_b, $db, q{
			CREATE TABLE public.new_t (id int PRIMARY KEY, v text);
			SELECT sequenced_register('public.new_t');});
	is( sql($node_b, $db, q{
			SELECT string_agg(outcome, ',' ORDER BY ord) FROM sequenced_upsert('new_t', '[{"id": 1}, {"id": 2}]', 3);
			SELECT string_agg(outcome, ',' ORDER BY ord) FROM sequenced_delete('new_t', '{"id": 1}', 4);
			SELECT string_agg(outcome, ',' ORDER BY ord) FROM sequenced_upsert('new_t', '{"id": 1}', 2);
			SELECT count(*), count(DISTINCT state_rel) FROM _sequenced.config;}),
		"inserted,inserted\ndeleted\nstale\n6|6",
		"$db: a table registered after the restore works");
}

$node_a->stop;
$node_b->stop;

done_testing();
