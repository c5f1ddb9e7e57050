# ALTER EXTENSION pg_sequenced UPDATE from every released version, with
# data in place (SPEC, before section 6: "keeps every registration, key
# state, tombstone and position; a 0.1 table keeps the defaults").
#
# Each release listed in test/releases is built from this repository's
# history (scripts/test.sh puts its sources in test/old/) into a private
# copy of this PostgreSQL installation, where a server makes the extension
# at that version and fills tables of every kind: keys with rows that were
# there before registration, updates, tombstones with and without a row
# once, a row changed around the functions, ties under on_equal 'replace',
# soft deletes, a composite text key, a partitioned table, an append-only
# table, a staging trigger.  Then the server is stopped, the current build
# put in place, and the extension updated.  After the update:
#  - every table, the whole feed, the feed from a middle position and the
#    catalog read exactly as before (the catalog with the new columns at
#    their defaults);
#  - the key state has 0.2's shape (indexes without sequence or position;
#    on a plain table, key state rows only where the row cannot say the
#    key's state) and amcheck passes on every index;
#  - calls decide against what was kept (tombstones make late records
#    stale, positions go on above the old ones), purge works, staging works;
#  - consumers of the old tables receive the feed kept by the update.

use strict;
use warnings;

use File::Copy;
use File::Path qw(make_path);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $testdir = $ENV{TESTDIR} || '.';
open my $rel, '<', "$testdir/test/releases" or die "test/releases: $!";
my @releases = map { (split ' ')[0] } grep { /\S/ } <$rel>;
close $rel;
ok(@releases >= 1, 'at least one released version to update from');

# a private copy of the installation that pg_config names, laid out as it is
my $root = PostgreSQL::Test::Utils::tempdir('install');
my %dir;
for my $d ('bindir', 'sharedir', 'pkglibdir', 'libdir', 'pgxs')
{
	$dir{$d} = `pg_config --$d`;
	chomp $dir{$d};
}
my $home = $dir{bindir};
$home =~ s{/bin$}{};
for my $d ($home, $dir{sharedir})
{
	make_path("$root$d");
	system('cp', '-a', "$d/.", "$root$d/") == 0 or die "cannot copy $d";
}
my $lib = "$root$dir{pkglibdir}/pg_sequenced.so";
my $current = PostgreSQL::Test::Utils::tempdir('current') . '/pg_sequenced.so';
copy($lib, $current) or die "cannot keep the current build: $!";

# Build a released version from its sources; returns the path of its library.
sub build_release
{
	my ($version) = @_;
	my $tar = "$testdir/test/old/pg_sequenced-$version.tar";
	ok(-f $tar, "the sources of $version are there ($tar)") or return undef;
	my $src = PostgreSQL::Test::Utils::tempdir("src-$version");
	system('tar', '-C', $src, '-xf', $tar) == 0 or die "cannot unpack $tar";
	my ($stdout, $stderr);
	my $ok = IPC::Run::run([ 'make', '-C', $src, '-s', 'PG_CONFIG=pg_config' ],
		'>', \$stdout, '2>', \$stderr);
	ok($ok, "release $version builds") or diag($stderr);
	return "$src/pg_sequenced.so";
}

# Everything that must read the same before and after the update.
sub snapshot
{
	my ($node) = @_;
	my %s;
	# (key 7 of up_t, whose row was changed around the functions, is looked
	# at on its own below: its feed's seq is 0.1's key state's, 0.2's the
	# row's, as SPEC section 6 says)
	my $seq = "CASE WHEN key = '{\"id\": 7}' THEN NULL ELSE seq END";
	for my $t ('up_t', 'up_rep', 'up_soft', 'up_comp', 'up_part', 'up_app')
	{
		$s{"$t rows"} = $node->safe_psql('postgres',
			"SELECT string_agg(x::text, ';' ORDER BY x::text) FROM $t x");
		$s{"$t feed"} = $node->safe_psql('postgres',
			"SELECT string_agg(concat_ws('|', pos, $seq, key, deleted, record), ';' ORDER BY pos) "
			  . "FROM sequenced_changes('$t')");
		$s{"$t feed from the middle"} = $node->safe_psql('postgres',
			"SELECT string_agg(concat_ws('|', pos, $seq, key, deleted, record), ';' ORDER BY pos) "
			  . "FROM sequenced_changes('$t', (SELECT pos FROM sequenced_changes('$t') ORDER BY pos "
			  . "OFFSET (SELECT count(*) / 2 FROM sequenced_changes('$t')) LIMIT 1))");
		$s{"$t max_sequence"} = $node->safe_psql('postgres', "SELECT sequenced_max_sequence('$t')");
	}
	$s{catalog} = $node->safe_psql('postgres',
		"SELECT string_agg(concat_ws('|', relid, key_columns, sequence_column, on_equal, deletes, "
		  . "ordering, max_sequence), ';' ORDER BY relid::text) FROM sequenced_tables");
	return \%s;
}

for my $version (@releases)
{
	my $old = build_release($version) or next;
	copy($old, $lib) or die "cannot install release $version: $!";

	my $node = PostgreSQL::Test::Cluster->new("from_$version", install_path => "$root$home");
	$node->init;
	$node->start;
	$node->safe_psql('postgres', qq{
CREATE EXTENSION amcheck;
CREATE EXTENSION pg_sequenced VERSION '$version';

-- rows before registration (no sequence: older than any message), then
-- new keys, updates, deletes (of rows, and of a key never seen)
CREATE TABLE up_t (id int PRIMARY KEY, v text);
INSERT INTO up_t SELECT g, 'before' FROM generate_series(1, 5) g;
SELECT sequenced_register('up_t');
SELECT count(*) FROM sequenced_upsert('up_t',
  (SELECT jsonb_agg(jsonb_build_object('id', g, 'v', 'ten')) FROM generate_series(6, 200) g), 10);
SELECT count(*) FROM sequenced_upsert('up_t',
  (SELECT jsonb_agg(jsonb_build_object('id', g, 'v', 'twenty')) FROM generate_series(1, 50) g), 20);
SELECT count(*) FROM sequenced_delete('up_t',
  (SELECT jsonb_agg(jsonb_build_object('id', g)) FROM generate_series(100, 120) g), 30);
SELECT count(*) FROM sequenced_delete('up_t', '{"id": 9999}', 30);
-- a row changed around the functions
UPDATE up_t SET v = 'outside', _sdc_sequence = 99 WHERE id = 7;

-- ties under 'replace': the second change at one sequence has its own position
CREATE TABLE up_rep (id int PRIMARY KEY, v text);
SELECT sequenced_register('up_rep', on_equal => 'replace');
SELECT count(*) FROM sequenced_upsert('up_rep', '[{"id": 1, "v": "a"}, {"id": 2, "v": "a"}]', 5);
SELECT count(*) FROM sequenced_upsert('up_rep', '{"id": 1, "v": "b"}', 5);

CREATE TABLE up_soft (id int PRIMARY KEY, v text);
SELECT sequenced_register('up_soft', deletes => 'soft');
SELECT count(*) FROM sequenced_upsert('up_soft',
  (SELECT jsonb_agg(jsonb_build_object('id', g, 'v', 'x')) FROM generate_series(1, 20) g), 1);
SELECT count(*) FROM sequenced_delete('up_soft', '[{"id": 3}, {"id": 4}, {"id": 77}]', 2);

CREATE TABLE up_comp (a text COLLATE "C", b int, v text, PRIMARY KEY (a, b));
SELECT sequenced_register('up_comp');
SELECT count(*) FROM sequenced_upsert('up_comp',
  (SELECT jsonb_agg(jsonb_build_object('a', 'k' || (g % 7), 'b', g, 'v', 'x')) FROM generate_series(1, 60) g), 3);
SELECT count(*) FROM sequenced_delete('up_comp', '[{"a": "k1", "b": 1}, {"a": "zz", "b": 0}]', 4);

CREATE TABLE up_part (region text, id int, v text, PRIMARY KEY (region, id)) PARTITION BY LIST (region);
CREATE TABLE up_part_eu PARTITION OF up_part FOR VALUES IN ('eu');
CREATE TABLE up_part_us PARTITION OF up_part FOR VALUES IN ('us');
SELECT sequenced_register('up_part');
SELECT count(*) FROM sequenced_upsert('up_part',
  (SELECT jsonb_agg(jsonb_build_object('region', CASE WHEN g % 2 = 0 THEN 'eu' ELSE 'us' END, 'id', g, 'v', 'x'))
     FROM generate_series(1, 40) g), 1);
SELECT count(*) FROM sequenced_delete('up_part', '[{"region": "eu", "id": 2}]', 2);

CREATE TABLE up_app (v text);
SELECT sequenced_register('up_app', key_columns => '{}');
SELECT count(*) FROM sequenced_upsert('up_app', '[{"v": "a"}, {"v": "b"}]', 1);

CREATE TABLE up_inbox (id int, v text, _sdc_sequence bigint);
CREATE TRIGGER apply AFTER INSERT ON up_inbox REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION sequenced_apply_staging('up_t');
INSERT INTO up_inbox VALUES (201, 'staged', 11);
});
	my $before = snapshot($node);
	my $key7 = q{SELECT seq || '/' || (record->>'_sdc_sequence') FROM sequenced_changes('up_t') WHERE key = '{"id": 7}'};
	is($node->safe_psql('postgres', $key7), '20/99',
		"$version: a row changed around the functions: the feed's seq is the key state's");
	like($before->{'up_t feed'}, qr/\|30\|\{"id": 9999\}\|t/, "$version: a tombstone without a row is in the feed");

	# the current build, and the update
	$node->stop;
	copy($current, $lib) or die "cannot install the current build: $!";
	$node->start;
	$node->safe_psql('postgres', 'ALTER EXTENSION pg_sequenced UPDATE');
	is($node->safe_psql('postgres', q{SELECT extversion FROM pg_extension WHERE extname = 'pg_sequenced'}),
		'0.2', "$version: updated to 0.2");

	my $after = snapshot($node);
	is($node->safe_psql('postgres', $key7), '99/99',
		"$version -> 0.2: ... and now the row's (SPEC section 6: the feed's seq is the row version's)");
	for my $k (sort keys %$before)
	{
		is($after->{$k}, $before->{$k}, "$version -> 0.2: $k as before");
	}
	is( $node->safe_psql('postgres',
			q{SELECT string_agg(DISTINCT unchanged || '/' || history, ',') FROM sequenced_tables}),
		'write/false', "$version -> 0.2: every table keeps the defaults of the new options");
	is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_proc WHERE proname = 'upgrade_state'}),
		'0', "$version -> 0.2: the update's helper is gone");

	# 0.2's shape: a change log for every keyed table, key state indexes
	# without sequence or position, key state rows on a plain table only
	# for tombstones and the row changed around the functions
	is( $node->safe_psql('postgres', q{
			SELECT count(*) FILTER (WHERE log_rel IS NULL) FROM _sequenced.config
			 WHERE cardinality(key_columns) > 0}),
		'0', "$version -> 0.2: every keyed table has a change log");
	is( $node->safe_psql('postgres', q{
			SELECT string_agg(c.relid::text || ':' || (SELECT count(*) FROM pg_index i
			                                            WHERE i.indrelid = c.state_rel
			                                              AND (i.indnatts <> i.indnkeyatts OR NOT i.indisunique)),
			                  ',' ORDER BY c.relid::text)
			  FROM _sequenced.config c WHERE cardinality(c.key_columns) > 0}),
		'up_comp:0,up_part:0,up_rep:0,up_soft:0,up_t:0',
		"$version -> 0.2: key state indexes hold the key only");
	my $state = $node->safe_psql('postgres', q{SELECT state_rel FROM _sequenced.config WHERE relid = 'up_t'::regclass});
	is( $node->safe_psql('postgres', "SELECT count(*), count(*) FILTER (WHERE deleted) FROM $state"),
		'23|22', "$version -> 0.2: up_t keeps key state rows for its 22 tombstones and the row changed around it");
	is( $node->safe_psql('postgres', q{
			SELECT count(*) FROM _sequenced.config c, LATERAL (SELECT 1) x
			 WHERE c.relid = 'up_part'::regclass}),
		'1', "$version -> 0.2: the partitioned table is registered");
	my $pstate = $node->safe_psql('postgres', q{SELECT state_rel FROM _sequenced.config WHERE relid = 'up_part'::regclass});
	is($node->safe_psql('postgres', "SELECT count(*) FROM $pstate"),
		'40', "$version -> 0.2: the partitioned table keeps a key state row per key");
	my ($ret, $out, $err) = $node->psql('postgres', q{
SELECT count(bt_index_check(c.oid, true))
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
 WHERE c.relam = (SELECT oid FROM pg_am WHERE amname = 'btree')
   AND c.relkind = 'i'
   AND i.indrelid IN (SELECT oid FROM pg_class WHERE relnamespace = '_sequenced'::regnamespace
                      OR relname LIKE 'up\_%')});
	is($ret, 0, "$version -> 0.2: amcheck passes on every index") or diag($err);

	# calls decide against what was kept
	my $last = $node->safe_psql('postgres', q{SELECT max(pos) FROM sequenced_changes('up_t')});
	is( $node->safe_psql('postgres', q{
			SELECT string_agg(key::text || ':' || outcome, ',' ORDER BY ord) FROM sequenced_upsert('up_t', '[
			  {"sequence": 25, "data": {"id": 100, "v": "late"}},
			  {"sequence": 40, "data": {"id": 101, "v": "new"}},
			  {"sequence": 50, "data": {"id": 7, "v": "late"}},
			  {"sequence": 5, "data": {"id": 1, "v": "late"}},
			  {"sequence": 21, "data": {"id": 2, "v": "newer"}},
			  {"sequence": 1, "data": {"id": 9999, "v": "late"}}]')}),
		'{"id": 100}:stale,{"id": 101}:inserted,{"id": 7}:stale,{"id": 1}:stale,{"id": 2}:updated,{"id": 9999}:stale',
		"$version -> 0.2: tombstones, rows and positions kept decide the next call");
	is( $node->safe_psql('postgres',
			"SELECT string_agg(key::text || ':' || seq, ',' ORDER BY pos) FROM sequenced_changes('up_t', $last)"),
		'{"id": 2}:21,{"id": 101}:40',
		"$version -> 0.2: the feed goes on above the old positions, each key once");
	is( $node->safe_psql('postgres', q{
			SELECT string_agg(outcome, ',' ORDER BY ord) FROM sequenced_upsert('up_rep', '{"id": 1, "v": "c"}', 5)}),
		'updated', "$version -> 0.2: a tie under 'replace' still replaces");
	is( $node->safe_psql('postgres', q{SELECT count(*) FROM sequenced_changes('up_rep') WHERE key = '{"id": 1}'}),
		'1', "$version -> 0.2: ... and the key is in the feed once");
	is( $node->safe_psql('postgres', q{
			SELECT string_agg(key::text || ':' || outcome, ',' ORDER BY ord)
			  FROM sequenced_upsert('up_part', '[{"region": "eu", "id": 2, "v": "late"}, {"region": "eu", "id": 4, "v": "new"}]', 1)}),
		'{"id": 2, "region": "eu"}:stale,{"id": 4, "region": "eu"}:stale',
		"$version -> 0.2: the partitioned table's tombstone and rows decide too");
	is($node->safe_psql('postgres', q{SELECT sequenced_purge_tombstones('up_t', 35)}),
		'21', "$version -> 0.2: purge drops the old tombstones (101 came back)");
	is( $node->safe_psql('postgres', q{
			INSERT INTO up_inbox VALUES (100, 'staged', 31), (202, 'staged', 31);
			SELECT string_agg(id || ':' || v, ',' ORDER BY id) FROM up_t WHERE id IN (100, 202)}),
		'100:staged,202:staged', "$version -> 0.2: the staging trigger applies");
	is( $node->safe_psql('postgres', q{
			SELECT count(*) FROM sequenced_upsert('up_app', '{"v": "c"}', 2);
			SELECT count(*) FROM sequenced_changes('up_app')}),
		"1\n3", "$version -> 0.2: the append-only table goes on");

	# consumers (new in 0.2) of a table the old version filled: one from the
	# beginning gets the whole feed, positions and tombstones of before the
	# update included; one from the end gets only what comes after
	is( $node->safe_psql('postgres', q{
			SELECT sequenced_consumer_create('up_all', 'up_t');
			SELECT sequenced_consumer_create('up_end', 'up_t', start => 'end');
			CREATE TABLE up_got AS SELECT * FROM sequenced_receive('up_all', 1000);
			SELECT count(*) > 20 FROM up_got;
			SELECT (SELECT string_agg(key::text || ':' || seq || ':' || deleted, ',' ORDER BY pos) FROM up_got)
			     = (SELECT string_agg(key::text || ':' || seq || ':' || deleted, ',' ORDER BY pos)
			          FROM sequenced_changes('up_t'))}),
		"\n\nt\nt", "$version -> 0.2: a consumer from the beginning receives the feed kept by the update");
	is( $node->safe_psql('postgres', q{
			SELECT count(*) FROM sequenced_upsert('up_t', '{"id": 102, "v": "after"}', 60);
			SELECT string_agg(key::text || ':' || deliveries, ',') FROM sequenced_receive('up_end');
			SELECT sequenced_ack('up_all', (SELECT array_agg(ack_id) FROM up_got)) = (SELECT count(*) FROM up_got);
			SELECT string_agg(consumer || ':' || pending || ':' || in_flight, ',' ORDER BY consumer)
			  FROM sequenced_consumers}),
		"1\n{\"id\": 102}:1\nt\nup_all:1:0,up_end:1:1",
		"$version -> 0.2: a consumer from the end receives what comes after; acknowledging works");
	$node->stop;
}

done_testing();
